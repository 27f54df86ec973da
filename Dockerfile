# The keyward image: the release binary alone, so building it pulls no base image.
# Build the binary first (make release), then: docker build -t keyward .
FROM scratch
COPY dist/keyward /keyward
# The embedded database lives in /data: mount a volume writable by this user there, or use
# --db postgres://… (KEYWARD_DB).
WORKDIR /data
USER 65534:65534
EXPOSE 8080
ENTRYPOINT ["/keyward"]
CMD ["serve", "--addr", "0.0.0.0:8080"]

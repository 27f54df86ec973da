# The two loops of CONTRIBUTING.md, and the release build of docs/deploy.md.

# The release's version: the nearest tag and the commits since, from git.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: check test release

# The fast loop: formatting, vet, staticcheck and the short tests.
check:
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	go vet ./...
	go tool staticcheck ./...
	go test -short ./...

# Every test, never cached: real processes, PostgreSQL, nginx, Chromium and the documents' commands.
test:
	go test -count=1 ./...

# A static binary with no debug paths, stamped with its version (keyward version prints it).
release:
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/keyward/keyward.Version=$(VERSION)" -o dist/keyward ./cmd/keyward

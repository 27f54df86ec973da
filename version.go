package keyward

// Version is the release version, set at build time with -ldflags "-X github.com/keyward/keyward.Version=…".
var Version = "dev"

// Package testbed runs the programs under load, keyward and the example API, through the project's process harness, and prepares what every scenario shares: the admin, the API keys and a verifier of the tokens.
package testbed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/keyward/keyward/internal/proctest"
)

// moduleRoot returns the folder of the go.mod that encloses the working directory.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("run the bench from inside the keyward module: go run ./bench")
	}
	return filepath.Dir(gomod), nil
}

// GoTest runs go test with args in the module root and returns its combined output.
func GoTest(ctx context.Context, args ...string) ([]byte, error) {
	root, err := moduleRoot(ctx)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, "go", append([]string{"test"}, args...)...)
	cmd.Dir = root
	return cmd.CombinedOutput()
}

// profileAddrEnv turns the profiling hook on; its value is the address the hook listens on.
const profileAddrEnv = "KEYWARD_BENCH_PROFILE_ADDR"

// profileHookMsg is the message of the hook's log line that carries its bound address.
const profileHookMsg = "bench profile hook"

// profileHook is compiled into keyward by the -profile build only, as an extra file of
// cmd/keyward handed to go build, so the repository's server never carries a profiling endpoint.
// It serves one route on its own listener and mux (never http.DefaultServeMux): a CPU profile of
// the requested length.
const profileHook = `package main

import (
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"strconv"
	"time"
)

func init() {
	addr := os.Getenv("` + profileAddrEnv + `")
	if addr == "" {
		return
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		panic("bench profile hook: " + err.Error())
	}
	slog.New(slog.NewTextHandler(os.Stderr, nil)).Info("` + profileHookMsg + `", "addr", ln.Addr().String())
	mux := http.NewServeMux()
	mux.HandleFunc("GET /cpu", func(w http.ResponseWriter, r *http.Request) {
		sec, err := strconv.Atoi(r.URL.Query().Get("seconds"))
		if err != nil || sec < 1 || sec > 600 {
			http.Error(w, "seconds must be 1 to 600", http.StatusBadRequest)
			return
		}
		if err := pprof.StartCPUProfile(w); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		time.Sleep(time.Duration(sec) * time.Second)
		pprof.StopCPUProfile()
	})
	go http.Serve(ln, mux)
}
`

// BuildKeyward compiles cmd/keyward, with the profiling hook when withProfile is set, and
// returns the binary's path; proctest.Clean removes it.
func BuildKeyward(withProfile bool) (string, error) {
	var extra map[string]string
	if withProfile {
		extra = map[string]string{"zz_bench_profile_hook.go": profileHook}
	}
	return proctest.BuildWith("./cmd/keyward", extra)
}

// BuildExampleAPI compiles examples/containers-api, the resource server the middleware scenario
// measures.
func BuildExampleAPI() (string, error) { return proctest.Build("./examples/containers-api") }

// SourceRevision names the code under test: the commit, and whether the work tree differs from
// it. It is empty outside a git checkout.
func SourceRevision(ctx context.Context) string {
	root, err := moduleRoot(ctx)
	if err != nil {
		return ""
	}
	rev, err := exec.CommandContext(ctx, "git", "-C", root, "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return ""
	}
	s := strings.TrimSpace(string(rev))
	if st, err := exec.CommandContext(ctx, "git", "-C", root, "status", "--porcelain").Output(); err == nil && len(bytes.TrimSpace(st)) > 0 {
		s += " with uncommitted changes"
	}
	return s
}

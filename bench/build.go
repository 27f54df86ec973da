package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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

// profileHook is compiled into keyward by the -profile build only, through `go build -overlay`, so
// the repository's server never carries a profiling endpoint. It serves one route on its own
// listener and mux (never http.DefaultServeMux): a CPU profile of the requested length.
const profileHook = `package main

import (
	"net/http"
	"os"
	"runtime/pprof"
	"strconv"
)

func init() {
	addr := os.Getenv("KEYWARD_BENCH_PROFILE_ADDR")
	if addr == "" {
		return
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		panic("bench profile hook: " + err.Error())
	}
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

// buildKeyward compiles cmd/keyward into dir and returns the binary's path.
func buildKeyward(ctx context.Context, dir string, withProfile bool, stderr io.Writer) (string, error) {
	root, err := moduleRoot(ctx)
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "keyward")
	args := []string{"build", "-o", bin}
	if withProfile {
		hook := filepath.Join(dir, "profile_hook.go")
		if err := os.WriteFile(hook, []byte(profileHook), 0o600); err != nil {
			return "", err
		}
		overlay := filepath.Join(dir, "overlay.json")
		target := filepath.Join(root, "cmd", "keyward", "zz_bench_profile_hook.go")
		js := fmt.Sprintf(`{"Replace":{%q:%q}}`, target, hook)
		if err := os.WriteFile(overlay, []byte(js), 0o600); err != nil {
			return "", err
		}
		args = append(args, "-overlay", overlay)
	}
	args = append(args, "./cmd/keyward")
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/keyward: %w", err)
	}
	return bin, nil
}

// sourceRevision names the code under test: the commit, and whether the work tree differs from
// it. It is empty outside a git checkout.
func sourceRevision(ctx context.Context) string {
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

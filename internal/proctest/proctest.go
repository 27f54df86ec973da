// Package proctest builds keyward's commands and runs them as child processes for the tests and the bench that need a real process.
package proctest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/keyward/keyward/internal/testlog"
)

var (
	buildMu  sync.Mutex
	buildDir string
	built    = map[string]string{} // package → executable
)

// Build compiles the main package pkg (an import path, or a path relative to the module root
// such as "./cmd/keyward") once per process and returns the executable's path. Clean removes
// what it built.
func Build(pkg string) (string, error) { return BuildWith(pkg, nil) }

// BuildWith is Build with extra source files compiled into pkg: extra maps a file name in the
// package's folder to its content, handed to go build through -overlay, so that code meant for
// one measurement (a profiling hook) never lands in the repository. Each distinct set of files
// is built once per process.
func BuildWith(pkg string, extra map[string]string) (string, error) {
	buildMu.Lock()
	defer buildMu.Unlock()
	key := pkg
	names := slices.Sorted(maps.Keys(extra))
	for _, name := range names {
		key += "\x00" + name + "\x00" + extra[name]
	}
	if bin, ok := built[key]; ok {
		return bin, nil
	}
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside the keyward module")
	}
	if buildDir == "" {
		if buildDir, err = os.MkdirTemp("", "keyward-proctest-"); err != nil {
			return "", err
		}
	}
	n := len(built)
	bin := filepath.Join(buildDir, fmt.Sprintf("bin%d-%s", n, filepath.Base(pkg)))
	root := filepath.Dir(gomod)
	args := []string{"build", "-o", bin}
	if len(extra) > 0 {
		if !strings.HasPrefix(pkg, "./") {
			return "", fmt.Errorf("build %s with extra files: name the package by its folder, ./…", pkg)
		}
		overlay, err := writeOverlay(filepath.Join(buildDir, fmt.Sprintf("overlay%d", n)), filepath.Join(root, pkg), names, extra)
		if err != nil {
			return "", err
		}
		args = append(args, "-overlay", overlay)
	}
	cmd := exec.Command("go", append(args, pkg)...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, out)
	}
	built[key] = bin
	return bin, nil
}

// writeOverlay writes each extra file into dir and the -overlay document that places it in the
// package folder pkgDir, and returns the document's path.
func writeOverlay(dir, pkgDir string, names []string, extra map[string]string) (string, error) {
	if err := os.Mkdir(dir, 0o700); err != nil {
		return "", err
	}
	replace := map[string]string{}
	for i, name := range names {
		if filepath.Base(name) != name {
			return "", fmt.Errorf("extra file %q: a name in the package folder, not a path", name)
		}
		src := filepath.Join(dir, fmt.Sprintf("%d.go", i))
		if err := os.WriteFile(src, []byte(extra[name]), 0o600); err != nil {
			return "", err
		}
		replace[filepath.Join(pkgDir, name)] = src
	}
	doc, err := json.Marshal(map[string]any{"Replace": replace})
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "overlay.json")
	return path, os.WriteFile(path, doc, 0o600)
}

// Clean deletes everything Build made; call it from TestMain after the tests ran.
func Clean() {
	buildMu.Lock()
	defer buildMu.Unlock()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	buildDir, built = "", map[string]string{}
}

// Spec describes one child process: a server that binds its own port and logs it.
type Spec struct {
	Name string   // in failure messages: "keyward", "A"
	Bin  string   // the executable
	Args []string // before --addr
	Env  []string // added to this process's environment, stripped of KEYWARD_* variables
	// Addr is passed as --addr; empty means 127.0.0.1:0, a port the child binds itself, so
	// that no other program can take it between a pick and a bind.
	Addr string
	// Ready is the message of the log line whose addr attribute is the bound address, and
	// Health the path polled until it answers 200 once that address is known.
	Ready, Health string
	// Stdin, when set, is the child's standard input: a way to hand it a secret that must not
	// show on its command line.
	Stdin io.Reader
}

// ServeSpec is the Spec of `keyward serve` with args.
func ServeSpec(bin string, args ...string) Spec {
	return Spec{Name: "keyward", Bin: bin, Args: append([]string{"serve"}, args...), Ready: "keyward serving", Health: "/readyz"}
}

// Process is a running child with its output collected.
type Process struct {
	Spec Spec

	cmd            *exec.Cmd
	stdout, stderr *testlog.Buffer
	all            *testlog.Buffer
	exited         chan struct{}
	waitErr        error
	stopOnce       sync.Once

	mu   sync.Mutex
	addr string
}

// Run starts the process described by s without waiting for it to be ready. The caller must
// Stop or Kill it.
func Run(s Spec) (*Process, error) {
	if s.Addr == "" {
		s.Addr = "127.0.0.1:0"
	}
	p := &Process{Spec: s, stdout: &testlog.Buffer{}, stderr: &testlog.Buffer{}, all: &testlog.Buffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(s.Bin, append(append([]string(nil), s.Args...), "--addr", s.Addr)...)
	p.cmd.Env = append(Environ(), s.Env...)
	p.cmd.Stdout = io.MultiWriter(p.stdout, p.all)
	p.cmd.Stderr = io.MultiWriter(p.stderr, p.all)
	p.cmd.Stdin = s.Stdin
	p.cmd.SysProcAttr = childAttr()
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", s.Name, err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// Environ is this process's environment without KEYWARD_* variables: keyward reads every flag
// from KEYWARD_<FLAG>, and one left in a developer's shell must not change a test.
func Environ() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KEYWARD_") {
			env = append(env, kv)
		}
	}
	return env
}

// WaitReady waits until the process has logged its address and its health path answers 200,
// it exits, or limit passes.
func (p *Process) WaitReady(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	c := &http.Client{Timeout: 2 * time.Second}
	for {
		if addr := p.Addr(); addr != "" {
			if p.Spec.Health == "" {
				return nil
			}
			if resp, err := c.Get("http://" + addr + p.Spec.Health); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return nil
				}
			}
		}
		select {
		case <-p.exited:
			return fmt.Errorf("%s exited before it was ready: %v", p.Spec.Name, p.waitErr)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s", p.Spec.Name, limit)
		}
	}
}

// Addr returns the address the process reported binding, or "" before it did.
func (p *Process) Addr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.addr == "" && p.Spec.Ready != "" {
		p.addr = boundAddr(p.all.String(), p.Spec.Ready)
	}
	return p.addr
}

// LoggedAddr returns the addr attribute of the first log line whose message is msg, or "" before
// the process logged one: the address of a second listener, such as a debugging hook's.
func (p *Process) LoggedAddr(msg string) string { return boundAddr(p.all.String(), msg) }

// Pid is the process id, for reading the child's CPU time and memory.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// boundAddr finds the addr attribute of the first log line whose message is msg, in slog's
// text or JSON format.
func boundAddr(logs, msg string) string {
	for _, line := range strings.Split(logs, "\n") {
		if strings.HasPrefix(line, "{") {
			var rec struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == msg {
				return rec.Addr
			}
			continue
		}
		if !strings.Contains(line, "msg="+strconv.Quote(msg)) && !strings.Contains(line, "msg="+msg+" ") {
			continue
		}
		for _, field := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(field, "addr="); ok {
				if u, err := strconv.Unquote(v); err == nil {
					v = u
				}
				return v
			}
		}
	}
	return ""
}

// Exited is closed when the process has ended.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// ExitError is the process's exit status; valid once Exited is closed.
func (p *Process) ExitError() error { return p.waitErr }

// Signal sends sig to the process.
func (p *Process) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Kill ends the process at once, as a crash or a lost machine would, and waits for it.
func (p *Process) Kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// Stop asks the process to shut down gracefully (SIGTERM), kills it if it lingers 20 s, and
// waits for it. Calling it again does nothing.
func (p *Process) Stop() {
	p.stopOnce.Do(func() {
		select {
		case <-p.exited:
			return
		default:
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(20 * time.Second):
			p.Kill()
		}
	})
}

// ExitCode waits up to limit for the process to end and returns its exit code, -1 when a signal
// ended it.
func (p *Process) ExitCode(limit time.Duration) (int, error) {
	select {
	case <-p.exited:
	case <-time.After(limit):
		return 0, fmt.Errorf("%s still runs after %s", p.Spec.Name, limit)
	}
	var exit *exec.ExitError
	switch {
	case p.waitErr == nil:
		return 0, nil
	case errors.As(p.waitErr, &exit):
		return exit.ExitCode(), nil
	}
	return 0, p.waitErr
}

// Logs returns everything the process wrote to standard output and error so far, interleaved.
func (p *Process) Logs() string { return strings.TrimSpace(p.all.String()) }

// Stdout returns what the process wrote to standard output so far.
func (p *Process) Stdout() string { return p.stdout.String() }

// Stderr returns what the process wrote to standard error so far.
func (p *Process) Stderr() string { return p.stderr.String() }

// Restart stops the process if it still runs and runs its spec again on the address it had
// bound: the same address, so the same default issuer, and clients reconnect where they were.
func (p *Process) Restart() (*Process, error) {
	p.Stop()
	s := p.Spec
	if a := p.Addr(); a != "" {
		s.Addr = a
	}
	return Run(s)
}

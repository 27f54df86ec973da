package clustertest

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/kwtest"
)

// The instance admin of every cluster; the password is long enough for any password rule.
const (
	AdminEmail    = kwtest.AdminEmail
	AdminPassword = kwtest.AdminPassword
)

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// Binary builds ./cmd/keyward once per test process and returns the path of the executable.
// RemoveBinary deletes it; call it from TestMain after the tests ran.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		builtBin, buildErr = build()
	})
	if buildErr != nil {
		t.Fatalf("build keyward: %v", buildErr)
	}
	return builtBin
}

// RemoveBinary deletes what Binary built, if anything.
func RemoveBinary() {
	if builtBin != "" {
		os.RemoveAll(filepath.Dir(builtBin))
	}
}

func build() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	dir, err := os.MkdirTemp("", "keyward-cluster-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "keyward")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/keyward")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/keyward: %w\n%s", err, out)
	}
	return bin, nil
}

// NewMasterKey returns a random KEYWARD_MASTER_KEY.
func NewMasterKey() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// Options describe one `keyward serve` process.
type Options struct {
	Name      string // for logs and failure messages: "A", "B"
	DB        string // postgres://…
	Issuer    string // shared by every instance of a cluster
	MasterKey string // shared by every instance of a cluster
	Args      []string
}

// Instance is a running `keyward serve` process; its Client talks to it over loopback.
type Instance struct {
	*kwtest.Client
	Name string
	Addr string

	cmd     *exec.Cmd
	logPath string
	exited  chan struct{}
	waitErr error
}

// Launch starts an instance without waiting for it to be ready; Start waits. The process is
// killed when the test ends, and its log is shown if the test failed.
func Launch(t testing.TB, o Options) *Instance {
	t.Helper()
	addr := freeAddr(t)
	in := &Instance{Name: o.Name, Addr: addr, Client: kwtest.NewClient("http://" + addr), exited: make(chan struct{})}
	in.logPath = filepath.Join(t.TempDir(), "keyward-"+o.Name+".log")
	logFile, err := os.Create(in.logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	args := append([]string{"serve", "--addr", addr, "--db", o.DB, "--issuer", o.Issuer,
		// The tests send many bad refresh tokens from loopback on purpose.
		"--failed-attempts-per-minute", "100000"}, o.Args...)
	in.cmd = exec.Command(Binary(t), args...)
	in.cmd.Env = append(environWithoutKeyward(),
		"KEYWARD_MASTER_KEY="+o.MasterKey,
		"KEYWARD_ADMIN_EMAIL="+AdminEmail,
		"KEYWARD_ADMIN_PASSWORD="+AdminPassword)
	in.cmd.Stdout, in.cmd.Stderr = logFile, logFile
	in.cmd.SysProcAttr = childAttr()
	if err := in.cmd.Start(); err != nil {
		t.Fatalf("start keyward %s: %v", o.Name, err)
	}
	go func() {
		in.waitErr = in.cmd.Wait()
		close(in.exited)
	}()
	t.Cleanup(func() {
		in.Stop()
		if t.Failed() {
			t.Logf("log of keyward %s:\n%s", in.Name, in.Logs())
		}
	})
	return in
}

// Start launches an instance and waits until /readyz answers 200.
func Start(t testing.TB, o Options) *Instance {
	t.Helper()
	in := Launch(t, o)
	if err := in.WaitReady(time.Minute); err != nil {
		t.Fatalf("keyward %s: %v\n%s", o.Name, err, in.Logs())
	}
	return in
}

// WaitReady polls /readyz until it answers 200, the process exits, or limit passes.
func (in *Instance) WaitReady(limit time.Duration) error {
	c := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(limit)
	for {
		if resp, err := c.Get(in.URL + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-in.exited:
			return fmt.Errorf("exited before it was ready: %v", in.waitErr)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %s", limit)
		}
	}
}

// Exited is closed when the process has ended.
func (in *Instance) Exited() <-chan struct{} { return in.exited }

// ExitError is the process's exit status; valid once Exited is closed.
func (in *Instance) ExitError() error { return in.waitErr }

// Kill ends the process at once, as a crash or a lost machine would, and waits for it.
func (in *Instance) Kill() {
	_ = in.cmd.Process.Signal(syscall.SIGKILL)
	<-in.exited
}

// Stop asks the process to shut down gracefully, killing it if it lingers, and waits for it.
func (in *Instance) Stop() {
	select {
	case <-in.exited:
		return
	default:
	}
	_ = in.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-in.exited:
	case <-time.After(20 * time.Second):
		in.Kill()
	}
}

// Logs returns everything the process wrote so far.
func (in *Instance) Logs() string {
	data, err := os.ReadFile(in.logPath)
	if err != nil {
		return err.Error()
	}
	return string(bytes.TrimSpace(data))
}

// freeAddr returns a loopback address whose port was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// environWithoutKeyward is the test's environment without KEYWARD_* variables: keyward reads
// every flag from KEYWARD_<FLAG>, and one left in a developer's shell must not change the test.
func environWithoutKeyward() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KEYWARD_") {
			env = append(env, kv)
		}
	}
	return env
}

// Package nodetest lets tests run the Node programs keyward is checked against (an OpenID
// provider, a DPoP client, a webhook receiver): it skips a test where Node or a program's modules
// are missing, and fails it instead in CI, where every such test must run.
package nodetest

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/testlog"
)

// Available tells why the program in dir cannot run here, or "" when it can: Node on PATH and
// module installed in dir's node_modules.
func Available(dir, module string) string {
	if _, err := exec.LookPath("node"); err != nil {
		return "node is not installed"
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", module, "package.json")); err != nil {
		return module + " is not installed (npm ci --prefix " + fromRoot(dir) + ")"
	}
	return ""
}

// Require skips t unless the program in dir can run (Available), or fails it when CI=true;
// tests names the tests that need it, for the message.
func Require(t testing.TB, dir, module, tests string) {
	t.Helper()
	why := Available(dir, module)
	switch {
	case why == "":
	case os.Getenv("CI") == "true":
		t.Fatalf("%s; %s must run in CI", why, tests)
	default:
		t.Skipf("%s: %s are skipped", why, tests)
	}
}

// fromRoot is dir relative to the module's root (the folder of go.mod), as the npm command
// that installs its modules is typed there.
func fromRoot(dir string) string {
	for root := dir; ; {
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
			if rel, err := filepath.Rel(root, dir); err == nil {
				return rel
			}
			return dir
		}
		parent := filepath.Dir(root)
		if parent == root {
			return dir
		}
		root = parent
	}
}

// Server is a Node program that serves HTTP for a test: it announces its address by printing
// "listening ADDRESS" on standard output, and exits when its standard input closes.
type Server struct {
	Addr string // what it announced

	cmd  *exec.Cmd
	done chan struct{}
	log  testlog.Buffer
}

// Serve runs script (in dir) with env added to the environment, until the test ends, and
// returns once it listens; what names it in messages. The program also ends when the test
// process dies without cleaning up, since its standard input then closes.
func Serve(t testing.TB, dir, script, what string, env ...string) *Server {
	t.Helper()
	s := &Server{done: make(chan struct{})}
	s.cmd = exec.Command("node", script)
	s.cmd.Dir = dir
	s.cmd.Env = append(os.Environ(), env...)
	stdin, err := s.cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s.cmd.Stderr = &s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start the %s: %v", what, err)
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		stdin.Close()
		select {
		case <-s.done:
		case <-time.After(5 * time.Second):
			s.Stop()
		}
		if t.Failed() {
			t.Logf("%s's log:\n%s", what, s.log.String())
		}
	})
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "listening "); ok {
				addr <- a
			}
		}
		close(addr)
	}()
	select {
	case a, ok := <-addr:
		if !ok {
			t.Fatalf("the %s exited before it served:\n%s", what, s.log.String())
		}
		s.Addr = a
	case <-time.After(30 * time.Second):
		t.Fatalf("the %s did not start within 30 s:\n%s", what, s.log.String())
	}
	return s
}

// Stop ends the program at once.
func (s *Server) Stop() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Kill()
	<-s.done
}

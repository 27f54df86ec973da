// Package smtptest runs a real SMTP server for tests: aiosmtpd (Debian's python3-aiosmtpd),
// which keeps every message it receives in a Maildir the test reads.
package smtptest

import (
	"net"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Sink is a running SMTP server that accepts any mail without authentication and offers no TLS.
type Sink struct {
	Addr string // host:port
	dir  string
	seen map[string]bool
}

// python finds an interpreter that has aiosmtpd: Debian's first, then whatever python3 is on PATH.
func python() string {
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		if exec.Command(p, "-c", "import aiosmtpd").Run() == nil {
			return p
		}
	}
	return ""
}

// Start runs a sink for the test and stops it at the end. Without aiosmtpd the test is skipped,
// except in CI (CI=true), where it must run.
func Start(t testing.TB) *Sink {
	t.Helper()
	py := python()
	if py == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("aiosmtpd is not installed (apt-get install python3-aiosmtpd); the mail tests must run in CI")
		}
		t.Skip("aiosmtpd is not installed (apt-get install python3-aiosmtpd to run the mail tests)")
	}
	// A port the kernel picked a moment ago: another process could take it between the close and
	// the sink's bind, which the wait below would then report.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	s := &Sink{Addr: addr, dir: filepath.Join(t.TempDir(), "maildir"), seen: map[string]bool{}}
	cmd := exec.Command(py, "-m", "aiosmtpd", "-n", "-l", addr, "-c", "aiosmtpd.handlers.Mailbox", s.dir)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start aiosmtpd: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("aiosmtpd does not listen on %s: %v\n%s", addr, err, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return s
}

// URL is the sink's address as keyward's --smtp-url, with from as the sender.
func (s *Sink) URL(from string) string { return "smtp://" + s.Addr + "?from=" + from }

// Count is how many messages the sink holds now, returned by Next or not. A message is there once
// its sender's SMTP exchange has ended, since aiosmtpd stores it before it accepts it.
func (s *Sink) Count(t testing.TB) int {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(s.dir, "new"))
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

// Next waits for a message it has not returned yet and returns it, parsed.
func (s *Sink) Next(t testing.TB) *mail.Message {
	t.Helper()
	dir := filepath.Join(s.dir, "new")
	deadline := time.Now().Add(10 * time.Second)
	for {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if s.seen[e.Name()] {
				continue
			}
			s.seen[e.Name()] = true
			f, err := os.Open(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { f.Close() })
			m, err := mail.ReadMessage(f)
			if err != nil {
				t.Fatalf("the sink holds a message that does not parse: %v", err)
			}
			return m
		}
		if time.Now().After(deadline) {
			t.Fatal("no mail reached the sink within 10 seconds")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

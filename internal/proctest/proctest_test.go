package proctest

import (
	"strings"
	"testing"
	"time"
)

// A server may log text or JSON (--log-json); either way the harness must find the port it bound.
func TestBoundAddr(t *testing.T) {
	for _, tc := range []struct{ logs, want string }{
		{"time=x level=INFO msg=\"keyward serving\" addr=127.0.0.1:40331 issuer=http://127.0.0.1:40331\n", "127.0.0.1:40331"},
		{`{"time":"x","level":"INFO","msg":"keyward serving","addr":"[::1]:8080","db":"sqlite"}` + "\n", "[::1]:8080"},
		{"time=x level=INFO msg=\"database unreachable; retrying\" addr=10.0.0.1:5432\n", ""},
		{"time=x level=INFO msg=\"keyward serving\" addr=\"127.0.0.1:9\"\n", "127.0.0.1:9"},
	} {
		if got := boundAddr(tc.logs, "keyward serving"); got != tc.want {
			t.Errorf("boundAddr(%q) = %q, want %q", tc.logs, got, tc.want)
		}
	}
}

// A build with an extra file runs that file's code, the plain build does not, and the child
// reads its standard input and reports the address it got there.
func TestBuildWithExtraFileAndStdin(t *testing.T) {
	const pkg = "./internal/proctest/testdata/greeter"
	hook := map[string]string{"zz_hook.go": "package main\n\nfunc init() { greeting = \"overlaid\" }\n"}
	for _, tc := range []struct {
		extra map[string]string
		want  string
	}{{nil, "greeting=plain"}, {hook, "greeting=overlaid"}} {
		bin, err := BuildWith(pkg, tc.extra)
		if err != nil {
			t.Fatal(err)
		}
		p, err := Run(Spec{Name: "greeter", Bin: bin, Stdin: strings.NewReader("127.0.0.1:7\n"), Ready: "ready"})
		if err != nil {
			t.Fatal(err)
		}
		err = p.WaitReady(time.Minute)
		p.Stop()
		if err != nil {
			t.Fatalf("%v\n%s", err, p.Logs())
		}
		if code, err := p.ExitCode(time.Minute); err != nil || code != 0 {
			t.Fatalf("exit %d, %v: SIGTERM must end the child gracefully", code, err)
		}
		if p.Addr() != "127.0.0.1:7" || p.LoggedAddr("ready") != "127.0.0.1:7" || p.Pid() <= 0 {
			t.Errorf("addr %q, logged addr %q, pid %d; want the address read from stdin", p.Addr(), p.LoggedAddr("ready"), p.Pid())
		}
		if !strings.Contains(p.Logs(), tc.want) {
			t.Errorf("logs %q lack %q", p.Logs(), tc.want)
		}
	}
	if _, err := BuildWith("github.com/keyward/keyward/cmd/keyward", hook); err == nil {
		t.Error("extra files for a package named by import path: accepted")
	}
}

package proctest

import (
	"testing"
	"time"
)

// Keyward returns a keyward binary built from ./cmd/keyward, once per test process.
func Keyward(t testing.TB) string {
	t.Helper()
	bin, err := Build("./cmd/keyward")
	if err != nil {
		t.Fatalf("build keyward: %v", err)
	}
	return bin
}

// Launch runs s without waiting for it to be ready. The process is stopped when the test ends,
// and its output is shown if the test failed.
func Launch(t testing.TB, s Spec) *Process {
	t.Helper()
	p, err := Run(s)
	if err != nil {
		t.Fatal(err)
	}
	cleanup(t, p)
	return p
}

// Start launches s and waits up to a minute until it is ready.
func Start(t testing.TB, s Spec) *Process {
	t.Helper()
	p := Launch(t, s)
	p.RequireReady(t)
	return p
}

// RequireReady waits up to a minute until the process is ready, failing the test otherwise.
func (p *Process) RequireReady(t testing.TB) {
	t.Helper()
	if err := p.WaitReady(time.Minute); err != nil {
		t.Fatalf("%v\n%s", err, p.Logs())
	}
}

// RestartT is Restart for a test: it waits until the new process is ready, and stops it when
// the test ends.
func (p *Process) RestartT(t testing.TB) *Process {
	t.Helper()
	q, err := p.Restart()
	if err != nil {
		t.Fatal(err)
	}
	cleanup(t, q)
	q.RequireReady(t)
	return q
}

func cleanup(t testing.TB, p *Process) {
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("output of %s:\n%s", p.Spec.Name, p.Logs())
		}
	})
}

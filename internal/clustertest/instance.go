package clustertest

import (
	"testing"
	"time"

	"github.com/keyward/keyward/internal/kwtest"
	"github.com/keyward/keyward/internal/proctest"
)

// The instance admin of every cluster; the password is long enough for any password rule.
const (
	AdminEmail    = kwtest.AdminEmail
	AdminPassword = kwtest.AdminPassword
)

// Binary returns the keyward executable the instances run, built once per test process;
// call proctest.Clean from TestMain after the tests ran.
func Binary(t testing.TB) string { return proctest.Keyward(t) }

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
	*proctest.Process
	Name string
	Addr string // known once the instance is ready
}

// Launch starts an instance without waiting for it to be ready; Start waits. The process is
// stopped when the test ends, and its log is shown if the test failed.
func Launch(t testing.TB, o Options) *Instance {
	t.Helper()
	s := proctest.ServeSpec(Binary(t), append([]string{"--db", o.DB, "--issuer", o.Issuer,
		// The tests send many bad refresh tokens from loopback on purpose.
		"--failed-attempts-per-minute", "100000"}, o.Args...)...)
	s.Name = "keyward " + o.Name
	s.Env = []string{"KEYWARD_MASTER_KEY=" + o.MasterKey, "KEYWARD_ADMIN_EMAIL=" + AdminEmail, "KEYWARD_ADMIN_PASSWORD=" + AdminPassword}
	return &Instance{Name: o.Name, Process: proctest.Launch(t, s), Client: kwtest.NewClient("")}
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

// WaitReady waits until the instance answers /readyz with 200, it exits, or limit passes; then
// its Client and Addr point at it.
func (in *Instance) WaitReady(limit time.Duration) error {
	if err := in.Process.WaitReady(limit); err != nil {
		return err
	}
	in.Addr = in.Process.Addr()
	in.URL = "http://" + in.Addr
	return nil
}

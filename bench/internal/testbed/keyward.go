package testbed

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/proctest"
	"github.com/keyward/keyward/middleware"
)

// Keyward is one keyward server under test.
type Keyward struct {
	*proctest.Process
	Base       string // http://127.0.0.1:PORT
	ProfileURL string // set when built with the profiling hook
	Email      string
	Password   string
	// Tokens verifies the access tokens this instance issues: each instance is its own issuer.
	Tokens *middleware.Verifier

	profiled bool // built and started with the profiling hook
}

// Stop stops the process, paused or not, and the verifier of its tokens.
func (kw *Keyward) Stop() {
	if kw.Tokens != nil {
		kw.Tokens.Close()
	}
	_ = kw.Resume() // a paused process would take its SIGTERM only once it runs again
	kw.Process.Stop()
}

// Endpoint is kw's token endpoint.
func (kw *Keyward) Endpoint() Endpoint {
	return Endpoint{URL: kw.Base + "/oauth/token", Tokens: kw.Tokens}
}

// Endpoint is one keyward instance's token endpoint and the verifier of the tokens it issues.
type Endpoint struct {
	URL    string
	Tokens *middleware.Verifier
}

// DumpLog prints the end of keyward's log, which says why a run went wrong. keyward never logs a
// secret, and the bench passes the admin password through the environment, not the command line.
func (kw *Keyward) DumpLog(w io.Writer) {
	if logs := kw.Logs(); logs != "" {
		fmt.Fprintf(w, "--- last lines of keyward's log ---\n%s---\n", Tail(logs, 40))
	}
}

// Tail returns the last n lines of s, such as the end of a child's log, ending in a newline.
func Tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n") + "\n"
}

// SetupSpec is one configuration to measure: a database and how many keyward processes share it.
type SetupSpec struct {
	DB        string // postgres://…, or "" for SQLite in the bench's temporary folder
	Instances int
}

// Kind names the setup in reports: "SQLite", "PostgreSQL" or "PostgreSQL, 2 instances".
func (s SetupSpec) Kind() string {
	k := "SQLite"
	if s.DB != "" {
		k = "PostgreSQL"
	}
	if s.Instances > 1 {
		k += fmt.Sprintf(", %d instances", s.Instances)
	}
	return k
}

// Credentials are shared by every process the bench starts, so that a process started later (a
// second instance, the next setup on the same PostgreSQL database) finds the admin and the sealed
// signing keys it expects. A reused database needs those of its first start, from the environment.
type Credentials struct {
	Email, Password, Master string
}

// NewCredentials takes the admin and the master key from the environment, and makes up those
// that are not set.
func NewCredentials() (Credentials, error) {
	c := Credentials{Email: envOr("KEYWARD_ADMIN_EMAIL", "bench@keyward.localhost"),
		Password: os.Getenv("KEYWARD_ADMIN_PASSWORD"), Master: os.Getenv("KEYWARD_MASTER_KEY")}
	var err error
	if c.Password == "" {
		if c.Password, err = RandomText(32); err != nil {
			return c, err
		}
	}
	if c.Master == "" {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return c, err
		}
		c.Master = base64.StdEncoding.EncodeToString(b)
	}
	return c, nil
}

// readyLimit bounds a keyward start, migrations of a large database included.
const readyLimit = 2 * time.Minute

// StartSetup runs spec's keyward processes, each on a loopback port it binds itself, and waits
// until every one answers /readyz with 200. The first carries the profiling hook when profile is
// set. dir holds the SQLite database.
func StartSetup(ctx context.Context, bin, dir string, spec SetupSpec, cred Credentials, profile bool) ([]*Keyward, error) {
	var procs []*Keyward
	stopAll := func() {
		for _, kw := range procs {
			kw.Stop()
		}
	}
	for i := range spec.Instances {
		kw, err := launchKeyward(bin, dir, spec, cred, profile && i == 0)
		if err != nil {
			stopAll()
			return nil, err
		}
		procs = append(procs, kw)
	}
	for _, kw := range procs {
		err := kw.ready(ctx)
		if err != nil {
			stopAll()
			kw.DumpLog(os.Stderr)
			return nil, err
		}
	}
	return procs, nil
}

// launchKeyward starts one `keyward serve` of spec.
func launchKeyward(bin, dir string, spec SetupSpec, cred Credentials, profile bool) (*Keyward, error) {
	db := spec.DB
	if db == "" {
		db = "sqlite:" + filepath.Join(dir, "k.db")
	}
	s := proctest.ServeSpec(bin, "--db", db)
	s.Env = []string{"KEYWARD_ADMIN_EMAIL=" + cred.Email, "KEYWARD_ADMIN_PASSWORD=" + cred.Password}
	if spec.DB != "" {
		s.Env = append(s.Env, "KEYWARD_MASTER_KEY="+cred.Master)
	}
	if profile {
		s.Env = append(s.Env, profileAddrEnv+"=127.0.0.1:0")
	}
	p, err := proctest.Run(s)
	if err != nil {
		return nil, err
	}
	return &Keyward{Process: p, Email: cred.Email, Password: cred.Password, profiled: profile}, nil
}

// ready waits until kw serves, and then learns its address and the verifier of its tokens.
func (kw *Keyward) ready(ctx context.Context) error {
	if err := kw.WaitReady(readyLimit); err != nil {
		return err
	}
	kw.Base = "http://" + kw.Addr()
	if kw.profiled {
		addr := kw.LoggedAddr(profileHookMsg)
		if addr == "" {
			return errors.New("keyward was built with the profiling hook, but the hook logged no address")
		}
		kw.ProfileURL = "http://" + addr
	}
	var err error
	kw.Tokens, err = TokenVerifier(ctx, kw.Base)
	return err
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

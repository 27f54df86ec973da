package kwtest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/fakeclock"
	"github.com/keyward/keyward/internal/pgtest"
	"github.com/keyward/keyward/internal/server"
	"github.com/keyward/keyward/internal/testlog"
)

// The instance admin of every test server. The password is long enough for any password rule.
const (
	AdminEmail    = "admin@keyward.test"
	AdminPassword = "correct-horse-battery-staple-42"
)

// Option changes the configuration of a test server before it starts.
type Option func(*server.Config)

// WithConfig is an Option spelled as a function literal at the call site.
func WithConfig(f func(*server.Config)) Option { return Option(f) }

// OnPostgres runs the server on a fresh PostgreSQL database of the test's own instead of SQLite;
// like pgtest.Fresh, it skips the test where PostgreSQL is not running, except in CI.
func OnPostgres(t testing.TB) Option {
	dsn := pgtest.Fresh(t).DSN("")
	return func(c *server.Config) { c.DB, c.MasterKey = dsn, NewMasterKey() }
}

// localhostIssuer asks Start for the issuer http://localhost:PORT.
const localhostIssuer = "http://localhost"

// OnLocalhost makes the issuer http://localhost:PORT instead of http://127.0.0.1:PORT: a host
// name, which passkeys need (WebAuthn takes no IP address as a relying party id). Browsers open
// the server at Config.Issuer then.
func OnLocalhost(c *server.Config) { c.Issuer = localhostIssuer }

// NewMasterKey returns a random KEYWARD_MASTER_KEY, which PostgreSQL deployments need.
func NewMasterKey() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// Server is a complete keyward instance served by httptest over a fresh SQLite database in a
// temporary folder. It trusts X-Forwarded-For from loopback, so tests simulate client addresses
// with the From option. Its clock stands still unless a test advances it.
type Server struct {
	*Client
	Clock  *fakeclock.Clock
	Config server.Config // as given to server.New
	Srv    *server.Server
	HTTP   *httptest.Server

	logs *testlog.Buffer

	adminOnce  sync.Once
	adminToken string
}

// Start starts a server and stops it when the test ends. Its defaults are the product's, except:
// the database is a temporary SQLite file, the admin is AdminEmail/AdminPassword, the clock is a
// Clock standing at the current second, and loopback is a trusted proxy.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	logs := &testlog.Buffer{}
	clock := fakeclock.New(time.Now().Truncate(time.Second))
	cfg := server.DefaultConfig()
	cfg.DB = "sqlite:" + filepath.Join(t.TempDir(), "keyward.db")
	cfg.AdminEmail = AdminEmail
	cfg.AdminPassword = AdminPassword
	cfg.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	cfg.Now = clock.Now
	cfg.Stdout = logs
	cfg.Stderr = logs
	cfg.LogLevel = "info"
	for _, o := range opts {
		o(&cfg)
	}

	ts := httptest.NewUnstartedServer(http.NotFoundHandler())
	if cfg.Issuer == "" {
		cfg.Issuer = "http://" + ts.Listener.Addr().String()
	} else if cfg.Issuer == localhostIssuer {
		cfg.Issuer += ":" + strconv.Itoa(ts.Listener.Addr().(*net.TCPAddr).Port)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := server.New(ctx, cfg)
	if err != nil {
		ts.Close()
		t.Fatalf("server.New: %v\n%s", err, logs.String())
	}
	ts.Config.Handler = srv.Handler()
	ts.Start()
	s := &Server{
		Client: &Client{URL: ts.URL, HTTP: ts.Client()},
		Clock:  clock, Config: cfg, Srv: srv, HTTP: ts, logs: logs,
	}
	t.Cleanup(func() {
		ts.Close()
		if err := srv.Close(); err != nil {
			t.Errorf("server Close: %v", err)
		}
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	return s
}

// Logs returns everything the server wrote to its log and standard output so far, for tests
// that prove a secret never reaches them.
func (s *Server) Logs() string { return s.logs.String() }

// AdminToken returns an access token of the instance admin (not narrowed to a project), logging
// in once per server. Tests that revoke it or move the clock past its expiry must log in
// themselves.
func (s *Server) AdminToken(t testing.TB) string {
	t.Helper()
	s.adminOnce.Do(func() {
		s.adminToken = s.Login(t, AdminEmail, AdminPassword, "").AccessToken
	})
	if s.adminToken == "" {
		t.Fatal("the admin could not log in")
	}
	return s.adminToken
}

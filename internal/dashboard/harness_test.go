package dashboard_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/password"
	"github.com/keyward/keyward/internal/server"
	"github.com/keyward/keyward/internal/sqlstore"
)

const (
	adminEmail    = "admin@example.com"
	adminPassword = "correct horse battery staple"
)

// clock is the server's clock: it stands still unless a test moves it, so that timeouts are
// tested without sleeping.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// env is a whole keyward instance (token endpoint, API and dashboard) over a fresh SQLite
// database, served by httptest on a loopback address that it trusts as a proxy, so that a test
// can present another client address with X-Forwarded-For.
type env struct {
	t     *testing.T
	URL   string
	Clock *clock
	Srv   *server.Server
	Store *sqlstore.DB
	logs  *lockedBuffer
}

func start(t *testing.T, opts ...func(*server.Config)) *env {
	t.Helper()
	logs := &lockedBuffer{}
	clk := &clock{t: time.Now().UTC().Truncate(time.Second)}
	cfg := server.DefaultConfig()
	cfg.DB = "sqlite:" + filepath.Join(t.TempDir(), "keyward.db")
	cfg.AdminEmail, cfg.AdminPassword = adminEmail, adminPassword
	cfg.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	cfg.Now = clk.Now
	cfg.Stdout, cfg.Stderr = logs, logs
	for _, o := range opts {
		o(&cfg)
	}
	ts := httptest.NewUnstartedServer(http.NotFoundHandler())
	if cfg.Issuer == "" {
		cfg.Issuer = "http://" + ts.Listener.Addr().String()
	}
	srv, err := server.New(t.Context(), cfg)
	if err != nil {
		ts.Close()
		t.Fatalf("server.New: %v\n%s", err, logs)
	}
	ts.Config.Handler = srv.Handler()
	ts.Start()
	t.Cleanup(func() {
		ts.Close()
		srv.Close()
		if t.Failed() {
			t.Logf("server log:\n%s", logs)
		}
	})
	return &env{t: t, URL: ts.URL, Clock: clk, Srv: srv, Store: srv.Store(), logs: logs}
}

// user creates a person who can sign in, a member of project "default" with perms (no
// membership when perms is empty).
func (e *env) user(email, pw string, perms ...string) *keyward.User {
	e.t.Helper()
	hash, err := password.NewHasher(password.DefaultParams, 1).Hash(e.t.Context(), pw, rand.Reader)
	if err != nil {
		e.t.Fatal(err)
	}
	id, err := keyward.NewID(rand.Reader, keyward.PrefixUser)
	if err != nil {
		e.t.Fatal(err)
	}
	now := e.Clock.Now()
	u := &keyward.User{ID: id, Email: email, PasswordHash: hash, CreatedAt: now}
	if err := e.Store.CreateUser(e.t.Context(), u); err != nil {
		e.t.Fatal(err)
	}
	if len(perms) > 0 {
		m := &keyward.Member{ProjectID: e.project("default").ID, UserID: id, Permissions: perms, CreatedAt: now, UpdatedAt: now}
		if err := e.Store.PutMember(e.t.Context(), m); err != nil {
			e.t.Fatal(err)
		}
	}
	return u
}

func (e *env) project(name string) *keyward.Project {
	e.t.Helper()
	p, err := e.Store.ProjectByName(e.t.Context(), name)
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

// keys returns the names of a project's keys, straight from the store.
func (e *env) keys(project string) []string {
	e.t.Helper()
	keys, err := e.Store.APIKeys(e.t.Context(), e.project(project).ID)
	if err != nil {
		e.t.Fatal(err)
	}
	var names []string
	for _, k := range keys {
		names = append(names, k.Name)
	}
	return names
}

// response is an answer read in full.
type response struct {
	Status int
	Header http.Header
	Body   string
}

// request is one request of a plain HTTP client (no browser, no cookie jar, redirects not
// followed), as a script or an attacker's page would send it.
type request struct {
	method, path string
	form         url.Values
	cookie       *http.Cookie
	header       http.Header
}

func (e *env) do(rq request) *response {
	e.t.Helper()
	var body io.Reader
	if rq.form != nil {
		body = strings.NewReader(rq.form.Encode())
	}
	r, err := http.NewRequestWithContext(e.t.Context(), rq.method, e.URL+rq.path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if rq.form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if rq.cookie != nil {
		r.AddCookie(rq.cookie)
	}
	for k, v := range rq.header {
		r.Header[k] = v
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(r)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return &response{Status: resp.StatusCode, Header: resp.Header, Body: string(data)}
}

// login signs in through the form and returns the session cookie.
func (e *env) login(email, pw string) *http.Cookie {
	e.t.Helper()
	resp := e.do(request{method: "POST", path: "/login", form: url.Values{"email": {email}, "password": {pw}}})
	if resp.Status != http.StatusSeeOther {
		e.t.Fatalf("login as %s: HTTP %d %s", email, resp.Status, resp.Body)
	}
	for _, c := range (&http.Response{Header: resp.Header}).Cookies() {
		if strings.HasSuffix(c.Name, "keyward_session") && c.Value != "" {
			return c
		}
	}
	e.t.Fatalf("login as %s set no session cookie: %v", email, resp.Header)
	return nil
}

// tokenAnswer is the part of a token response the tests read.
type tokenAnswer struct {
	Status      int
	Error       string `json:"error"`
	AccessToken string `json:"access_token"`
	Scope       string `json:"scope"`
}

// exchange trades an API key for tokens at /oauth/token, as a program would, from the client
// address from (via X-Forwarded-For; "" for the loopback address itself).
func (e *env) exchange(key, from string) tokenAnswer {
	e.t.Helper()
	h := http.Header{}
	if from != "" {
		h.Set("X-Forwarded-For", from)
	}
	resp := e.do(request{method: "POST", path: "/oauth/token", header: h,
		form: url.Values{"grant_type": {"client_credentials"}, "client_secret": {key}}})
	var out tokenAnswer
	if err := json.Unmarshal([]byte(resp.Body), &out); err != nil {
		e.t.Fatalf("token response is not JSON: %s", resp.Body)
	}
	out.Status = resp.Status
	return out
}

// claims decodes an access token's payload; its signature is the token package's business.
func claims(t *testing.T, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", jwt)
	}
	data, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// screenshotDir is where the README's screenshots are written when KEYWARD_UPDATE_SCREENSHOTS=1.
// Otherwise they go to a temporary folder: every run has new ids and dates, and an ordinary test
// run should not leave the working tree changed.
var screenshotDir = filepath.Join("..", "..", "docs", "screenshots")

func saveScreenshot(t *testing.T, name string, png []byte) {
	t.Helper()
	if len(png) < 1000 {
		t.Fatalf("screenshot %s is only %d bytes", name, len(png))
	}
	dir := t.TempDir()
	if os.Getenv("KEYWARD_UPDATE_SCREENSHOTS") == "1" {
		dir = screenshotDir
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

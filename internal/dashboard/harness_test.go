package dashboard_test

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/kwtest"
	"github.com/keyward/keyward/internal/password"
	"github.com/keyward/keyward/internal/sqlstore"
)

// The instance admin is the kit's.
const (
	adminEmail    = kwtest.AdminEmail
	adminPassword = kwtest.AdminPassword
)

// env is a whole keyward instance (token endpoint, API and dashboard) started by the test kit,
// with the dashboard's own helpers: a plain HTTP client that follows no redirects and signs in
// through the form.
type env struct {
	*kwtest.Server
	t     *testing.T
	Store *sqlstore.DB
}

func start(t *testing.T, opts ...kwtest.Option) *env {
	t.Helper()
	s := kwtest.Start(t, opts...)
	return &env{Server: s, t: t, Store: s.Srv.Store()}
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

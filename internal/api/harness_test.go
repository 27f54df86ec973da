package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/apikey"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/internal/apispec"
	"github.com/keyward/keyward/internal/authn"
	"github.com/keyward/keyward/internal/fakeclock"
	"github.com/keyward/keyward/internal/keyring"
	"github.com/keyward/keyward/internal/ratelimit"
	"github.com/keyward/keyward/internal/sqlstore"
	"github.com/keyward/keyward/internal/testlog"
	"github.com/keyward/keyward/internal/token"
)

const (
	issuer   = "https://keyward.test"
	audience = "https://keyward.test"
)

// env is a management API over a real SQLite store, with a real keyring, minter and verifier.
type env struct {
	t       *testing.T
	ctx     context.Context
	clock   *fakeclock.Clock
	store   keyward.Store
	keys    *keyring.Keyring
	minter  *token.Minter
	srv     *Server
	handler http.Handler
	logs    *testlog.Buffer
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	store, err := sqlstore.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "keyward.db"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { store.Close() })
	clk := fakeclock.New(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	keys, err := keyring.New(ctx, store, keyring.Config{Now: clk.Now, Rand: rand.Reader})
	if err != nil {
		t.Fatalf("keyring: %v", err)
	}
	catalog := keyward.DefaultCatalog()
	verifier := &token.Verifier{Keys: keys, Issuer: issuer, Audience: audience, Leeway: 30 * time.Second, Now: clk.Now}
	logs := &testlog.Buffer{}
	srv := &Server{
		Store:   store,
		Auth:    &authn.Authenticator{Store: store, Tokens: verifier, Now: clk.Now},
		Catalog: catalog, Passwords: fakePasswords{}, Now: clk.Now, Rand: rand.Reader,
		Logger:   newTestLogger(logs),
		FeedPoll: 10 * time.Millisecond,
		Issuer:   issuer,
	}
	srv.Login = authn.Login{Store: store, Passwords: fakePasswords{}, ByIP: ratelimit.New(10, 10, clk.Now), ByUser: ratelimit.New(10, 10, clk.Now), Now: clk.Now}
	t.Cleanup(func() {
		if strings.Contains(logs.String(), "audit event lost") {
			t.Errorf("an audit event was lost:\n%s", logs)
		}
	})
	return &env{
		t: t, ctx: ctx, clock: clk, store: store, keys: keys,
		minter: &token.Minter{Keys: keys, Now: clk.Now, Rand: rand.Reader},
		srv:    srv, handler: srv.Handler(), logs: logs,
	}
}

// fakePasswords stands in for argon2id, whose cost would slow every test down.
type fakePasswords struct{}

func (fakePasswords) Hash(_ context.Context, pw string, _ io.Reader) (string, error) {
	return "$test$" + strings.Repeat("x", len(pw)), nil
}

// Verify matches what Hash wrote: any password of the same length.
func (f fakePasswords) Verify(ctx context.Context, encoded, pw string) (bool, error) {
	want, _ := f.Hash(ctx, pw, nil)
	return encoded == want, nil
}

func (fakePasswords) VerifyDummy(context.Context, string) {}

func (e *env) newID(prefix string) string {
	id, err := keyward.NewID(rand.Reader, prefix)
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

func (e *env) user(email string, admin bool) *keyward.User {
	e.t.Helper()
	u := &keyward.User{ID: e.newID(keyward.PrefixUser), Email: email, PasswordHash: "$test$", Admin: admin, CreatedAt: e.clock.Now()}
	if err := e.store.CreateUser(e.ctx, u); err != nil {
		e.t.Fatalf("create user: %v", err)
	}
	return u
}

// project creates a project whose creator holds perms (every permission when nil).
func (e *env) project(name string, creator *keyward.User, perms []string) *keyward.Project {
	e.t.Helper()
	if perms == nil {
		perms = keyward.DefaultCatalog().Names()
	}
	now := e.clock.Now()
	p := &keyward.Project{ID: e.newID(keyward.PrefixProject), Name: name, CreatedAt: now}
	m := &keyward.Member{ProjectID: p.ID, UserID: creator.ID, Permissions: perms, CreatedAt: now, UpdatedAt: now}
	if err := e.store.CreateProject(e.ctx, p, m); err != nil {
		e.t.Fatalf("create project: %v", err)
	}
	return p
}

func (e *env) member(p *keyward.Project, u *keyward.User, perms ...string) {
	e.t.Helper()
	now := e.clock.Now()
	if err := e.store.PutMember(e.ctx, &keyward.Member{ProjectID: p.ID, UserID: u.ID, Permissions: perms, CreatedAt: now, UpdatedAt: now}); err != nil {
		e.t.Fatalf("put member: %v", err)
	}
}

// apiKey stores a key of project p directly, returning it with its secret.
func (e *env) apiKey(p *keyward.Project, name string, perms ...string) (*keyward.APIKey, string) {
	e.t.Helper()
	return e.storeKey(&keyward.APIKey{ProjectID: p.ID, Name: name, Permissions: perms})
}

// storeKey completes k (id, secret hash, hint, creator, creation time) and stores it.
func (e *env) storeKey(k *keyward.APIKey) (*keyward.APIKey, string) {
	e.t.Helper()
	secret, id, err := apikey.New(rand.Reader)
	if err != nil {
		e.t.Fatal(err)
	}
	k.ID, k.SecretHash, k.Hint, k.CreatedBy, k.CreatedAt = id, apikey.Hash(secret), apikey.Hint(secret), "user:test", e.clock.Now()
	if k.Owner == "" {
		k.Owner = e.keyOwner(k)
	}
	if err := e.store.CreateAPIKey(e.ctx, k); err != nil {
		e.t.Fatalf("create key: %v", err)
	}
	return k, secret
}

// keyOwner is a member of k's project to own it: one who holds every permission of k, if any
// does, else the first.
func (e *env) keyOwner(k *keyward.APIKey) string {
	e.t.Helper()
	ms, err := e.store.Members(e.ctx, k.ProjectID)
	if err != nil || len(ms) == 0 {
		e.t.Fatalf("members to own key %q: %v, %v", k.Name, ms, err)
	}
	for _, m := range ms {
		if keyward.Subset(k.Permissions, m.Permissions) {
			return m.UserID
		}
	}
	return ms[0].UserID
}

// session stores a session as an exchange would and mints an access token for it.
func (e *env) session(s *keyward.Session, scope []string) (string, *keyward.Session) {
	e.t.Helper()
	now := e.clock.Now()
	s.ID = e.newID(keyward.PrefixSession)
	s.CreatedAt = now
	if s.ExpiresAt.IsZero() {
		s.ExpiresAt = now.Add(30 * 24 * time.Hour)
	}
	_, hash, err := token.NewRefreshToken(rand.Reader, s.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	rt := &keyward.RefreshToken{Hash: hash, SessionID: s.ID, IssuedAt: now, ExpiresAt: now.Add(3 * time.Hour)}
	if err := e.store.CreateSession(e.ctx, s, rt); err != nil {
		e.t.Fatalf("create session: %v", err)
	}
	clientID := "keyward"
	if s.Kind == keyward.SessionKey {
		clientID = s.KeyID
	}
	raw, err := e.minter.Mint(&token.Claims{
		Issuer: issuer, Subject: s.Subject(), Audience: []string{audience}, IssuedAt: now, Expiry: now.Add(2 * time.Hour),
		ClientID: clientID, Scope: scope, SessionID: s.ID, Project: s.ProjectID,
	})
	if err != nil {
		e.t.Fatalf("mint: %v", err)
	}
	return raw, s
}

// userToken returns an access token of u, narrowed to project when it is not empty.
func (e *env) userToken(u *keyward.User, project string) string {
	raw, _ := e.session(&keyward.Session{Kind: keyward.SessionUser, UserID: u.ID, ProjectID: project}, nil)
	return raw
}

func (e *env) keyToken(k *keyward.APIKey) string {
	raw, _ := e.session(&keyward.Session{Kind: keyward.SessionKey, KeyID: k.ID, ProjectID: k.ProjectID}, k.Permissions)
	return raw
}

// response is a recorded answer that has been checked against the OpenAPI document.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r *response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

func (r *response) problem(t *testing.T) client.Problem {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type = %q, want application/problem+json; body %s", ct, r.body)
	}
	var p client.Problem
	r.decode(t, &p)
	if p.Status != r.status || p.Type == "" || p.Title == "" || p.Detail == "" {
		t.Fatalf("incomplete problem %s for status %d", r.body, r.status)
	}
	return p
}

// req describes one request; body is JSON-encoded unless it is a string or []byte.
type req struct {
	method, path, token string
	body                any
	header              http.Header
	remote              string // the client address; 192.0.2.10 when empty
	contentType         []string
}

// do serves one request and validates the response against the OpenAPI document.
func (e *env) do(rq req) *response {
	e.t.Helper()
	var body io.Reader
	var raw []byte
	switch b := rq.body.(type) {
	case nil:
	case string:
		raw = []byte(b)
	case []byte:
		raw = b
	default:
		var err error
		if raw, err = json.Marshal(b); err != nil {
			e.t.Fatal(err)
		}
	}
	if raw != nil {
		body = bytes.NewReader(raw)
	}
	r := httptest.NewRequest(rq.method, rq.path, body)
	r.RemoteAddr = "192.0.2.10:40000"
	if rq.remote != "" {
		r.RemoteAddr = rq.remote
	}
	if rq.contentType != nil {
		r.Header["Content-Type"] = rq.contentType
	} else if raw != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	if rq.token != "" {
		r.Header.Set("Authorization", "Bearer "+rq.token)
	}
	for k, v := range rq.header {
		r.Header[k] = v
	}
	w := httptest.NewRecorder()
	e.handler.ServeHTTP(w, r)
	resp := &response{status: w.Code, header: w.Result().Header, body: w.Body.Bytes()}
	if resp.status >= 500 {
		e.t.Errorf("%s %s: status %d: %s\nlogs: %s", rq.method, rq.path, resp.status, resp.body, e.logs)
	}
	checkResponse(e.t, rq, r.Header, raw, resp)
	return resp
}

// expect fails the test unless the response has the given status.
func (r *response) expect(t *testing.T, status int) *response {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	return r
}

var (
	specOnce sync.Once
	spec     *apispec.Spec
	specErr  error
	covered  sync.Map // "METHOD /path/template" → true, for operations answered with 2xx
)

func loadSpec(t *testing.T) (*openapi3.T, *apispec.Spec) {
	t.Helper()
	specOnce.Do(func() { spec, specErr = apispec.Load(openAPIDocument) })
	if specErr != nil {
		t.Fatalf("OpenAPI document: %v", specErr)
	}
	return spec.Doc, spec
}

// checkResponse validates one response against the OpenAPI document (apispec.Spec.Check) and
// records the operations that succeeded, for TestTour.
func checkResponse(t *testing.T, rq req, header http.Header, body []byte, resp *response) {
	t.Helper()
	_, s := loadSpec(t)
	op := s.Check(t, apispec.Exchange{Method: rq.method, Path: rq.path, ReqHeader: header, ReqBody: body,
		Status: resp.status, Header: resp.header, Body: resp.body})
	if op != "" {
		covered.Store(op, true)
	}
}

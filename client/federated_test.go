package client_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/internal/fakeclock"
)

// fakeFederation is a keyward token endpoint for the two federation grants, as the contract
// specifies them: no client authentication, the subject token in subject_token (RFC 8693) or
// assertion (RFC 7523), each subject token accepted once and only while it lives, access tokens
// that live min(rule ttl, subject exp − now), no refresh token. Which subject tokens its trusted
// issuer signed is what the test says (trust); signatures themselves are the server's business.
type fakeFederation struct {
	t     *testing.T
	clock *fakeclock.Clock
	srv   *httptest.Server
	ttl   time.Duration // the matching rule's

	mu       sync.Mutex
	trusted  map[string]time.Time // subject token → its exp
	used     map[string]bool
	issued   map[string]time.Time // access token → expiry
	requests []url.Values
	fail     int // status to answer instead, 0 for none
}

func newFakeFederation(t *testing.T, clock *fakeclock.Clock) *fakeFederation {
	f := &fakeFederation{t: t, clock: clock, ttl: 15 * time.Minute,
		trusted: map[string]time.Time{}, used: map[string]bool{}, issued: map[string]time.Time{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"issuer":%q,"token_endpoint":%q,"grant_types_supported":[%q,%q]}`,
			f.srv.URL, f.srv.URL+"/oauth/token", client.GrantTokenExchange, client.GrantJWTBearer)
	})
	mux.HandleFunc("POST /oauth/token", f.token)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

// subject returns a new subject token that the trusted issuer signed, living for life.
func (f *fakeFederation) subject(life time.Duration) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	exp := f.clock.Now().Add(life)
	enc := base64.RawURLEncoding.EncodeToString
	payload, _ := json.Marshal(map[string]any{"iss": "https://token.actions.example", "sub": "repo:acme/web:ref:refs/heads/main",
		"aud": f.srv.URL, "exp": exp.Unix(), "jti": fmt.Sprintf("jti-%d", len(f.trusted)+1)})
	tok := enc([]byte(`{"alg":"RS256","kid":"k1"}`)) + "." + enc(payload) + "." + enc([]byte("signature"))
	f.trusted[tok] = exp
	return tok
}

// distrust makes the issuer's earlier tokens fail signature checks, as after a key rotation
// that the workload's old token predates.
func (f *fakeFederation) distrust(tok string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.trusted, tok)
}

func (f *fakeFederation) token(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, code, desc string) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "5")
		}
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"error":%q,"error_description":%q}`, code, desc)
	}
	if r.URL.RawQuery != "" || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" || r.Header.Get("Authorization") != "" {
		f.t.Errorf("federated token request with query %q, content type %q, authorization %q",
			r.URL.RawQuery, r.Header.Get("Content-Type"), r.Header.Get("Authorization"))
	}
	if err := r.ParseForm(); err != nil {
		fail(http.StatusBadRequest, "invalid_request", "The body is not a form.")
		return
	}
	form := r.PostForm
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, form)
	if f.fail != 0 {
		fail(f.fail, "temporarily_unavailable", "The issuer's keys cannot be fetched.")
		return
	}
	var subject string
	switch form.Get("grant_type") {
	case client.GrantTokenExchange:
		if tt := form.Get("subject_token_type"); tt != client.TokenTypeJWT && tt != client.TokenTypeIDToken {
			fail(http.StatusBadRequest, "invalid_request", "The subject_token_type parameter is missing or unsupported.")
			return
		}
		if form.Has("assertion") {
			f.t.Errorf("token exchange sent an assertion")
		}
		subject = form.Get("subject_token")
	case client.GrantJWTBearer:
		if form.Has("subject_token") || form.Has("subject_token_type") {
			f.t.Errorf("jwt-bearer sent token exchange parameters")
		}
		subject = form.Get("assertion")
	default:
		fail(http.StatusBadRequest, "unsupported_grant_type", "The grant type is not supported.")
		return
	}
	now := f.clock.Now()
	exp, ok := f.trusted[subject]
	switch {
	case subject == "":
		fail(http.StatusBadRequest, "invalid_request", "The subject token is missing.")
	case !ok:
		fail(http.StatusBadRequest, "invalid_grant", "The subject token's signature does not verify.")
	case !now.Before(exp):
		fail(http.StatusBadRequest, "invalid_grant", "The subject token has expired.")
	case f.used[subject]:
		fail(http.StatusBadRequest, "invalid_grant", "The subject token was already used.")
	default:
		f.used[subject] = true
		life := min(f.ttl, exp.Sub(now))
		access := fmt.Sprintf("fed-%d", len(f.issued)+1)
		f.issued[access] = now.Add(life)
		answer := map[string]any{"access_token": access, "token_type": "Bearer", "expires_in": int64(life / time.Second),
			"scope": form.Get("scope")}
		if form.Get("grant_type") == client.GrantTokenExchange {
			answer["issued_token_type"] = client.TokenTypeAccessToken
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(answer)
	}
}

// accepts reports whether an API would take access now: the fake issued it and it has not expired.
func (f *fakeFederation) accepts(access string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	exp, ok := f.issued[access]
	return ok && f.clock.Now().Before(exp)
}

func (f *fakeFederation) exchanges() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.requests)
}

func (f *fakeFederation) last() url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests[len(f.requests)-1]
}

// projectedToken lays out a Kubernetes projected volume: the token is read through
// token → ..data/token, and the kubelet rotates it by pointing ..data at a new folder in one
// rename.
type projectedToken struct {
	t   *testing.T
	dir string
	n   int
}

func newProjectedToken(t *testing.T, tok string) *projectedToken {
	p := &projectedToken{t: t, dir: t.TempDir()}
	p.rotate(tok)
	if err := os.Symlink(filepath.Join("..data", "token"), p.path()); err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *projectedToken) path() string { return filepath.Join(p.dir, "token") }

func (p *projectedToken) rotate(tok string) {
	p.t.Helper()
	p.n++
	ts := fmt.Sprintf("..2030_01_01_00_00_%02d.%d", p.n, p.n)
	if err := os.Mkdir(filepath.Join(p.dir, ts), 0o755); err != nil {
		p.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(p.dir, ts, "token"), []byte(tok), 0o644); err != nil {
		p.t.Fatal(err)
	}
	tmp := filepath.Join(p.dir, "..data_tmp")
	if err := os.Symlink(ts, tmp); err != nil {
		p.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(p.dir, "..data")); err != nil {
		p.t.Fatal(err)
	}
}

// A workload reads its Kubernetes token, which the kubelet replaces at 80% of its life. The
// access tokens live as long as the subject token they came from (the rule's ttl is longer), so
// the source renews each shortly before its end, from the token the kubelet put in place
// meanwhile; every token the program gets is one the API accepts.
func TestFederatedTokenSourceAcrossRotations(t *testing.T) {
	clock := newClock()
	f := newFakeFederation(t, clock)
	const life = 100 * time.Second
	vol := newProjectedToken(t, f.subject(life))
	ts := client.FederatedTokenSource(context.Background(), client.FederatedConfig{
		Server: f.srv.URL, Subject: client.SubjectFromFile(vol.path()), Now: clock.Now,
	})

	start, rotatedAt, subjects := clock.Now(), clock.Now(), 1
	seen := map[string]bool{}
	for step := range 100 { // 1000 s: a dozen subject tokens
		if clock.Now().Sub(rotatedAt) >= life*8/10 {
			vol.rotate(f.subject(life))
			rotatedAt, subjects = clock.Now(), subjects+1
		}
		tok, err := ts.Token()
		if err != nil {
			t.Fatalf("step %d (%v in): %v", step, clock.Now().Sub(start), err)
		}
		if !f.accepts(tok.AccessToken) {
			t.Fatalf("step %d: the source handed out %s, which the API no longer accepts", step, tok.AccessToken)
		}
		seen[tok.AccessToken] = true
		clock.Advance(10 * time.Second)
	}
	// One exchange per subject token: none wasted, none replayed.
	t.Logf("%d subject tokens, %d exchanges", subjects, f.exchanges())
	if n := f.exchanges(); n != len(seen) || n < subjects-1 {
		t.Errorf("%d exchanges for %d distinct access tokens over %d subject tokens", n, len(seen), subjects)
	}
	if r := f.last(); r.Get("grant_type") != client.GrantTokenExchange || r.Get("subject_token_type") != client.TokenTypeJWT {
		t.Errorf("request %v; want an RFC 8693 token exchange of a JWT", r)
	}
}

// A subject token is accepted once. Until the platform provides another, the source serves the
// access token it has to the end of its life rather than present the same subject token again;
// after that, the server's refusal reaches the program with its reason.
func TestFederatedTokenSourceNeverReplaysWhileItHasAToken(t *testing.T) {
	clock := newClock()
	f := newFakeFederation(t, clock)
	f.ttl = time.Minute
	t.Setenv("KEYWARD_TEST_SUBJECT", f.subject(time.Hour))
	ts := client.FederatedTokenSource(context.Background(), client.FederatedConfig{
		Server: f.srv.URL, Subject: client.SubjectFromEnv("KEYWARD_TEST_SUBJECT"), Grant: "jwt-bearer", Now: clock.Now,
		Scope: []string{"containers-view", "images-view"}, Project: "web-shop",
	})
	first := mustToken(t, ts)
	if r := f.last(); r.Get("grant_type") != client.GrantJWTBearer || r.Get("scope") != "containers-view images-view" || r.Get("project") != "web-shop" {
		t.Errorf("request %v; want an RFC 7523 assertion with the scope and project", r)
	}
	if got := first.Extra("scope"); got != "containers-view images-view" {
		t.Errorf("Extra(scope) = %v", got)
	}
	clock.Advance(55 * time.Second) // past the renewal point, before the expiry
	if tok := mustToken(t, ts); tok.AccessToken != first.AccessToken || f.exchanges() != 1 {
		t.Fatalf("got %s after %d exchanges; want the first token, the subject token not presented again", tok.AccessToken, f.exchanges())
	}
	clock.Advance(5 * time.Second)
	_, err := ts.Token()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" || !strings.Contains(err.Error(), "already used") {
		t.Fatalf("err = %v; want invalid_grant saying the subject token was already used", err)
	}
	// The platform hands out a new one: the program recovers on its own.
	t.Setenv("KEYWARD_TEST_SUBJECT", f.subject(time.Hour))
	if tok := mustToken(t, ts); tok.AccessToken == first.AccessToken || !f.accepts(tok.AccessToken) {
		t.Errorf("after a new subject token: %s", tok.AccessToken)
	}
}

// The server's reason for a refusal reaches the caller; a server that cannot check the token
// right now does not take away a token that still works.
func TestFederatedTokenSourceFailures(t *testing.T) {
	clock := newClock()
	f := newFakeFederation(t, clock)
	f.ttl = time.Minute
	dir := t.TempDir()
	path := filepath.Join(dir, "token")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := f.subject(time.Hour)
	write(old + "\n")
	ts := client.FederatedTokenSource(context.Background(), client.FederatedConfig{Server: f.srv.URL, Subject: client.SubjectFromFile(path), Now: clock.Now})
	first := mustToken(t, ts)

	// A new subject token while the issuer's keys cannot be fetched: the valid token is served.
	write(f.subject(time.Hour) + "\n\n")
	clock.Advance(55 * time.Second)
	f.mu.Lock()
	f.fail = http.StatusServiceUnavailable
	f.mu.Unlock()
	if tok := mustToken(t, ts); tok.AccessToken != first.AccessToken {
		t.Errorf("during an outage: %s; want the still valid %s", tok.AccessToken, first.AccessToken)
	}
	clock.Advance(10 * time.Second)
	_, err := ts.Token()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "temporarily_unavailable" || re.Response.Header.Get("Retry-After") != "5" {
		t.Fatalf("err = %v; want temporarily_unavailable with Retry-After", err)
	}
	f.mu.Lock()
	f.fail = 0
	f.mu.Unlock()
	second := mustToken(t, ts)

	// A subject token the issuer did not sign is refused with the check that failed.
	forged := f.subject(time.Hour)
	f.distrust(forged)
	write(forged)
	clock.Advance(time.Minute)
	_, err = ts.Token()
	if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" || re.ErrorDescription != "The subject token's signature does not verify." {
		t.Fatalf("err = %v; want invalid_grant naming the signature", err)
	}
	for _, secret := range []string{forged, second.AccessToken} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("the error shows a token: %v", err)
		}
	}

	// Not a JWT: refused before anything is sent, without showing what the file holds.
	n := f.exchanges()
	write("kw_this-is-an-api-key-in-the-wrong-file")
	_, err = ts.Token()
	if err == nil || !strings.Contains(err.Error(), "the file "+path+" is not a JWT") || strings.Contains(err.Error(), "kw_this") {
		t.Errorf("err = %v; want the file named as not holding a JWT", err)
	}
	if f.exchanges() != n {
		t.Errorf("a malformed subject token was sent")
	}

	// A server without the grant, or a non-token answer, is a clear error too.
	_, err = client.FederatedTokenSource(context.Background(), client.FederatedConfig{Server: f.srv.URL, Subject: client.SubjectFromFile(path), Grant: "client-credentials"}).Token()
	if err == nil || !strings.Contains(err.Error(), "neither token-exchange nor jwt-bearer") {
		t.Errorf("unknown grant: err = %v", err)
	}
}

func TestSubjectFromFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "token")

	_, err := client.SubjectFromFile(path).SubjectToken(ctx)
	if err == nil || !strings.Contains(err.Error(), path) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: err = %v; want one naming the path", err)
	}
	if err := os.WriteFile(path, []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := client.SubjectFromFile(path).SubjectToken(ctx); err == nil || !strings.Contains(err.Error(), path+" is empty") {
		t.Errorf("empty file: err = %v", err)
	}
	if _, err := client.SubjectFromFile(dir).SubjectToken(ctx); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("a folder: err = %v", err)
	}

	// Rewritten in place, as an agent without the symlink dance would.
	src := client.SubjectFromFile(path)
	for _, tok := range []string{"a.b.c", "aa.bb.cc", "aaa.bbb.ccc"} {
		if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if got, err := src.SubjectToken(ctx); err != nil || got != tok {
			t.Errorf("SubjectToken = %q, %v; want %q", got, err, tok)
		}
	}
	// Replaced by Kubernetes' symlink swap with a token of the same length.
	vol := newProjectedToken(t, "one.two.333")
	src = client.SubjectFromFile(vol.path())
	for _, tok := range []string{"one.two.333", "one.two.444", "one.two.555"} {
		if tok != "one.two.333" {
			vol.rotate(tok)
		}
		if got, err := src.SubjectToken(ctx); err != nil || got != tok {
			t.Errorf("SubjectToken = %q, %v; want %q", got, err, tok)
		}
	}
}

func TestSubjectFromGitHubActions(t *testing.T) {
	const requestToken = "gha-request-token"
	jwt := "eyJhbGciOiJSUzI1NiJ9.eyJyZXBvc2l0b3J5X2lkIjoiNDIifQ.c2ln"
	var got *http.Request
	gh := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		if r.Header.Get("Authorization") != "bearer "+requestToken {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"count":1,"value":%q}`, jwt)
	}))
	defer gh.Close()
	t.Setenv(client.GitHubRequestURLEnv, gh.URL+"/_apis/distributedtask/hubs/Actions/plans/p/jobs/j/idtoken?api-version=2.0")
	t.Setenv(client.GitHubRequestTokenEnv, requestToken)

	ctx := context.Background()
	tok, err := client.SubjectFromGitHubActions("https://auth.example.com/a b&c").SubjectToken(ctx)
	if err != nil || tok != jwt {
		t.Fatalf("SubjectToken = %q, %v", tok, err)
	}
	if got.Method != http.MethodGet || got.URL.Query().Get("api-version") != "2.0" || got.URL.Query().Get("audience") != "https://auth.example.com/a b&c" {
		t.Errorf("request %s %s; want the URL's query kept and the audience added, encoded", got.Method, got.URL)
	}
	if _, err := client.SubjectFromGitHubActions("").SubjectToken(ctx); err != nil || got.URL.Query().Has("audience") {
		t.Errorf("no audience: err %v, query %q; want GitHub's default audience", err, got.URL.RawQuery)
	}

	t.Setenv(client.GitHubRequestTokenEnv, "another")
	if _, err := client.SubjectFromGitHubActions("x").SubjectToken(ctx); err == nil || !strings.Contains(err.Error(), "401") || strings.Contains(err.Error(), "another") {
		t.Errorf("refused request: err = %v", err)
	}
	t.Setenv(client.GitHubRequestTokenEnv, "")
	if _, err := client.SubjectFromGitHubActions("x").SubjectToken(ctx); err == nil ||
		err.Error() != "keyward: ACTIONS_ID_TOKEN_REQUEST_TOKEN is not set: set `permissions: id-token: write` in the workflow" {
		t.Errorf("one variable missing: err = %v", err)
	}
	t.Setenv(client.GitHubRequestURLEnv, "")
	if _, err := client.SubjectFromGitHubActions("x").SubjectToken(ctx); err == nil || !strings.Contains(err.Error(), "ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN are not set") {
		t.Errorf("no variables: err = %v", err)
	}
}

// In a GitHub Actions job the source asks GitHub for a fresh token at each exchange, with
// keyward's URL as the audience, and trades it for an access token.
func TestFederatedTokenSourceFromGitHubActions(t *testing.T) {
	clock := newClock()
	f := newFakeFederation(t, clock)
	f.ttl = time.Minute
	var audiences []string
	gh := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		audiences = append(audiences, r.URL.Query().Get("audience"))
		fmt.Fprintf(w, `{"value":%q}`, f.subject(5*time.Minute))
	}))
	defer gh.Close()
	t.Setenv(client.GitHubRequestURLEnv, gh.URL+"/idtoken?api-version=2.0")
	t.Setenv(client.GitHubRequestTokenEnv, "gha")
	ts := client.FederatedTokenSource(context.Background(), client.FederatedConfig{
		Server: f.srv.URL, Subject: client.SubjectFromGitHubActions(f.srv.URL), Now: clock.Now,
	})
	for range 5 {
		if tok := mustToken(t, ts); !f.accepts(tok.AccessToken) {
			t.Fatalf("handed out %s, which the API does not accept", tok.AccessToken)
		}
		clock.Advance(time.Minute)
	}
	if len(audiences) != 5 || audiences[0] != f.srv.URL || f.exchanges() != 5 {
		t.Errorf("GitHub asked %d times with audiences %v, %d exchanges; want a fresh token for each of 5 exchanges", len(audiences), audiences, f.exchanges())
	}
}

func TestExchangeSubject(t *testing.T) {
	clock := newClock()
	f := newFakeFederation(t, clock)
	t.Setenv("KEYWARD_TEST_SUBJECT", f.subject(10*time.Minute))
	resp, err := client.ExchangeSubject(context.Background(), client.FederatedConfig{Server: f.srv.URL, Subject: client.SubjectFromEnv("KEYWARD_TEST_SUBJECT"), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	// The access token lives no longer than the subject token.
	if resp.ExpiresIn != 600 || resp.RefreshToken != "" || resp.IssuedTokenType != client.TokenTypeAccessToken {
		t.Errorf("ExchangeSubject = %+v", resp)
	}
	t.Setenv("KEYWARD_TEST_SUBJECT", "")
	_, err = client.ExchangeSubject(context.Background(), client.FederatedConfig{Server: f.srv.URL, Subject: client.SubjectFromEnv("KEYWARD_TEST_SUBJECT")})
	if err == nil || !strings.Contains(err.Error(), "KEYWARD_TEST_SUBJECT") {
		t.Errorf("empty variable: err = %v; want one naming it", err)
	}
}

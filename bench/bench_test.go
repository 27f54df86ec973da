package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/internal/keyring"
	"github.com/keyward/keyward/internal/token"
)

func TestPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      int
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one sample is every percentile", ms(7), 99, 7 * time.Millisecond},
		{"median of an even count is the lower middle", ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"median of an odd count is the middle", ms(1, 2, 3, 4, 5), 50, 3 * time.Millisecond},
		{"p99 of 100 is the 99th", hundred, 99, 99 * time.Millisecond},
		{"p50 of 100 is the 50th", hundred, 50, 50 * time.Millisecond},
		{"p100 is the maximum", hundred, 100, 100 * time.Millisecond},
		{"p99 of 10 is the maximum: no interpolation", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 1000), 99, 1000 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := percentile(tt.sorted, tt.p); got != tt.want {
			t.Errorf("%s: percentile(p%d) = %v, want %v", tt.name, tt.p, got, tt.want)
		}
	}
}

func TestRefreshTokenOf(t *testing.T) {
	tests := []struct {
		body string
		want string
		ok   bool
	}{
		{`{"access_token":"a.b.c","refresh_token":"r1","expires_in":7200}`, "r1", true},
		{`{"refresh_token":"abcDEF-_012"}`, "abcDEF-_012", true},
		{`{"refresh_token":""}`, "", false},
		{`{"refresh_token":"unterminated`, "", false},
		{`{"refresh_token":"with\"escape"}`, "", false},
		{`{"error":"invalid_grant"}`, "", false},
		{`{"refresh_token": "spaced"}`, "", false},
	}
	for _, tt := range tests {
		got, ok := refreshTokenOf([]byte(tt.body))
		if got != tt.want || ok != tt.ok {
			t.Errorf("refreshTokenOf(%s) = %q, %v; want %q, %v", tt.body, got, ok, tt.want, tt.ok)
		}
	}
}

func FuzzRefreshTokenOf(f *testing.F) {
	f.Add([]byte(`{"access_token":"a.b.c","refresh_token":"r1"}`))
	f.Add([]byte(`"refresh_token":"`))
	f.Fuzz(func(t *testing.T, body []byte) {
		tok, ok := refreshTokenOf(body)
		if !ok {
			return
		}
		if tok == "" || strings.ContainsAny(tok, `"\`) || !bytes.Contains(body, []byte(`"refresh_token":"`+tok+`"`)) {
			t.Fatalf("refreshTokenOf(%q) = %q", body, tok)
		}
	})
}

// testClaims are a key's claims as keyward writes them, for tokens of issuer.
func testClaims(issuer string) *token.Claims {
	return &token.Claims{
		Issuer: issuer, Subject: "key:AbCdEfGhIjKlMnOp", Audience: []string{issuer}, Expiry: time.Now().Add(time.Hour),
		ClientID: "AbCdEfGhIjKlMnOp", Scope: slices.Clone(benchPermissions), SessionID: "ses_0123456789abcdef",
		Project: "prj_0123456789abcdef",
	}
}

func TestCeilingHandler(t *testing.T) {
	const issuer = "http://127.0.0.1:8080"
	ctx := context.Background()
	keys, err := newCeilingKeys(ctx, time.Hour, issuer, issuer)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := *testClaims(issuer)
	h, err := newCeilingHandler(ctx, ceilingConfig{Keys: keys.keys, TokenTTL: keys.tokenTTL, Template: tmpl, Lifetime: time.Hour}, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	seen := map[string]bool{}
	for range 3 {
		resp, err := http.Post(srv.URL, formContentType, strings.NewReader("grant_type=client_credentials"))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		var tr client.TokenResponse
		if err := json.Unmarshal(body, &tr); err != nil {
			t.Fatalf("answer %s: %v", body, err)
		}
		c, err := keys.verifier.Verify(tr.AccessToken)
		if err != nil {
			t.Fatalf("ceiling token does not verify: %v", err)
		}
		if c.Subject != tmpl.Subject || !slices.Equal(c.Scope, tmpl.Scope) || c.SessionID != tmpl.SessionID || c.Project != tmpl.Project {
			t.Errorf("claims %+v do not follow the template %+v", c, tmpl)
		}
		if c.ID == "" || seen[c.ID] {
			t.Errorf("jti %q: want a fresh one", c.ID)
		}
		seen[c.ID] = true
		if c.Expiry.Sub(c.IssuedAt) != time.Hour || tr.ExpiresIn != 3600 {
			t.Errorf("lifetime %s, expires_in %d, want 1h", c.Expiry.Sub(c.IssuedAt), tr.ExpiresIn)
		}
	}
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: status %d, want 405", resp.StatusCode)
	}
}

// fakeKeyward is a token endpoint with keyward's rules that matter to the load generator: Basic
// client credentials, single-use refresh tokens, reuse rejected. It signs with keyward's minter
// and publishes its metadata and JWKS, so the bench verifies its tokens as it does keyward's.
type fakeKeyward struct {
	t      testing.TB
	url    string
	keyset *keyring.Keyring
	minter *token.Minter
	keys   map[string]string // Authorization header → key id

	mu        sync.Mutex
	refresh   map[string]string // refresh token → session id; deleted when spent
	spent     map[string]bool
	used      map[string]int // Authorization header → exchanges
	reuses    int
	exchanges int
	refreshes int
	failEvery int64 // when > 0, every failEvery-th refresh gets 400
	count     atomic.Int64
}

// newFakeKeyward serves a fake keyward on 127.0.0.1 and returns it with its token endpoint.
func newFakeKeyward(t *testing.T, keys []benchKey) (*fakeKeyward, endpoint) {
	t.Helper()
	kr, err := keyring.New(context.Background(), keyring.NewMemoryStore(keyward.SigningKeySet{}), keyring.Config{})
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeKeyward{t: t, keyset: kr, minter: &token.Minter{Keys: kr}, keys: map[string]string{},
		refresh: map[string]string{}, spent: map[string]bool{}, used: map[string]int{}}
	for _, k := range keys {
		f.keys[k.basic] = k.id
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"issuer": f.url, "jwks_uri": f.url + "/.well-known/jwks.json", "token_endpoint": f.url + "/oauth/token"})
	})
	mux.HandleFunc("GET /.well-known/jwks.json", func(w http.ResponseWriter, r *http.Request) { w.Write(kr.JWKS()) })
	mux.HandleFunc("POST /oauth/token", f.token)
	f.url = loopbackServer(t, mux)
	v, err := tokenVerifier(context.Background(), f.url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return f, endpoint{url: f.url + "/oauth/token", tokens: v}
}

func (f *fakeKeyward) mint(c *token.Claims) string {
	tok, err := f.minter.Mint(c)
	if err != nil {
		f.t.Error(err)
	}
	return tok
}

func (f *fakeKeyward) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.Header.Get("Content-Type") != formContentType {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	if r.PostForm.Get("grant_type") == "refresh_token" && f.failEvery > 0 && f.count.Add(1)%f.failEvery == 0 {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error":"invalid_request","error_description":"injected"}`)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var keyID, sid string
	switch r.PostForm.Get("grant_type") {
	case "client_credentials":
		id, ok := f.keys[r.Header.Get("Authorization")]
		if !ok {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":"invalid_client"}`)
			return
		}
		f.used[r.Header.Get("Authorization")]++
		f.exchanges++
		keyID, sid = id, fmt.Sprintf("ses_%016d", f.exchanges)
	case "refresh_token":
		tok := r.PostForm.Get("refresh_token")
		s, ok := f.refresh[tok]
		if !ok {
			if f.spent[tok] {
				f.reuses++
			}
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":"invalid_grant"}`)
			return
		}
		delete(f.refresh, tok)
		f.spent[tok] = true
		f.refreshes++
		sid = s[:20]
		keyID = s[21:]
	default:
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error":"unsupported_grant_type"}`)
		return
	}
	c := testClaims(f.url)
	c.Subject, c.ClientID, c.SessionID = "key:"+keyID, keyID, sid
	rt, _ := randomText(43)
	f.refresh[rt] = sid + "/" + keyID
	json.NewEncoder(w).Encode(client.TokenResponse{AccessToken: f.mint(c), TokenType: "Bearer", ExpiresIn: 3600,
		RefreshToken: rt, RefreshExpiresIn: 10800, Scope: strings.Join(c.Scope, " ")})
}

func testKeys(n int) []benchKey {
	keys := make([]benchKey, n)
	for i := range keys {
		id := fmt.Sprintf("Key%013d", i)
		secret := "kw_" + id + "secret"
		keys[i] = benchKey{id: id, secret: secret, basic: basicAuth(id, secret)}
	}
	return keys
}

// loopbackServer serves h on 127.0.0.1, where the bench's transport is allowed to go.
func loopbackServer(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
		t.Skipf("httptest listens on %s, not 127.0.0.1", srv.URL)
	}
	return srv.URL
}

func testOptions() *options {
	return &options{connections: 4, duration: time.Second, warmup: 0, maxRequests: 400}
}

func TestRefreshChainsNeverReuse(t *testing.T) {
	keys := testKeys(3)
	fake, to := newFakeKeyward(t, keys)
	o := testOptions()
	o.warmup = 300 * time.Millisecond
	r, err := runScenario(context.Background(), scenarioRefresh, &refreshTarget{to: []endpoint{to}, keys: keys}, o, nil, os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if r.errors != 0 || fake.reuses != 0 {
		t.Fatalf("errors %d (%s), reuses seen by the server %d; want none", r.errors, r.errorSummary(), fake.reuses)
	}
	if r.requests == 0 {
		t.Fatal("no request measured")
	}
	// One exchange per connection to start its chain, and then only refreshes: the first,
	// verified one, the warm-up's and the measured ones.
	if want := 1 + r.warmup + r.requests; fake.exchanges != o.connections || fake.refreshes != want {
		t.Errorf("server saw %d exchanges and %d refreshes; want %d and %d", fake.exchanges, fake.refreshes, o.connections, want)
	}
	if r.dials != 0 {
		t.Errorf("%d connections opened while measuring, after the warm-up opened them all; want them reused", r.dials)
	}
}

func TestErrorsAreCountedAndChainsRestart(t *testing.T) {
	keys := testKeys(2)
	fake, to := newFakeKeyward(t, keys)
	fake.failEvery = 7
	o := testOptions()
	o.maxRequests = 200
	// The first request must succeed for the scenario to start; failures come after it.
	r, err := runScenario(context.Background(), scenarioRefresh, &refreshTarget{to: []endpoint{to}, keys: keys}, o, nil, os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if r.errors == 0 || r.kinds["HTTP 400 invalid_request"] != r.errors {
		t.Fatalf("errors %d, kinds %v; want every injected 400 counted", r.errors, r.kinds)
	}
	if !strings.Contains(r.sample, "injected") {
		t.Errorf("error sample %q does not show the body", r.sample)
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if fake.reuses != 0 {
		t.Errorf("after a failure a chain reused a spent token %d times; it must start a new session", fake.reuses)
	}
}

func TestExchangeUsesEveryKey(t *testing.T) {
	keys := testKeys(5)
	fake, to := newFakeKeyward(t, keys)
	o := testOptions()
	o.connections, o.maxRequests = 3, 60
	r, err := runScenario(context.Background(), scenarioExchange, &exchangeTarget{to: []endpoint{to}, keys: keys}, o, nil, os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if r.errors != 0 {
		t.Fatalf("errors: %s", r.errorSummary())
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if len(fake.used) != len(keys) {
		t.Errorf("%d of %d keys used", len(fake.used), len(keys))
	}
}

func TestFirstAnswerIsVerified(t *testing.T) {
	keys := testKeys(1)
	// A server that answers 200 with something that is not a token must stop the run.
	url := loopbackServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"access_token":"not-a-jwt","token_type":"Bearer","refresh_token":"x"}`)
	}))
	_, to := newFakeKeyward(t, keys)
	to.url = url
	_, err := runScenario(context.Background(), scenarioExchange, &exchangeTarget{to: []endpoint{to}, keys: keys}, testOptions(), nil, os.Getpid())
	if err == nil || !strings.Contains(err.Error(), "first answer") {
		t.Fatalf("err = %v, want the first answer rejected", err)
	}
}

func TestCheckKeywardAnswer(t *testing.T) {
	fake, to := newFakeKeyward(t, nil)
	good := testClaims(fake.url)
	answer := func(edit func(c *token.Claims, tr *client.TokenResponse)) []byte {
		c := *good
		tr := client.TokenResponse{TokenType: "Bearer", ExpiresIn: 3600, RefreshToken: strings.Repeat("r", 43), RefreshExpiresIn: 10800, Scope: strings.Join(c.Scope, " ")}
		if edit != nil {
			edit(&c, &tr)
		}
		tr.AccessToken = fake.mint(&c)
		b, _ := json.Marshal(tr)
		return b
	}
	if _, _, err := checkKeywardAnswer(answer(nil), to.tokens, good.ClientID); err != nil {
		t.Fatalf("good answer rejected: %v", err)
	}
	for name, edit := range map[string]func(*token.Claims, *client.TokenResponse){
		"other key": func(c *token.Claims, _ *client.TokenResponse) {
			c.Subject, c.ClientID = "key:Other0000000000", "Other0000000000"
		},
		"user token": func(c *token.Claims, _ *client.TokenResponse) { c.Subject = "user:" + c.ClientID },
		"expired": func(c *token.Claims, _ *client.TokenResponse) {
			c.IssuedAt, c.Expiry = time.Now().Add(-time.Hour), time.Now().Add(-time.Minute)
		},
		"other issuer":       func(c *token.Claims, _ *client.TokenResponse) { c.Issuer = "http://127.0.0.1:1" },
		"missing permission": func(c *token.Claims, _ *client.TokenResponse) { c.Scope = []string{"containers-view"} },
		"no session":         func(c *token.Claims, _ *client.TokenResponse) { c.SessionID = "" },
		"short refresh":      func(_ *token.Claims, tr *client.TokenResponse) { tr.RefreshToken = "short" },
		"not bearer":         func(_ *token.Claims, tr *client.TokenResponse) { tr.TokenType = "mac" },
	} {
		if _, _, err := checkKeywardAnswer(answer(edit), to.tokens, good.ClientID); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// A token signed by another issuer's key, even one with the same claims, is refused.
	_, other := newFakeKeyward(t, nil)
	if _, _, err := checkKeywardAnswer(answer(nil), other.tokens, good.ClientID); err == nil {
		t.Error("a token of another signing key: accepted")
	}
}

func TestTransportOnlyLoopback(t *testing.T) {
	c := &http.Client{Transport: newTransport(1, nil)}
	for _, u := range []string{"http://localhost:9/", "http://192.0.2.1:80/", "http://[::1]:9/"} {
		_, err := c.Get(u)
		if err == nil || !strings.Contains(err.Error(), "only sends load to 127.0.0.1") {
			t.Errorf("GET %s: err = %v, want it refused", u, err)
		}
	}
}

func TestParseFlags(t *testing.T) {
	o, err := parseFlags([]string{"-only", "refresh, exchange"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(o.only, ",") != "exchange,refresh" || o.keys != 64 || o.connections != 32 || o.duration != 10*time.Second {
		t.Errorf("parsed %+v", o)
	}
	for _, args := range [][]string{
		{"-only", "exchange,bogus"},
		{"-keys", "0"},
		{"-duration", "100ms"},
		{"-db", "sqlite:/tmp/x.db"},
		{"-only", "refresh", "-profile", "cpu.prof"},
		{"extra"},
		{"-instances", "0"},
		{"-instances", "2"}, // SQLite serves one process
		{"-compare"},        // nothing to compare SQLite with
		{"-db", "postgres://db/kw", "-instances", "2", "-profile", "cpu.prof"},
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("parseFlags(%q) accepted", args)
		}
	}
}

func TestSetups(t *testing.T) {
	const pg = "postgres://db/kw"
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{nil, []string{"SQLite"}},
		{[]string{"-db", pg}, []string{"PostgreSQL"}},
		{[]string{"-db", pg, "-instances", "3"}, []string{"PostgreSQL, 3 instances"}},
		{[]string{"-db", pg, "-compare"}, []string{"SQLite", "PostgreSQL", "PostgreSQL, 2 instances"}},
		{[]string{"-db", pg, "-compare", "-instances", "3"}, []string{"SQLite", "PostgreSQL", "PostgreSQL, 3 instances"}},
	} {
		o, err := parseFlags(tc.args, io.Discard)
		if err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		var got []string
		for _, s := range o.setups() {
			got = append(got, s.kind())
			if (s.db == "") != (s.kind() == "SQLite") {
				t.Errorf("%q: setup %q has database %q", tc.args, s.kind(), s.db)
			}
		}
		if strings.Join(got, "; ") != strings.Join(tc.want, "; ") {
			t.Errorf("%q: setups %q, want %q", tc.args, got, tc.want)
		}
	}
}

// TestConnectionsSpreadOverInstances: with two instances, every worker keeps to one of them and
// each instance gets half the connections.
func TestConnectionsSpreadOverInstances(t *testing.T) {
	var mu sync.Mutex
	hits := map[string]map[string]bool{} // instance → keys seen
	var urls []string
	for _, name := range []string{"a", "b"} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			if hits[name] == nil {
				hits[name] = map[string]bool{}
			}
			hits[name][r.Header.Get("Authorization")] = true
			mu.Unlock()
			w.WriteHeader(http.StatusTeapot)
		}))
		t.Cleanup(srv.Close)
		urls = append(urls, srv.URL)
	}
	keys := make([]benchKey, 8)
	for i := range keys {
		keys[i] = benchKey{id: strconv.Itoa(i), basic: "Basic " + strconv.Itoa(i)}
	}
	var to []endpoint
	for _, u := range urls {
		to = append(to, endpoint{url: u})
	}
	tgt := &exchangeTarget{to: to, keys: keys}
	if err := tgt.start(context.Background(), nil, 4); err != nil {
		t.Fatal(err)
	}
	for round := range 4 {
		for w := range 4 {
			req, err := tgt.request(context.Background(), w)
			if err != nil {
				t.Fatal(err)
			}
			if want := urls[w%2]; !strings.HasPrefix(req.URL.String(), want) {
				t.Fatalf("round %d: worker %d sends to %s, want %s", round, w, req.URL, want)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}
	}
	if len(hits["a"]) != 4 || len(hits["b"]) != 4 {
		t.Errorf("keys per instance: a %d, b %d, want 4 and 4 (each key on one instance)", len(hits["a"]), len(hits["b"]))
	}
}

func TestRenderComparison(t *testing.T) {
	ceiling := &result{name: scenarioCeiling, requests: 20000, elapsed: 10 * time.Second}
	mk := func(name string, n int, cpu time.Duration) *result {
		return &result{name: name, requests: n, elapsed: 10 * time.Second, serverCPU: cpu, cpuKnown: true}
	}
	sections := []section{
		{spec: setupSpec{instances: 1}, results: []*result{ceiling, mk(scenarioExchange, 5000, 3*time.Second), mk(scenarioRefresh, 6000, 3*time.Second)},
			machine: machine{loadBefore: "3.00", loadAfter: "4.00"}},
		{spec: setupSpec{db: "postgres://db/kw", instances: 2}, results: []*result{mk(scenarioExchange, 4000, 4*time.Second), mk(scenarioRefresh, 2000, 4*time.Second)},
			machine: machine{loadBefore: "4.00", loadAfter: "5.00"}},
	}
	got := renderComparison(sections, ceiling)
	for _, want := range []string{
		"| SQLite | 500 | 0.25 | 600 | 0.30 | 600 µs | 500 µs |",
		"| PostgreSQL, 2 instances | 400 | 0.20 | 200 | 0.10 | 1,000 µs | 2,000 µs |",
		"2,000 requests/s",
		"SQLite 3.00 → 4.00; PostgreSQL, 2 instances 4.00 → 5.00",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("comparison lacks %q:\n%s", want, got)
		}
	}
}

func TestProcessesCPU(t *testing.T) {
	one, ok := processesCPU([]int{os.Getpid()})
	if !ok {
		t.Skip("no /proc")
	}
	two, ok := processesCPU([]int{os.Getpid(), os.Getpid()})
	if !ok || two < 2*one {
		t.Errorf("the same process twice: %s, once: %s", two, one)
	}
	if _, ok := processesCPU([]int{os.Getpid(), -1}); ok {
		t.Error("an unreadable process still counted as known")
	}
	if _, ok := processesCPU(nil); ok {
		t.Error("no process counted as known")
	}
}

func TestRenderReport(t *testing.T) {
	o := &options{connections: 32, keys: 64, warmup: 2 * time.Second, duration: 10 * time.Second}
	m := machine{cpu: "Test CPU", cores: 2, goVer: "go1.26 linux/amd64", date: time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)}
	ceiling := &result{name: scenarioCeiling, requests: 20000, elapsed: 10 * time.Second, p50: 1500 * time.Microsecond, p99: 4 * time.Millisecond,
		serverCPU: 2 * time.Second, cpuKnown: true}
	exchange := &result{name: scenarioExchange, requests: 5000, elapsed: 10 * time.Second, p50: 6 * time.Millisecond, p99: 20 * time.Millisecond, errors: 3,
		serverCPU: 3 * time.Second, cpuKnown: true}
	got := renderReport([]*result{ceiling, exchange}, m, o, "0faed07", "SQLite", 600, 598)
	for _, want := range []string{
		"| ceiling-sign | 2,000 | 1.50 ms | 4.00 ms | 0 | 1.00 | 100 µs |",
		"| exchange | 500 | 6.00 ms | 20.00 ms | 3 | 0.25 | 600 µs |",
		"Test CPU, 2 cores, go1.26 linux/amd64, 2026-01-02",
		"keyward 600 bytes, ceiling 598 bytes",
		"- Code: 0faed07.",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
	exchange.cpuKnown = false
	if got := renderReport([]*result{exchange}, m, o, "", "SQLite", 600, 0); !strings.Contains(got, "| 3 | — | — |") {
		t.Errorf("without a ceiling the ratio must be blank:\n%s", got)
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -4321: "-4,321"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestCPUModel(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cpuinfo")
	os.WriteFile(path, []byte("processor\t: 0\nvendor_id\t: Foo\nmodel name\t: Foo Bar 9000 @ 3.00GHz\n\nprocessor\t: 1\nmodel name\t: Foo Bar 9000 @ 3.00GHz\n"), 0o600)
	if got := cpuModel(path); got != "Foo Bar 9000 @ 3.00GHz" {
		t.Errorf("cpuModel = %q", got)
	}
	if got := cpuModel(filepath.Join(t.TempDir(), "missing")); got != "unknown CPU" {
		t.Errorf("cpuModel(missing) = %q", got)
	}
}

func TestParseStatCPU(t *testing.T) {
	// A command name with spaces and a parenthesis must not shift the fields.
	stat := "4158 (my (odd) cmd) R 4154 4154 10638 0 -1 4194304 121 0 0 0 250 50 0 0 20 0 1 0 128140"
	got, ok := parseStatCPU([]byte(stat))
	if !ok || got != 3*time.Second {
		t.Errorf("parseStatCPU = %v, %v; want 3s from 250+50 ticks", got, ok)
	}
	for _, bad := range []string{"", "1 (x) R 1 2", "1 (x) R 1 1 1 0 -1 0 0 0 0 0 -5 0"} {
		if _, ok := parseStatCPU([]byte(bad)); ok {
			t.Errorf("parseStatCPU(%q) accepted", bad)
		}
	}
}

func BenchmarkCeilingMint(b *testing.B) {
	const issuer = "http://127.0.0.1:8080"
	keys, err := newCeilingKeys(context.Background(), time.Hour, issuer, issuer)
	if err != nil {
		b.Fatal(err)
	}
	h, err := newCeilingHandler(context.Background(), ceilingConfig{Keys: keys.keys, TokenTTL: keys.tokenTTL, Template: *testClaims(issuer), Lifetime: time.Hour}, time.Now)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.mint(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRefreshTokenOf(b *testing.B) {
	body := []byte(`{"access_token":"` + strings.Repeat("x", 600) + `","token_type":"Bearer","expires_in":7200,"refresh_token":"` +
		strings.Repeat("r", 43) + `","refresh_expires_in":10800,"scope":"containers-view containers-manage images-view images-manage"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := refreshTokenOf(body); !ok {
			b.Fatal("no token")
		}
	}
}

package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
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

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestDerToRaw(t *testing.T) {
	key := newKey(t)
	digest := sha256.Sum256([]byte("payload"))
	// Signatures whose r or s is short or has its top bit set exercise padding and the sign byte;
	// a few hundred make both likely.
	for range 300 {
		der, err := ecdsa.SignASN1(rand.Reader, key, digest[:])
		if err != nil {
			t.Fatal(err)
		}
		var raw [64]byte
		if err := derToRaw(der, raw[:]); err != nil {
			t.Fatalf("derToRaw(%x): %v", der, err)
		}
		r, s := new(big.Int).SetBytes(raw[:32]), new(big.Int).SetBytes(raw[32:])
		if !ecdsa.Verify(&key.PublicKey, digest[:], r, s) {
			t.Fatalf("r||s from %x does not verify", der)
		}
	}
	bad := map[string][]byte{
		"empty":            {},
		"not a sequence":   {0x31, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01},
		"length mismatch":  {0x30, 0x07, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01},
		"one integer":      {0x30, 0x03, 0x02, 0x01, 0x01},
		"trailing integer": {0x30, 0x09, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01},
		"negative":         {0x30, 0x06, 0x02, 0x01, 0x81, 0x02, 0x01, 0x01},
		"empty integer":    {0x30, 0x05, 0x02, 0x00, 0x02, 0x01, 0x01},
		"too long":         append([]byte{0x30, 0x25, 0x02, 0x21, 0x01}, append(bytes.Repeat([]byte{1}, 32), 0x02, 0x01, 0x01)...),
	}
	for name, der := range bad {
		var raw [64]byte
		if err := derToRaw(der, raw[:]); err == nil {
			t.Errorf("%s: derToRaw(%x) accepted it", name, der)
		}
	}
}

func testClaims() *accessClaims {
	return &accessClaims{
		Issuer: "http://127.0.0.1:8080", Subject: "key:AbCdEfGhIjKlMnOp", Audience: json.RawMessage(`"http://127.0.0.1:8080"`),
		Expiry: time.Now().Add(2 * time.Hour).Unix(), IssuedAt: time.Now().Unix(), ID: "0123456789abcdefABCDEF",
		ClientID: "AbCdEfGhIjKlMnOp", Scope: strings.Join(benchPermissions, " "), SessionID: "ses_0123456789abcdef",
		Project: "prj_0123456789abcdef",
	}
}

func TestSignAndVerify(t *testing.T) {
	key := newKey(t)
	s, err := newES256Signer(key, "k1")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.sign(testClaims())
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]*ecdsa.PublicKey{"k1": &key.PublicKey}
	h, c, err := verifyES256(tok, keys)
	if err != nil {
		t.Fatalf("verify own token: %v", err)
	}
	if h.Typ != "at+jwt" || h.Alg != "ES256" || c.Subject != testClaims().Subject {
		t.Fatalf("header %+v claims %+v", h, c)
	}

	parts := strings.Split(tok, ".")
	other, _ := newES256Signer(newKey(t), "k1")
	forged, _ := other.sign(testClaims())
	noneHeader := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"k1","typ":"at+jwt"}`))
	otherPayload := base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"key:someone-else"}`))
	for name, raw := range map[string]string{
		"payload swapped":  parts[0] + "." + otherPayload + "." + parts[2],
		"signed elsewhere": forged,
		"alg none":         noneHeader + "." + parts[1] + ".",
		"unknown kid":      strings.Replace(tok, parts[0], base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"ES256","kid":"k2","typ":"at+jwt"}`)), 1),
		"two parts":        parts[0] + "." + parts[1],
		"padded base64":    tok + "==",
	} {
		if _, _, err := verifyES256(raw, keys); err == nil {
			t.Errorf("%s: verified", name)
		}
	}
}

func FuzzVerifyES256(f *testing.F) {
	key := newKey(f)
	s, _ := newES256Signer(key, "k1")
	tok, _ := s.sign(testClaims())
	f.Add(tok)
	f.Add("a.b.c")
	f.Add("")
	// Verification must not panic on anything a server sends, and nothing but the key's own
	// tokens may pass: the fuzzer has a different key than the verifier.
	verifier := map[string]*ecdsa.PublicKey{"k1": &newKey(f).PublicKey}
	f.Fuzz(func(t *testing.T, raw string) {
		if _, _, err := verifyES256(raw, verifier); err == nil {
			t.Fatalf("verified a token the verifier's key never signed: %q", raw)
		}
	})
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

func TestCeilingHandler(t *testing.T) {
	key := newKey(t)
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := testClaims()
	h, err := newCeilingHandler(ceilingConfig{Key: der, Kid: "kid-1", Claims: *tmpl, JTILength: len(tmpl.ID)}, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	keys := map[string]*ecdsa.PublicKey{"kid-1": &key.PublicKey}

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
		var tr tokenResponse
		if err := json.Unmarshal(body, &tr); err != nil {
			t.Fatalf("answer %s: %v", body, err)
		}
		_, c, err := verifyES256(tr.AccessToken, keys)
		if err != nil {
			t.Fatalf("ceiling token does not verify: %v", err)
		}
		if c.Subject != tmpl.Subject || c.Scope != tmpl.Scope || c.SessionID != tmpl.SessionID || string(c.Audience) != string(tmpl.Audience) {
			t.Errorf("claims %+v do not follow the template %+v", c, tmpl)
		}
		if len(c.ID) != len(tmpl.ID) || seen[c.ID] {
			t.Errorf("jti %q: want a fresh one of %d characters", c.ID, len(tmpl.ID))
		}
		seen[c.ID] = true
		if c.Expiry-c.IssuedAt != tmpl.Expiry-tmpl.IssuedAt || tr.ExpiresIn != tmpl.Expiry-tmpl.IssuedAt {
			t.Errorf("lifetime %d s, expires_in %d, want %d", c.Expiry-c.IssuedAt, tr.ExpiresIn, tmpl.Expiry-tmpl.IssuedAt)
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
// client credentials, single-use refresh tokens, reuse rejected.
type fakeKeyward struct {
	t      testing.TB
	signer *es256Signer
	keys   map[string]string // Authorization header → key id

	mu        sync.Mutex
	refresh   map[string]string // refresh token → session id; deleted when spent
	spent     map[string]bool
	reuses    int
	exchanges int
	refreshes int
	failEvery int64 // when > 0, every failEvery-th refresh gets 400
	count     atomic.Int64
}

func newFakeKeyward(t testing.TB, keys []benchKey) (*fakeKeyward, map[string]*ecdsa.PublicKey) {
	key := newKey(t)
	s, err := newES256Signer(key, "fake")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeKeyward{t: t, signer: s, keys: map[string]string{}, refresh: map[string]string{}, spent: map[string]bool{}}
	for _, k := range keys {
		f.keys[k.basic] = k.id
	}
	return f, map[string]*ecdsa.PublicKey{"fake": &key.PublicKey}
}

func (f *fakeKeyward) ServeHTTP(w http.ResponseWriter, r *http.Request) {
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
	c := testClaims()
	c.Subject, c.ClientID, c.SessionID = "key:"+keyID, keyID, sid
	at, err := f.signer.sign(c)
	if err != nil {
		f.t.Error(err)
		return
	}
	rt, _ := randomText(43)
	f.refresh[rt] = sid + "/" + keyID
	json.NewEncoder(w).Encode(tokenResponse{AccessToken: at, TokenType: "Bearer", ExpiresIn: 7200,
		RefreshToken: rt, RefreshExpiresIn: 10800, Scope: c.Scope})
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
	fake, jwks := newFakeKeyward(t, keys)
	url := loopbackServer(t, fake)
	o := testOptions()
	o.warmup = 300 * time.Millisecond
	r, err := runScenario(context.Background(), scenarioRefresh, &refreshTarget{url: url, keys: keys, jwks: jwks}, o, nil, os.Getpid())
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
	fake, jwks := newFakeKeyward(t, keys)
	fake.failEvery = 7
	url := loopbackServer(t, fake)
	o := testOptions()
	o.maxRequests = 200
	// The first request must succeed for the scenario to start; failures come after it.
	r, err := runScenario(context.Background(), scenarioRefresh, &refreshTarget{url: url, keys: keys, jwks: jwks}, o, nil, os.Getpid())
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
	used := map[string]int{}
	var mu sync.Mutex
	fake, jwks := newFakeKeyward(t, keys)
	url := loopbackServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		used[r.Header.Get("Authorization")]++
		mu.Unlock()
		fake.ServeHTTP(w, r)
	}))
	o := testOptions()
	o.connections, o.maxRequests = 3, 60
	r, err := runScenario(context.Background(), scenarioExchange, &exchangeTarget{url: url, keys: keys, jwks: jwks}, o, nil, os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if r.errors != 0 {
		t.Fatalf("errors: %s", r.errorSummary())
	}
	if len(used) != len(keys) {
		t.Errorf("%d of %d keys used", len(used), len(keys))
	}
}

func TestFirstAnswerIsVerified(t *testing.T) {
	keys := testKeys(1)
	// A server that answers 200 with something that is not a token must stop the run.
	url := loopbackServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"access_token":"not-a-jwt","token_type":"Bearer","refresh_token":"x"}`)
	}))
	_, jwks := newFakeKeyward(t, keys)
	_, err := runScenario(context.Background(), scenarioExchange, &exchangeTarget{url: url, keys: keys, jwks: jwks}, testOptions(), nil, os.Getpid())
	if err == nil || !strings.Contains(err.Error(), "first answer") {
		t.Fatalf("err = %v, want the first answer rejected", err)
	}
}

func TestCheckKeywardAnswer(t *testing.T) {
	key := newKey(t)
	s, _ := newES256Signer(key, "k")
	jwks := map[string]*ecdsa.PublicKey{"k": &key.PublicKey}
	good := testClaims()
	answer := func(edit func(c *accessClaims, tr *tokenResponse)) []byte {
		c := *good
		tr := tokenResponse{TokenType: "Bearer", ExpiresIn: 7200, RefreshToken: strings.Repeat("r", 43), RefreshExpiresIn: 10800, Scope: c.Scope}
		if edit != nil {
			edit(&c, &tr)
		}
		tr.AccessToken, _ = s.sign(&c)
		b, _ := json.Marshal(tr)
		return b
	}
	if _, _, _, err := checkKeywardAnswer(answer(nil), jwks, good.ClientID, time.Now()); err != nil {
		t.Fatalf("good answer rejected: %v", err)
	}
	for name, edit := range map[string]func(*accessClaims, *tokenResponse){
		"other key":          func(c *accessClaims, _ *tokenResponse) { c.Subject = "key:Other0000000000" },
		"user token":         func(c *accessClaims, _ *tokenResponse) { c.Subject = "user:" + c.ClientID },
		"expired":            func(c *accessClaims, _ *tokenResponse) { c.Expiry = time.Now().Add(-time.Minute).Unix() },
		"missing permission": func(c *accessClaims, _ *tokenResponse) { c.Scope = "containers-view" },
		"no session":         func(c *accessClaims, _ *tokenResponse) { c.SessionID = "" },
		"short refresh":      func(_ *accessClaims, tr *tokenResponse) { tr.RefreshToken = "short" },
		"not bearer":         func(_ *accessClaims, tr *tokenResponse) { tr.TokenType = "mac" },
	} {
		if _, _, _, err := checkKeywardAnswer(answer(edit), jwks, good.ClientID, time.Now()); err == nil {
			t.Errorf("%s: accepted", name)
		}
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
	tgt := &exchangeTarget{urls: urls, keys: keys}
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

func TestTail(t *testing.T) {
	if got := string(tail([]byte("a\nb\nc\nd\n"), 2)); got != "c\nd\n" {
		t.Errorf("tail = %q", got)
	}
	if got := string(tail([]byte("only"), 5)); got != "only\n" {
		t.Errorf("tail = %q", got)
	}
}

func TestChildEnvDropsKeywardVariables(t *testing.T) {
	t.Setenv("KEYWARD_PASSWORD_GRANT", "false")
	env := strings.Join(childEnv("KEYWARD_ADMIN_EMAIL=a@b.c"), "\n")
	if strings.Contains(env, "KEYWARD_PASSWORD_GRANT") || !strings.Contains(env, "KEYWARD_ADMIN_EMAIL=a@b.c") {
		t.Errorf("child environment keeps the caller's KEYWARD_* or loses the bench's own")
	}
}

func BenchmarkCeilingMint(b *testing.B) {
	key := newKey(b)
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	tmpl := testClaims()
	h, err := newCeilingHandler(ceilingConfig{Key: der, Kid: "k", Claims: *tmpl, JTILength: len(tmpl.ID)}, time.Now)
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

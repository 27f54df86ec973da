package middleware

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/keyward/keyward/internal/fakeclock"
	"github.com/keyward/keyward/revocation"
)

// testIssuer is a stand-in for a keyward server: metadata, a JWKS and a revocation feed (JSON
// pages and Server-Sent Events) that tests control, and a minter of access tokens.
type testIssuer struct {
	t   testing.TB
	srv *httptest.Server
	URL string

	mu          sync.Mutex
	keys        []signingKey // published in the JWKS; keys[0] signs
	jwksFetches int
	jwksMaxAge  int
	entries     []revocationJSON
	changed     chan struct{} // closed and replaced when entries change or streams must drop
	feedDown    bool          // the feed answers 503
	feedMute    bool          // the stream never answers, as a server that accepts and hangs
	jwksDown    bool          // the JWKS answers 503
	jwksHang    chan struct{} // when set, the JWKS answers only once it is closed
	lastEventID []string      // Last-Event-ID of each stream request
	generation  int           // streams of an older generation end
}

type signingKey struct {
	kid string
	alg jose.SignatureAlgorithm
	key any // private key
}

func newTestIssuer(t testing.TB) *testIssuer {
	t.Helper()
	is := &testIssuer{t: t, changed: make(chan struct{}), jwksMaxAge: 600}
	is.keys = []signingKey{is.newKey("k1")}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", is.metadata)
	mux.HandleFunc("GET /.well-known/jwks.json", is.jwks)
	mux.HandleFunc("GET /v1/revocations", is.revocations)
	is.srv = httptest.NewServer(mux)
	is.URL = is.srv.URL
	t.Cleanup(func() {
		is.dropStreams()
		is.srv.Close()
	})
	return is
}

func (is *testIssuer) newKey(kid string) signingKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		is.t.Fatal(err)
	}
	return signingKey{kid: kid, alg: jose.ES256, key: k}
}

func (is *testIssuer) metadata(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"issuer":%q,"token_endpoint":%q,"jwks_uri":%q}`, is.URL, is.URL+"/oauth/token", is.URL+"/.well-known/jwks.json")
}

func (is *testIssuer) jwks(w http.ResponseWriter, r *http.Request) {
	is.mu.Lock()
	is.jwksFetches++
	if hang := is.jwksHang; hang != nil {
		is.mu.Unlock()
		<-hang
		is.mu.Lock()
	}
	if is.jwksDown {
		is.mu.Unlock()
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	var set jose.JSONWebKeySet
	for _, k := range is.keys {
		jwk := jose.JSONWebKey{Key: k.key, KeyID: k.kid, Algorithm: string(k.alg), Use: "sig"}
		set.Keys = append(set.Keys, jwk.Public())
	}
	maxAge := is.jwksMaxAge
	is.mu.Unlock()
	w.Header().Set("Cache-Control", "public, max-age="+strconv.Itoa(maxAge))
	w.Header().Set("Content-Type", "application/jwk-set+json")
	_ = json.NewEncoder(w).Encode(set)
}

func (is *testIssuer) fetches() int {
	is.mu.Lock()
	defer is.mu.Unlock()
	return is.jwksFetches
}

// rotate publishes a new signing key, which signs from now on.
func (is *testIssuer) rotate(kid string) {
	k := is.newKey(kid)
	is.mu.Lock()
	defer is.mu.Unlock()
	is.keys = append([]signingKey{k}, is.keys...)
}

// revoke appends a feed entry for a session or key id, named as keyward's feed names it.
func (is *testIssuer) revoke(typ, id string, expires time.Time) {
	is.revokeAs(typ, revocation.Name(typ, id), expires)
}

// revokeAs appends a feed entry with the id exactly as given.
func (is *testIssuer) revokeAs(typ, id string, expires time.Time) {
	is.mu.Lock()
	defer is.mu.Unlock()
	seq := len(is.entries) + 1
	is.entries = append(is.entries, revocationJSON{Cursor: strconv.Itoa(seq), Type: typ, ID: id, ExpiresAt: expires})
	close(is.changed)
	is.changed = make(chan struct{})
}

// dropStreams ends every open SSE connection.
func (is *testIssuer) dropStreams() {
	is.mu.Lock()
	defer is.mu.Unlock()
	close(is.changed)
	is.changed = make(chan struct{})
	is.generation++
}

func (is *testIssuer) setFeedDown(down bool) {
	is.mu.Lock()
	is.feedDown = down
	is.mu.Unlock()
	if down {
		is.dropStreams()
	}
}

func (is *testIssuer) streamCount() (opened int, lastEventIDs []string) {
	is.mu.Lock()
	defer is.mu.Unlock()
	return len(is.lastEventID), append([]string(nil), is.lastEventID...)
}

func (is *testIssuer) revocations(w http.ResponseWriter, r *http.Request) {
	is.mu.Lock()
	down := is.feedDown
	is.mu.Unlock()
	if down {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	after, _ := strconv.Atoi(r.URL.Query().Get("after"))
	if r.Header.Get("Accept") != "text/event-stream" {
		is.mu.Lock()
		page := revocationPage{Data: []revocationJSON{}, Cursor: strconv.Itoa(after)}
		for _, e := range is.entries[min(after, len(is.entries)):] {
			page.Data = append(page.Data, e)
			page.Cursor = e.Cursor
			if len(page.Data) == 2 { // small pages exercise the catch-up loop
				break
			}
		}
		is.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(page)
		return
	}
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		after, _ = strconv.Atoi(id)
	}
	is.mu.Lock()
	is.lastEventID = append(is.lastEventID, r.Header.Get("Last-Event-ID"))
	generation, mute := is.generation, is.feedMute
	is.mu.Unlock()
	if mute {
		<-r.Context().Done()
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, "retry: 1000\n: test feed\n\n")
	w.(http.Flusher).Flush()
	for {
		is.mu.Lock()
		if is.generation != generation {
			is.mu.Unlock()
			return
		}
		pending := append([]revocationJSON(nil), is.entries[min(after, len(is.entries)):]...)
		changed := is.changed
		is.mu.Unlock()
		for _, e := range pending {
			data, _ := json.Marshal(e)
			fmt.Fprintf(w, "id: %s\ndata: %s\n\n", e.Cursor, data)
			after, _ = strconv.Atoi(e.Cursor)
		}
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
			return
		case <-changed:
		}
	}
}

// claims are the default claims of a key's token; tests change them.
func (is *testIssuer) claims(now time.Time) map[string]any {
	return map[string]any{
		"iss": is.URL, "aud": is.URL, "sub": "key:AAAAAAAAAAAAAAAA", "client_id": "AAAAAAAAAAAAAAAA",
		"exp": now.Add(time.Hour).Unix(), "iat": now.Unix(), "jti": "jti-1",
		"scope": "containers-view images-view", "sid": "ses_1", "project": "prj_1",
	}
}

// mint signs claims with the current key, with header typ at+jwt and kid, plus extra headers.
func (is *testIssuer) mint(claims map[string]any, extra map[jose.HeaderKey]any) string {
	is.t.Helper()
	is.mu.Lock()
	k := is.keys[0]
	is.mu.Unlock()
	return mintWith(is.t, k, claims, extra)
}

func mintWith(t testing.TB, k signingKey, claims map[string]any, extra map[jose.HeaderKey]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", k.kid)
	for name, v := range extra {
		opts = opts.WithHeader(name, v)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: k.key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// newTestClock returns a clock standing at the current second.
func newTestClock() *fakeclock.Clock { return fakeclock.New(time.Now().Truncate(time.Second)) }

// newVerifier starts a Verifier of the issuer, closed when the test ends.
func newVerifier(t testing.TB, is *testIssuer, clock *fakeclock.Clock, mutate ...func(*Config)) *Verifier {
	t.Helper()
	c := Config{Issuer: is.URL, Now: clock.Now}
	for _, m := range mutate {
		m(&c)
	}
	v, err := New(context.Background(), c)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

// eventually polls cond until it holds or the deadline passes; the deadline is generous because
// test machines are shared, and the product's one-second promise is checked end to end.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not happen", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

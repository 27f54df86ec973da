package middleware

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/keyward/keyward/dpop"
	"github.com/keyward/keyward/internal/fakeclock"
)

const apiURL = "https://api.example.com"

// dpopFixture is an issuer, a verifier behind a proxy at apiURL, and a client key its tokens are
// bound to.
type dpopFixture struct {
	is    *testIssuer
	clock *fakeclock.Clock
	v     *Verifier
	key   *ecdsa.PrivateKey
	token string // bound to key
}

func newDPoPFixture(t *testing.T, mutate ...func(*Config)) *dpopFixture {
	t.Helper()
	f := &dpopFixture{is: newTestIssuer(t), clock: newTestClock(), key: mustECDSA(t, elliptic.P256())}
	f.v = newVerifier(t, f.is, f.clock, append([]func(*Config){func(c *Config) { c.PublicURL = apiURL }}, mutate...)...)
	f.token = f.mintBound(dpop.Thumbprint(f.key.Public()))
	return f
}

func (f *dpopFixture) mintBound(jkt string) string {
	c := f.is.claims(f.clock.Now())
	c["cnf"] = map[string]string{"jkt": jkt}
	return f.is.mint(c, nil)
}

// request is a request to path as the proxy forwards it, with the given headers.
func (f *dpopFixture) request(method, path, auth, proof string) *http.Request {
	r := httptest.NewRequest(method, "http://10.0.0.5:8000"+path, nil)
	r.RemoteAddr = "127.0.0.1:40000"
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	if proof != "" {
		r.Header.Set("DPoP", proof)
	}
	return r
}

func (f *dpopFixture) proof(t *testing.T, key *ecdsa.PrivateKey, method, url string, opts ...dpop.ProofOption) string {
	t.Helper()
	p, err := dpop.NewProof(key, method, url, append([]dpop.ProofOption{dpop.WithTime(f.clock.Now())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDPoPAccepted(t *testing.T) {
	f := newDPoPFixture(t)
	proof := f.proof(t, f.key, "GET", apiURL+"/v1/things?page=2", dpop.WithAccessToken(f.token))
	w, c := serve(f.v, f.request("GET", "/v1/things?page=2", "DPoP "+f.token, proof))
	if w.Code != http.StatusNoContent || c == nil {
		t.Fatalf("status %d (%s), WWW-Authenticate %q", w.Code, w.Body, w.Header().Get("WWW-Authenticate"))
	}
	if c.JKT != dpop.Thumbprint(f.key.Public()) {
		t.Errorf("caller's JKT %q", c.JKT)
	}
	// A second request with its own proof passes too: the cache of verified tokens does not
	// skip the proof.
	proof = f.proof(t, f.key, "POST", apiURL+"/v1/things", dpop.WithAccessToken(f.token))
	if w, _ := serve(f.v, f.request("POST", "/v1/things", "dpop "+f.token, proof)); w.Code != http.StatusNoContent {
		t.Fatalf("second request: %d %s", w.Code, w.Body)
	}
}

// TestDPoPHostile sends each hostile request of issue 15 to the API: every one is refused with
// RFC 9449's challenge and the reason.
func TestDPoPHostile(t *testing.T) {
	f := newDPoPFixture(t)
	other := mustECDSA(t, elliptic.P256())
	bearerToken := f.is.mint(f.is.claims(f.clock.Now()), nil)
	now := f.clock.Now()
	good := func() string { return f.proof(t, f.key, "GET", apiURL+"/v1/things", dpop.WithAccessToken(f.token)) }
	replayed := good()
	if w, _ := serve(f.v, f.request("GET", "/v1/things", "DPoP "+f.token, replayed)); w.Code != http.StatusNoContent {
		t.Fatalf("the proof to replay was refused: %d %s", w.Code, w.Body)
	}
	claims := map[string]any{"jti": "x1", "htm": "GET", "htu": apiURL + "/v1/things", "iat": now.Unix(), "ath": dpop.TokenHash(f.token)}
	payload, _ := json.Marshal(claims)
	hs256Proof := func() string {
		h, _ := json.Marshal(map[string]any{"typ": dpop.Type, "alg": "HS256", "jwk": jose.JSONWebKey{Key: f.key.Public()}})
		in := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(payload)
		m := hmac.New(sha256.New, []byte("k"))
		m.Write([]byte(in))
		return in + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	}()
	noneProof := func() string {
		h, _ := json.Marshal(map[string]any{"typ": dpop.Type, "alg": "none", "jwk": jose.JSONWebKey{Key: f.key.Public()}})
		return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(payload) + "."
	}()
	privateJWK := func() string {
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: f.key},
			&jose.SignerOptions{ExtraHeaders: map[jose.HeaderKey]any{"typ": dpop.Type, "jwk": jose.JSONWebKey{Key: f.key}}})
		if err != nil {
			t.Fatal(err)
		}
		jws, _ := s.Sign(payload)
		out, _ := jws.CompactSerialize()
		return out
	}()

	tests := []struct {
		name, method, auth, proof string
		status                    int
		challenge                 string
	}{
		{"missing proof", "GET", "DPoP " + f.token, "", 401, `DPoP error="invalid_dpop_proof", error_description="This access token is DPoP-bound: send a DPoP proof in the DPoP header."`},
		{"wrong htm", "GET", "DPoP " + f.token, f.proof(t, f.key, "POST", apiURL+"/v1/things", dpop.WithAccessToken(f.token)), 401, `error="invalid_dpop_proof", error_description="The DPoP proof is for another HTTP method (htm)."`},
		{"wrong htu path", "GET", "DPoP " + f.token, f.proof(t, f.key, "GET", apiURL+"/v1/other", dpop.WithAccessToken(f.token)), 401, `(htu)`},
		{"htu of the proxy's upstream", "GET", "DPoP " + f.token, f.proof(t, f.key, "GET", "http://10.0.0.5:8000/v1/things", dpop.WithAccessToken(f.token)), 401, `(htu)`},
		{"stale iat", "GET", "DPoP " + f.token, f.proof(t, f.key, "GET", apiURL+"/v1/things", dpop.WithAccessToken(f.token), dpop.WithTime(now.Add(-2*time.Minute))), 401, `(iat)`},
		{"replayed jti", "GET", "DPoP " + f.token, replayed, 401, `error_description="This DPoP proof was used before; send a fresh proof with each request."`},
		{"signed by another key than cnf.jkt", "GET", "DPoP " + f.token, f.proof(t, other, "GET", apiURL+"/v1/things", dpop.WithAccessToken(f.token)), 401, `another key than the one the access token is bound to`},
		{"no ath", "GET", "DPoP " + f.token, f.proof(t, f.key, "GET", apiURL+"/v1/things"), 401, `(ath)`},
		{"private jwk", "GET", "DPoP " + f.token, privateJWK, 401, `must be a public key`},
		{"alg none", "GET", "DPoP " + f.token, noneProof, 401, `algorithm is not allowed`},
		{"HS256", "GET", "DPoP " + f.token, hs256Proof, 401, `algorithm is not allowed`},
		{"two proofs", "GET", "DPoP " + f.token, "", 401, `more than one DPoP header`},
		{"DPoP token sent as Bearer", "GET", "Bearer " + f.token, good(), 401, `DPoP error="invalid_token", error_description="This access token is bound to a DPoP key`},
		{"bearer token sent as DPoP", "GET", "DPoP " + bearerToken, good(), 401, `DPoP error="invalid_token", error_description="This access token is not bound to a DPoP key`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.request(tt.method, "/v1/things", tt.auth, tt.proof)
			if tt.name == "two proofs" {
				r.Header.Add("DPoP", good())
				r.Header.Add("DPoP", good())
			}
			w, c := serve(f.v, r)
			if w.Code != tt.status || c != nil {
				t.Fatalf("status %d (%s); want %d", w.Code, w.Body, tt.status)
			}
			got := w.Header().Get("WWW-Authenticate")
			if !strings.Contains(got, tt.challenge) || !strings.HasPrefix(got, "DPoP ") ||
				!strings.Contains(got, `algs="ES256 RS256 PS256 EdDSA"`) ||
				!strings.Contains(got, `resource_metadata="`+apiURL+ProtectedResourcePath+`"`) {
				t.Errorf("WWW-Authenticate %q; want it to contain %q, algs and resource_metadata", got, tt.challenge)
			}
		})
	}
	// The good proof still works after all this: refusals recorded no jti.
	if w, _ := serve(f.v, f.request("GET", "/v1/things", "DPoP "+f.token, good())); w.Code != http.StatusNoContent {
		t.Errorf("a fresh proof after the refusals: %d %s", w.Code, w.Body)
	}
}

// TestDPoPWithoutPublicURL checks htu against the request's own scheme and host.
func TestDPoPWithoutPublicURL(t *testing.T) {
	f := newDPoPFixture(t, func(c *Config) { c.PublicURL = "" })
	r := httptest.NewRequest("GET", "http://api.internal:8080/v1/things", nil)
	r.Header.Set("Authorization", "DPoP "+f.token)
	r.Header.Set("DPoP", f.proof(t, f.key, "GET", "http://API.internal:8080/v1/things", dpop.WithAccessToken(f.token)))
	if w, _ := serve(f.v, r); w.Code != http.StatusNoContent {
		t.Fatalf("status %d %s", w.Code, w.Body)
	}
	if got := serveOnce(f.v, f.request("GET", "/x", "Bearer nope", "")).Header().Values("WWW-Authenticate"); len(got) != 2 || got[1] != `DPoP algs="ES256 RS256 PS256 EdDSA"` {
		t.Errorf("challenges %q; want Bearer then DPoP without resource_metadata", got)
	}
}

func serveOnce(v *Verifier, r *http.Request) *httptest.ResponseRecorder {
	w, _ := serve(v, r)
	return w
}

// TestRequireDPoP refuses bearer tokens on an API that requires DPoP, and says so in metadata.
func TestRequireDPoP(t *testing.T) {
	f := newDPoPFixture(t, func(c *Config) { c.RequireDPoP = true })
	w := serveOnce(f.v, f.request("GET", "/v1/things", "Bearer "+f.is.mint(f.is.claims(f.clock.Now()), nil), ""))
	if w.Code != 401 || !strings.Contains(w.Header().Get("WWW-Authenticate"), "only DPoP-bound access tokens") {
		t.Errorf("bearer token on a DPoP-only API: %d %q", w.Code, w.Header().Get("WWW-Authenticate"))
	}
	w = serveOnce(f.v, f.request("GET", ProtectedResourcePath, "", ""))
	var m map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil || m["dpop_bound_access_tokens_required"] != true {
		t.Errorf("metadata %s: %v", w.Body, err)
	}
}

// TestProtectedResourceMetadata checks the RFC 9728 document and that it needs no token.
func TestProtectedResourceMetadata(t *testing.T) {
	f := newDPoPFixture(t)
	w := serveOnce(f.v, f.request("GET", ProtectedResourcePath, "", ""))
	if w.Code != 200 || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("status %d %s", w.Code, w.Body)
	}
	var m struct {
		Resource             string   `json:"resource"`
		AuthorizationServers []string `json:"authorization_servers"`
		BearerMethods        []string `json:"bearer_methods_supported"`
		Algs                 []string `json:"dpop_signing_alg_values_supported"`
		Required             bool     `json:"dpop_bound_access_tokens_required"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	if m.Resource != apiURL || len(m.AuthorizationServers) != 1 || m.AuthorizationServers[0] != f.is.URL ||
		strings.Join(m.Algs, " ") != "ES256 RS256 PS256 EdDSA" || m.Required {
		t.Errorf("metadata %+v", m)
	}
	// With a path: the well-known path goes between host and path (RFC 9728 §3.1).
	g := newDPoPFixture(t, func(c *Config) { c.PublicURL = apiURL + "/containers/" })
	if got := serveOnce(g.v, g.request("GET", "/x", "", "")).Header().Get("WWW-Authenticate"); !strings.Contains(got, `resource_metadata="`+apiURL+ProtectedResourcePath+`/containers"`) {
		t.Errorf("challenge %q", got)
	}
	proof := g.proof(t, g.key, "GET", apiURL+"/containers/v1/things", dpop.WithAccessToken(g.token))
	if w := serveOnce(g.v, g.request("GET", "/v1/things", "DPoP "+g.token, proof)); w.Code != 204 {
		t.Errorf("proof for the public URL with its path: %d %s", w.Code, w.Body)
	}
	// Without PublicURL there is no resource to name.
	h := newDPoPFixture(t, func(c *Config) { c.PublicURL = "" })
	if w := serveOnce(h.v, h.request("GET", ProtectedResourcePath, "", "")); w.Code != 401 {
		t.Errorf("metadata without PublicURL: %d", w.Code)
	}
}

// TestDPoPReplayRace presents one proof from many goroutines: exactly one request passes.
func TestDPoPReplayRace(t *testing.T) {
	f := newDPoPFixture(t)
	proof := f.proof(t, f.key, "GET", apiURL+"/v1/things", dpop.WithAccessToken(f.token))
	var wg sync.WaitGroup
	var mu sync.Mutex
	passed := 0
	for range 20 {
		wg.Go(func() {
			if serveOnce(f.v, f.request("GET", "/v1/things", "DPoP "+f.token, proof)).Code == http.StatusNoContent {
				mu.Lock()
				passed++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if passed != 1 {
		t.Errorf("%d requests passed with one proof, want 1", passed)
	}
}

func TestDPoPConfig(t *testing.T) {
	is, clock := newTestIssuer(t), newTestClock()
	for _, c := range []Config{
		{Issuer: is.URL, Now: clock.Now, DPoPAlgorithms: []string{"HS256"}},
		{Issuer: is.URL, Now: clock.Now, PublicURL: "api.example.com"},
		{Issuer: is.URL, Now: clock.Now, PublicURL: "https://api.example.com/?x=1"},
	} {
		if v, err := New(t.Context(), c); err == nil {
			v.Close()
			t.Errorf("New accepted %+v", c)
		}
	}
}

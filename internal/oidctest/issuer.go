package oidctest

import (
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// Issuer is a small issuer written here, on an httptest server: its discovery document (at both
// /.well-known/openid-configuration and /.well-known/oauth-authorization-server) and JWKS, and
// tokens the test mints with its key. It plays what a real provider will not: another issuer
// whose kid a token borrows, an issuer whose discovery document names someone else, key
// rotation, and a JWKS that cannot be fetched.
type Issuer struct {
	URL string // where it is served, and the iss of the tokens it mints

	mu          sync.Mutex
	keys        []*Key // served in the JWKS; the last one signs
	claimed     string // the issuer its discovery document names
	down        bool
	jwksFetches int
	discoveries int
}

// IssuerOption changes an Issuer before it serves.
type IssuerOption func(*Issuer)

// Claiming makes the discovery document name issuer instead of the issuer's own URL: the rogue
// of OpenID Connect Discovery §4.3, whose tokens a verifier must refuse whatever they say.
func Claiming(issuer string) IssuerOption {
	return func(i *Issuer) { i.claimed = issuer }
}

// WithKey makes k the issuer's signing key instead of a fresh ES256 key.
func WithKey(k *Key) IssuerOption {
	return func(i *Issuer) { i.keys = []*Key{k} }
}

// StartIssuer serves an issuer until the test ends. Its key is a fresh ES256 key unless WithKey
// gives one.
func StartIssuer(t testing.TB, opts ...IssuerOption) *Issuer {
	t.Helper()
	i := &Issuer{}
	for _, o := range opts {
		o(i)
	}
	if len(i.keys) == 0 {
		i.keys = []*Key{NewKey(t, "ES256", "issuer-"+rand.Text()[:8])}
	}
	mux := http.NewServeMux()
	metadata := func(w http.ResponseWriter, r *http.Request) {
		i.mu.Lock()
		i.discoveries++
		down, claimed := i.down, i.claimed
		i.mu.Unlock()
		if down {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		if claimed == "" {
			claimed = i.URL
		}
		writeJSON(w, map[string]any{
			"issuer":                                claimed,
			"jwks_uri":                              i.URL + "/jwks",
			"id_token_signing_alg_values_supported": []string{"ES256", "RS256"},
			"response_types_supported":              []string{"id_token"},
			"subject_types_supported":               []string{"public"},
		})
	}
	mux.HandleFunc("GET /.well-known/openid-configuration", metadata)
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", metadata)
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		i.mu.Lock()
		i.jwksFetches++
		down, keys := i.down, append([]*Key(nil), i.keys...)
		i.mu.Unlock()
		if down {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		writeJSON(w, JWKS(keys...))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	i.URL = srv.URL
	return i
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// Key is the key that signs the issuer's tokens now.
func (i *Issuer) Key() *Key {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.keys[len(i.keys)-1]
}

// Rotate adds a fresh key to the JWKS and signs with it from now on; the old keys stay served
// unless drop is set, when the JWKS holds the new key alone.
func (i *Issuer) Rotate(t testing.TB, drop bool) *Key {
	t.Helper()
	k := NewKey(t, "ES256", "issuer-"+rand.Text()[:8])
	i.mu.Lock()
	defer i.mu.Unlock()
	if drop {
		i.keys = nil
	}
	i.keys = append(i.keys, k)
	return k
}

// SetDown makes the discovery document and the JWKS answer 503 (or serve again).
func (i *Issuer) SetDown(down bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.down = down
}

// JWKSFetches counts the requests for the JWKS so far: how a test sees a verifier's cache.
func (i *Issuer) JWKSFetches() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.jwksFetches
}

// DiscoveryFetches counts the requests for the discovery document so far.
func (i *Issuer) DiscoveryFetches() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.discoveries
}

// Mint signs a token with the issuer's current key: iss is the issuer's URL, aud audience, iat
// now, exp now + 10 minutes, jti fresh, and claims are added last, so they may override any of
// these (a nil value removes one).
func (i *Issuer) Mint(t testing.TB, audience string, now time.Time, claims map[string]any) string {
	t.Helper()
	c := map[string]any{
		"iss": i.URL, "aud": audience, "iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(),
		"jti": rand.Text(), "sub": "workload",
	}
	for name, v := range claims {
		if v == nil {
			delete(c, name)
		} else {
			c[name] = v
		}
	}
	return i.Key().Sign(t, nil, c)
}

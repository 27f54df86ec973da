package oauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/keyward/keyward"
	"github.com/keyward/keyward/dpop"
	"github.com/keyward/keyward/internal/dpoptest"
	"github.com/keyward/keyward/internal/token"
)

const tokenURL = "https://keyward.test/oauth/token"

// dpopEnv is a grantEnv whose minted tokens are kept, to read their cnf.
type dpopEnv struct {
	*grantEnv
	minted []*token.Claims
}

func newDPoPEnv(t *testing.T) *dpopEnv {
	e := &dpopEnv{grantEnv: newGrantEnv(t)}
	e.srv.Minter = mintFunc(func(c *token.Claims) (string, error) {
		e.minted = append(e.minted, c)
		return "access", nil
	})
	return e
}

func ecKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// proof is a valid proof for the token endpoint at the server's time, unless opts say otherwise.
func (e *dpopEnv) proof(key *ecdsa.PrivateKey, method, u string, opts ...dpop.ProofOption) string {
	e.t.Helper()
	p, err := dpop.NewProof(key, method, u, append([]dpop.ProofOption{dpop.WithTime(e.srv.Now())}, opts...)...)
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

// postDPoP sends form with the proofs as DPoP headers.
func (e *dpopEnv) postDPoP(form url.Values, secret string, proofs ...string) (int, map[string]any) {
	e.t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/oauth/token", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if secret != "" {
		r.SetBasicAuth("", secret)
	}
	for _, p := range proofs {
		r.Header.Add("DPoP", p)
	}
	w := httptest.NewRecorder()
	e.srv.handleToken(w, r)
	var body map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		e.t.Fatalf("token response is not JSON: %q", w.Body.String())
	}
	return w.Code, body
}

func wantOAuth(t *testing.T, status int, body map[string]any, wantStatus int, code string) {
	t.Helper()
	if status != wantStatus || body["error"] != code {
		t.Fatalf("got %d %v, want %d %s", status, body, wantStatus, code)
	}
}

var exchange = url.Values{"grant_type": {"client_credentials"}}

func TestDPoPExchangeBindsTheToken(t *testing.T) {
	e := newDPoPEnv(t)
	key := ecKey(t)
	status, body := e.postDPoP(exchange, e.secret, e.proof(key, "POST", tokenURL))
	if status != http.StatusOK || body["token_type"] != "DPoP" {
		t.Fatalf("DPoP exchange: %d %v", status, body)
	}
	jkt := e.minted[0].Confirmation
	if jkt == nil || jkt.JKT == "" {
		t.Fatalf("access token without cnf.jkt: %+v", e.minted[0])
	}
	// The proof's thumbprint is the one bound: a proof by the same key verifies to it.
	p, err := dpop.Verify(e.proof(key, "POST", tokenURL), dpop.Options{Method: "POST", URL: tokenURL, Now: e.srv.Now()})
	if err != nil || p.JKT != jkt.JKT {
		t.Fatalf("cnf.jkt %q, the key's thumbprint %q (%v)", jkt.JKT, p.JKT, err)
	}

	// A refresh needs a proof by the same key; a refused one spends nothing.
	refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {body["refresh_token"].(string)}}
	status, got := e.postDPoP(refresh, "")
	wantOAuth(t, status, got, http.StatusBadRequest, errInvalidDPoPProof)
	status, got = e.postDPoP(refresh, "", e.proof(ecKey(t), "POST", tokenURL))
	wantOAuth(t, status, got, http.StatusBadRequest, errInvalidGrant)
	status, got = e.postDPoP(refresh, "", e.proof(key, "POST", tokenURL))
	if status != http.StatusOK || got["token_type"] != "DPoP" {
		t.Fatalf("refresh with the bound key: %d %v", status, got)
	}
	if c := e.minted[len(e.minted)-1].Confirmation; c == nil || c.JKT != jkt.JKT {
		t.Fatalf("refreshed token's cnf: %+v", c)
	}

	// A bearer exchange stays bearer, and its refresh takes no proof.
	status, bearer := e.postDPoP(exchange, e.secret)
	if status != http.StatusOK || bearer["token_type"] != "Bearer" || e.minted[len(e.minted)-1].Confirmation != nil {
		t.Fatalf("bearer exchange: %d %v", status, bearer)
	}
	refresh = url.Values{"grant_type": {"refresh_token"}, "refresh_token": {bearer["refresh_token"].(string)}}
	status, got = e.postDPoP(refresh, "", e.proof(key, "POST", tokenURL))
	wantOAuth(t, status, got, http.StatusBadRequest, errInvalidDPoPProof)
	if status, got = e.postDPoP(refresh, ""); status != http.StatusOK {
		t.Fatalf("bearer refresh: %d %v", status, got)
	}
}

func TestDPoPHostileProofs(t *testing.T) {
	e := newDPoPEnv(t)
	key := ecKey(t)
	now := e.srv.Now()
	pub := jose.JSONWebKey{Key: key.Public()}
	claims := map[string]any{"jti": "j-1", "htm": "POST", "htu": tokenURL, "iat": now.Unix()}
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"typ":"dpop+jwt","alg":"none","jwk":`+mustJSON(t, pub)+`}`)) +
		"." + base64.RawURLEncoding.EncodeToString([]byte(mustJSON(t, claims))) + "."
	replayed := e.proof(key, "POST", tokenURL)
	if status, body := e.postDPoP(exchange, e.secret, replayed); status != http.StatusOK {
		t.Fatalf("first use: %d %v", status, body)
	}
	cases := map[string][]string{
		"wrong htm":             {e.proof(key, "GET", tokenURL)},
		"wrong htu":             {e.proof(key, "POST", "https://elsewhere.test/oauth/token")},
		"stale iat":             {e.proof(key, "POST", tokenURL, dpop.WithTime(now.Add(-10*time.Minute)))},
		"future iat":            {e.proof(key, "POST", tokenURL, dpop.WithTime(now.Add(10*time.Minute)))},
		"replayed":              {replayed},
		"two proofs":            {e.proof(key, "POST", tokenURL), e.proof(key, "POST", tokenURL)},
		"empty":                 {""},
		"garbage":               {"not.a.proof"},
		"alg none":              {none},
		"HS256":                 {dpoptest.Forge(t, []byte("0123456789abcdef0123456789abcdef"), jose.HS256, map[string]any{"typ": "dpop+jwt", "jwk": pub}, claims)},
		"private jwk":           {dpoptest.Forge(t, key, jose.ES256, map[string]any{"typ": "dpop+jwt", "jwk": jose.JSONWebKey{Key: key}}, claims)},
		"wrong typ":             {dpoptest.Forge(t, key, jose.ES256, map[string]any{"typ": "JWT", "jwk": pub}, claims)},
		"other key's signature": {dpoptest.Forge(t, ecKey(t), jose.ES256, map[string]any{"typ": "dpop+jwt", "jwk": pub}, claims)},
	}
	before := len(e.minted)
	for name, proofs := range cases {
		t.Run(name, func(t *testing.T) {
			status, body := e.postDPoP(exchange, e.secret, proofs...)
			wantOAuth(t, status, body, http.StatusBadRequest, errInvalidDPoPProof)
			if d, _ := body["error_description"].(string); strings.Contains(d, "eyJ") {
				t.Errorf("the description repeats the proof: %q", d)
			}
		})
	}
	if len(e.minted) != before {
		t.Fatal("a hostile proof got a token")
	}
}

func TestRequireDPoPRefusesBearer(t *testing.T) {
	ctx := context.Background()
	for _, where := range []string{"key", "role", "project"} {
		t.Run(where, func(t *testing.T) {
			e := newDPoPEnv(t)
			db := e.audit.Store
			// A bearer session started before the setting.
			_, bearer := e.postDPoP(exchange, e.secret)
			on := true
			switch where {
			case "key":
				k, err := db.APIKey(ctx, e.keyID)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := db.UpdateAPIKey(ctx, k.ProjectID, k.ID, keyward.APIKeyChange{RequireDPoP: &on}, e.srv.Now()); err != nil {
					t.Fatal(err)
				}
			case "role":
				r := &keyward.Role{ID: "rol_0123456789abcdef", ProjectID: e.project.ID, Name: "ci", Permissions: []string{"images-view"},
					RequireDPoP: true, CreatedAt: e.srv.Now(), UpdatedAt: e.srv.Now()}
				if err := db.CreateRole(ctx, r); err != nil {
					t.Fatal(err)
				}
				role := r.ID
				if _, err := db.UpdateAPIKey(ctx, e.project.ID, e.keyID, keyward.APIKeyChange{Role: &role}, e.srv.Now()); err != nil {
					t.Fatal(err)
				}
			case "project":
				if _, err := db.SetProjectRequireDPoP(ctx, e.project.ID, true); err != nil {
					t.Fatal(err)
				}
			}
			status, body := e.postDPoP(exchange, e.secret)
			wantOAuth(t, status, body, http.StatusBadRequest, errInvalidRequest)
			if d, _ := body["error_description"].(string); !strings.Contains(d, "requires DPoP") {
				t.Errorf("description %q", d)
			}
			// The bearer session ends at its next refresh.
			refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {bearer["refresh_token"].(string)}}
			status, body = e.postDPoP(refresh, "")
			wantOAuth(t, status, body, http.StatusBadRequest, errInvalidRequest)
			if status, body := e.postDPoP(exchange, e.secret, e.proof(ecKey(t), "POST", tokenURL)); status != http.StatusOK || body["token_type"] != "DPoP" {
				t.Fatalf("DPoP exchange of a key requiring it: %d %v", status, body)
			}
		})
	}
}

func TestMetadataListsDPoPAlgorithms(t *testing.T) {
	e := newDPoPEnv(t)
	w := httptest.NewRecorder()
	e.srv.handleMetadata(w, httptest.NewRequest(http.MethodGet, "/.well-known/oauth-authorization-server", nil))
	var m map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	algs, _ := m["dpop_signing_alg_values_supported"].([]any)
	if len(algs) == 0 || algs[0] != "ES256" {
		t.Fatalf("dpop_signing_alg_values_supported = %v", m["dpop_signing_alg_values_supported"])
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// postDPoPHeaders is postDPoP that also returns the answer's DPoP-Nonce header.
func (e *dpopEnv) postDPoPHeaders(form url.Values, secret string, proofs ...string) (int, map[string]any, string) {
	e.t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/oauth/token", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if secret != "" {
		r.SetBasicAuth("", secret)
	}
	for _, p := range proofs {
		r.Header.Add("DPoP", p)
	}
	w := httptest.NewRecorder()
	e.srv.handleToken(w, r)
	var body map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		e.t.Fatalf("token response is not JSON: %q", w.Body.String())
	}
	return w.Code, body, w.Header().Get("DPoP-Nonce")
}

// TestDPoPServerNonces: with a nonce key, the token endpoint asks for its nonce (RFC 9449 §8): a
// proof without it, or with one from two slots ago, is answered use_dpop_nonce with the current
// nonce in DPoP-Nonce and spends nothing; the same key's proof with the current or the previous
// slot's nonce exchanges, and every answer offers the current nonce.
func TestDPoPServerNonces(t *testing.T) {
	e := newDPoPEnv(t)
	e.srv.DPoPNonceKey = []byte("0123456789abcdef0123456789abcdef")
	now := e.srv.Now()
	key := ecKey(t)

	status, body, nonce := e.postDPoPHeaders(exchange, e.secret, e.proof(key, "POST", tokenURL))
	wantOAuth(t, status, body, http.StatusBadRequest, errUseDPoPNonce)
	if nonce == "" || nonce != e.srv.dpopNonce(now) {
		t.Fatalf("DPoP-Nonce %q, want the current nonce", nonce)
	}
	stale := e.srv.dpopNonce(now.Add(-2 * dpopNonceSlot))
	status, body, _ = e.postDPoPHeaders(exchange, e.secret, e.proof(key, "POST", tokenURL, dpop.WithNonce(stale)))
	wantOAuth(t, status, body, http.StatusBadRequest, errUseDPoPNonce)
	status, body, _ = e.postDPoPHeaders(exchange, e.secret, e.proof(key, "POST", tokenURL, dpop.WithNonce("made-up")))
	wantOAuth(t, status, body, http.StatusBadRequest, errUseDPoPNonce)

	for _, n := range []string{nonce, e.srv.dpopNonce(now.Add(-dpopNonceSlot))} {
		status, body, offered := e.postDPoPHeaders(exchange, e.secret, e.proof(key, "POST", tokenURL, dpop.WithNonce(n)))
		if status != http.StatusOK || body["token_type"] != "DPoP" || offered != nonce {
			t.Fatalf("proof with nonce %q: %d %v, offered %q", n, status, body, offered)
		}
	}
	// Without a nonce key nothing is asked or offered.
	e.srv.DPoPNonceKey = nil
	status, body, offered := e.postDPoPHeaders(exchange, e.secret, e.proof(key, "POST", tokenURL))
	if status != http.StatusOK || offered != "" {
		t.Fatalf("without nonces: %d %v, offered %q", status, body, offered)
	}
}

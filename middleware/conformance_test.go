package middleware

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/keyward/keyward"
	"github.com/keyward/keyward/accesstoken"
	"github.com/keyward/keyward/internal/keyring"
	"github.com/keyward/keyward/internal/sqlstore"
	"github.com/keyward/keyward/internal/token"
)

// TestServerAndMiddlewareAgree runs one table of forged and edge-case tokens through keyward's own
// verifier (over its keyring) and through the middleware (over the JWKS the same keyring
// publishes). Both must give the same verdict for the same reason: a token the management API
// refuses must not open a resource server, and the other way round.
func TestServerAndMiddlewareAgree(t *testing.T) {
	clock := newTestClock()
	store, err := sqlstore.Open(t.Context(), "sqlite:"+filepath.Join(t.TempDir(), "keyward.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	keys, err := keyring.New(t.Context(), store, keyring.Config{Alg: keyring.ES256, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	iss := srv.URL
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(metadata{Issuer: iss, JWKSURI: iss + "/.well-known/jwks.json", TokenEndpoint: iss + "/oauth/token"})
	})
	mux.HandleFunc("GET /.well-known/jwks.json", func(w http.ResponseWriter, r *http.Request) {
		w.Write(keys.JWKS())
	})

	server := &token.Verifier{Keys: keys, Issuer: iss, Audience: iss, Leeway: DefaultLeeway, Now: clock.Now}
	mw, err := New(t.Context(), Config{Issuer: iss, Now: clock.Now, SkipRevocationFeed: true, CacheSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mw.Close() })

	current, err := keys.Current()
	if err != nil {
		t.Fatal(err)
	}
	ours := signingKey{kid: current.ID, alg: jose.ES256, key: current.Signer}
	attacker := signingKey{kid: current.ID, alg: jose.ES256, key: mustECDSA(t, elliptic.P256())}
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	now := clock.Now()
	claims := func(change ...any) map[string]any {
		c := map[string]any{
			"iss": iss, "aud": iss, "sub": "key:AAAAAAAAAAAAAAAA", "client_id": "AAAAAAAAAAAAAAAA",
			"exp": now.Add(time.Hour).Unix(), "iat": now.Unix(), "jti": "jti-1", "scope": "containers-view",
		}
		for i := 0; i < len(change); i += 2 {
			if change[i+1] == nil {
				delete(c, change[i].(string))
			} else {
				c[change[i].(string)] = change[i+1]
			}
		}
		return c
	}
	headers := func(h map[jose.HeaderKey]any) string { return mintWith(t, ours, claims(), h) }
	good := mintWith(t, ours, claims(), nil)
	goodSegs := strings.Split(good, ".")
	pubJWK, _ := json.Marshal(jose.JSONWebKey{Key: current.Public, KeyID: current.ID})
	// nonCanonical sets an unused bit of segment i's last character, adding filler to the header
	// or claims until that segment has unused bits.
	nonCanonical := func(i int) string {
		for n := range 4 {
			pad := strings.Repeat("x", n)
			segs := strings.Split(mintWith(t, ours, claims("pad", pad), map[jose.HeaderKey]any{"pad": pad}), ".")
			if len(segs[i])%4 != 0 {
				segs[i] = flipUnusedBit(segs[i])
				return strings.Join(segs, ".")
			}
		}
		t.Fatalf("segment %d always has a multiple of 4 characters", i)
		return ""
	}

	for _, tc := range []struct {
		name  string
		token string
		want  error // nil: accepted
	}{
		{"good token", good, nil},
		{"user token", mintWith(t, ours, claims("sub", "user:usr_1", "client_id", "keyward"), nil), nil},
		{"typ with media type", headers(map[jose.HeaderKey]any{"typ": "application/at+jwt"}), nil},
		{"jku elsewhere is ignored", headers(map[jose.HeaderKey]any{"jku": "https://evil.example/jwks.json"}), nil},
		{"x5u elsewhere is ignored", headers(map[jose.HeaderKey]any{"x5u": "https://evil.example/cert.pem"}), nil},
		{"jwk of another key is ignored", headers(map[jose.HeaderKey]any{"jwk": jose.JSONWebKey{Key: attacker.key.(*ecdsa.PrivateKey).Public(), KeyID: current.ID}}), nil},
		{"expired within the leeway", mintWith(t, ours, claims("exp", now.Add(-DefaultLeeway+time.Second).Unix()), nil), nil},

		{"signed by another key under our kid", mintWith(t, attacker, claims(), nil), accesstoken.ErrSignature},
		{"jwk pointing at the attacker's key", mintWith(t, attacker, claims(), map[jose.HeaderKey]any{"jwk": jose.JSONWebKey{Key: attacker.key.(*ecdsa.PrivateKey).Public(), KeyID: current.ID}}), accesstoken.ErrSignature},
		{"signature of other claims", goodSegs[0] + "." + b64(claims("scope", "billing-manage")) + "." + goodSegs[2], accesstoken.ErrSignature},
		{"algorithm not allowed", mintWith(t, signingKey{kid: current.ID, alg: jose.ES384, key: mustECDSA(t, elliptic.P384())}, claims(), nil), accesstoken.ErrAlgorithm},
		{"alg none", b64(map[string]any{"alg": "none", "kid": current.ID, "typ": "at+jwt"}) + "." + b64(claims()) + ".", accesstoken.ErrAlgorithm},
		{"HS256 keyed with the public key", hs256(map[string]any{"alg": "HS256", "kid": current.ID, "typ": "at+jwt"}, claims(), pubJWK), accesstoken.ErrAlgorithm},
		{"allowed algorithm, not the key's", mintWith(t, signingKey{kid: current.ID, alg: jose.EdDSA, key: edKey}, claims(), nil), accesstoken.ErrKeyAlgorithm},
		{"unknown kid", mintWith(t, signingKey{kid: "nope", alg: jose.ES256, key: attacker.key}, claims(), nil), accesstoken.ErrUnknownKey},
		{"no kid", b64(map[string]any{"alg": "ES256", "typ": "at+jwt"}) + "." + goodSegs[1] + "." + goodSegs[2], accesstoken.ErrNoKeyID},
		{"typ JWT", headers(map[jose.HeaderKey]any{"typ": "JWT"}), accesstoken.ErrType},
		{"crit", headers(map[jose.HeaderKey]any{"crit": []string{"exp"}, "exp": 1}), accesstoken.ErrCritical},
		{"b64", headers(map[jose.HeaderKey]any{"b64": true}), accesstoken.ErrUnsupportedHeader},
		{"non-canonical header", nonCanonical(0), accesstoken.ErrMalformed},
		{"non-canonical claims", nonCanonical(1), accesstoken.ErrMalformed},
		{"non-canonical signature", nonCanonical(2), accesstoken.ErrMalformed},
		{"padding", good + "==", accesstoken.ErrMalformed},
		{"four segments", good + "." + goodSegs[2], accesstoken.ErrMalformed},
		{"oversized", mintWith(t, ours, claims("pad", strings.Repeat("x", accesstoken.MaxLength)), nil), accesstoken.ErrTooLong},
		{"exp of the wrong type", mintWith(t, ours, claims("exp", "tomorrow"), nil), accesstoken.ErrMalformedClaims},
		{"expired", mintWith(t, ours, claims("exp", now.Add(-DefaultLeeway).Unix()), nil), accesstoken.ErrExpired},
		{"nbf in the future", mintWith(t, ours, claims("nbf", now.Add(time.Minute).Unix()), nil), accesstoken.ErrNotYetValid},
		{"iat in the future", mintWith(t, ours, claims("iat", now.Add(time.Minute).Unix()), nil), accesstoken.ErrIssuedInFuture},
		{"no exp", mintWith(t, ours, claims("exp", nil), nil), accesstoken.ErrMissingClaim},
		{"no iat", mintWith(t, ours, claims("iat", nil), nil), accesstoken.ErrMissingClaim},
		{"no jti", mintWith(t, ours, claims("jti", nil), nil), accesstoken.ErrMissingClaim},
		{"no sub", mintWith(t, ours, claims("sub", nil), nil), accesstoken.ErrMissingClaim},
		{"subject of another kind", mintWith(t, ours, claims("sub", "svc:x"), nil), accesstoken.ErrSubject},
		{"key subject without id", mintWith(t, ours, claims("sub", "key:", "client_id", ""), nil), accesstoken.ErrSubject},
		{"key subject, another key's client_id", mintWith(t, ours, claims("client_id", "BBBBBBBBBBBBBBBB"), nil), accesstoken.ErrClientID},
		{"another issuer", mintWith(t, ours, claims("iss", "https://evil.example"), nil), accesstoken.ErrIssuer},
		{"another audience", mintWith(t, ours, claims("aud", []string{"a", "b"}), nil), accesstoken.ErrAudience},
		{"malformed ips", mintWith(t, ours, claims("ips", []string{"10.0.0.0/8", "not-an-ip"}), nil), accesstoken.ErrNetworks},
		{"DPoP-bound", mintWith(t, ours, claims("cnf", map[string]string{"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}), nil), nil},
		{"cnf without jkt", mintWith(t, ours, claims("cnf", map[string]string{"x5t#S256": "abc"}), nil), accesstoken.ErrMalformedClaims},
		{"cnf of the wrong type", mintWith(t, ours, claims("cnf", "jkt"), nil), accesstoken.ErrMalformedClaims},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, serr := server.Verify(tc.token)
			_, merr := mw.Verify(tc.token)
			if tc.want == nil {
				if serr != nil || merr != nil {
					t.Fatalf("server: %v; middleware: %v; want both to accept", serr, merr)
				}
				return
			}
			if want := token.Unauthorized(tc.want); keyward.ErrorCode(serr) != keyward.EUNAUTHORIZED ||
				keyward.ErrorMessage(serr) != keyward.ErrorMessage(want) {
				t.Errorf("server: %v; want %v", serr, want)
			}
			if want := refusal(tc.want); merr == nil || merr.Error() != want.Error() {
				t.Errorf("middleware: %v; want %v", merr, want)
			}
		})
	}
}

func mustECDSA(t *testing.T, c elliptic.Curve) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// hs256 is the classic algorithm confusion: an HMAC keyed with what a careless verifier would
// pass to its HMAC check, the public key.
func hs256(header, claims map[string]any, secret []byte) string {
	input := b64(header) + "." + b64(claims)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(input))
	return input + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// Package fedtest is an OpenID provider for tests of workload identity federation: discovery, a
// JWKS and an ES256 key that signs identity tokens.
package fedtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Audience is the aud of the tokens Sign makes unless told otherwise.
const Audience = "keyward-test"

// Issuer is a provider served on a loopback address until the test ends.
type Issuer struct {
	URL string
	KID string
	Key *ecdsa.PrivateKey
	// ClaimedIssuer is the issuer its discovery document names; "" names URL. A test sets it to
	// make a provider whose document lies.
	ClaimedIssuer string
}

// New starts a provider whose key is named kid.
func New(t testing.TB, kid string) *Issuer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	iss := &Issuer{KID: kid, Key: key}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		claimed := iss.ClaimedIssuer
		if claimed == "" {
			claimed = iss.URL
		}
		json.NewEncoder(w).Encode(map[string]string{"issuer": claimed, "jwks_uri": iss.URL + "/jwks"})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, _ *http.Request) {
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: kid, Algorithm: "ES256", Use: "sig"}}})
	})
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	iss.URL = ts.URL
	return iss
}

// Sign returns an identity token of claims, with iss, sub, aud (Audience), iat, exp (five
// minutes after now) and a random jti filled in unless claims sets them; a nil value leaves the
// claim out.
func (i *Issuer) Sign(t testing.TB, now time.Time, claims map[string]any) string {
	t.Helper()
	jti := make([]byte, 12)
	rand.Read(jti)
	full := map[string]any{"iss": i.URL, "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "aud": Audience,
		"sub": "repo:octo/app:ref:refs/heads/main", "jti": base64.RawURLEncoding.EncodeToString(jti)}
	for k, v := range claims {
		if v == nil {
			delete(full, k)
		} else {
			full[k] = v
		}
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: i.Key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", i.KID))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jwt.Signed(signer).Claims(full).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

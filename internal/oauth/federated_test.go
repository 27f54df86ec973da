package oauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/internal/federation"
)

// testIssuer is an OpenID provider for the grant tests, trusted by the env's project with a rule
// that targets the env's key.
type testIssuer struct {
	url string
	key *ecdsa.PrivateKey
}

// issuer sets up, once, an issuer the project trusts and a rule to its key.
func (e *grantEnv) issuer() *testIssuer {
	if e.fed != nil {
		return e.fed
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		e.t.Fatal(err)
	}
	iss := &testIssuer{key: key}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"issuer": iss.url, "jwks_uri": iss.url + "/jwks"})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, _ *http.Request) {
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES256"}}})
	})
	ts := httptest.NewServer(mux)
	e.t.Cleanup(ts.Close)
	iss.url = ts.URL
	ctx := context.Background()
	now := e.srv.Now()
	i := &keyward.FederationIssuer{ID: "fis_0000000000000001", ProjectID: e.project.ID, Name: "ci", Issuer: iss.url,
		Audiences: []string{"keyward"}, CreatedAt: now, UpdatedAt: now}
	if err := e.audit.Store.CreateFederationIssuer(ctx, i); err != nil {
		e.t.Fatal(err)
	}
	r := &keyward.FederationRule{ID: "fru_0000000000000001", ProjectID: e.project.ID, Name: "deploy", IssuerID: i.ID,
		Conditions: map[string]string{"repository": "octo/app"}, TargetKey: e.keyID, TTL: 15 * time.Minute, Owner: e.user.ID,
		CreatedAt: now, UpdatedAt: now}
	if err := e.audit.Store.CreateFederationRule(ctx, r); err != nil {
		e.t.Fatal(err)
	}
	e.srv.Federation = &federation.Keys{AllowInsecure: true, Now: e.srv.Now}
	e.fed = iss
	return iss
}

// subjectToken is a fresh identity token (its own jti) that the env's rule lets in.
func (e *grantEnv) subjectToken() string {
	iss := e.issuer()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: iss.key}, (&jose.SignerOptions{}).WithHeader("kid", "k1"))
	if err != nil {
		e.t.Fatal(err)
	}
	now := e.srv.Now()
	jti, err := keyward.RandomBase62(rand.Reader, 16)
	if err != nil {
		e.t.Fatal(err)
	}
	raw, err := jwt.Signed(signer).Claims(map[string]any{"iss": iss.url, "sub": "repo:octo/app:ref:refs/heads/main", "aud": "keyward",
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "jti": jti, "repository": "octo/app"}).Serialize()
	if err != nil {
		e.t.Fatal(err)
	}
	return raw
}

// federatedForm is a request of the grant for a fresh subject token.
func (e *grantEnv) federatedForm(exchange bool) url.Values {
	if exchange {
		return url.Values{"grant_type": {client.GrantTokenExchange}, "subject_token": {e.subjectToken()},
			"subject_token_type": {client.TokenTypeIDToken}}
	}
	return url.Values{"grant_type": {client.GrantJWTBearer}, "assertion": {e.subjectToken()}}
}

// replayedForm is a request whose subject token was already exchanged once.
func (e *grantEnv) replayedForm(exchange bool) url.Values {
	form := e.federatedForm(exchange)
	if status, body, _ := e.post(form, ""); status != http.StatusOK {
		e.t.Fatalf("first use of a subject token: %d %v", status, body)
	}
	return form
}

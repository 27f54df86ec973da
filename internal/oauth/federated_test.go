package oauth

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/internal/federation"
	"github.com/keyward/keyward/internal/federation/fedtest"
)

// issuer sets up, once, an issuer the project trusts and a rule to its key.
func (e *grantEnv) issuer() *fedtest.Issuer {
	if e.fed != nil {
		return e.fed
	}
	iss := fedtest.New(e.t, "k1")
	ctx := context.Background()
	now := e.srv.Now()
	i := &keyward.FederationIssuer{ID: "fis_0000000000000001", ProjectID: e.project.ID, Name: "ci", Issuer: iss.URL,
		Audiences: []string{fedtest.Audience}, CreatedAt: now, UpdatedAt: now}
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
	return e.issuer().Sign(e.t, e.srv.Now(), map[string]any{"repository": "octo/app"})
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

package oauth

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"testing"
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

// TestFederatedKeyRuleBoundByItsOwner: a rule that hands a key on to outside workloads works
// only while its owner is a member of the project: once the member who made it is removed, its
// identity tokens exchange no more, though the key itself, owned by someone else, still works.
func TestFederatedKeyRuleBoundByItsOwner(t *testing.T) {
	e := newGrantEnv(t)
	iss := e.issuer()
	ctx := context.Background()
	now := e.srv.Now()
	ralph := &keyward.User{ID: "usr_0000000000000r01", Email: "ralph@example.com", PasswordHash: "x", CreatedAt: now}
	if err := e.audit.Store.CreateUser(ctx, ralph); err != nil {
		t.Fatal(err)
	}
	// Everything but members-manage, whose last holder a removal may not take.
	perms := slices.DeleteFunc(e.srv.Catalog.Names(), func(p string) bool { return p == "members-manage" })
	if err := e.audit.Store.PutMember(ctx, &keyward.Member{ProjectID: e.project.ID, UserID: ralph.ID, Permissions: perms, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	r := &keyward.FederationRule{ID: "fru_0000000000000r01", ProjectID: e.project.ID, Name: "ralphs", IssuerID: "fis_0000000000000001",
		Conditions: map[string]string{"repository": "ralph/app"}, TargetKey: e.keyID, TTL: 15 * time.Minute, Owner: ralph.ID,
		CreatedAt: now, UpdatedAt: now}
	if err := e.audit.Store.CreateFederationRule(ctx, r); err != nil {
		t.Fatal(err)
	}
	form := func() url.Values {
		return url.Values{"grant_type": {client.GrantJWTBearer}, "assertion": {iss.Sign(t, e.srv.Now(), map[string]any{"repository": "ralph/app"})}}
	}
	if status, body, _ := e.post(form(), ""); status != http.StatusOK {
		t.Fatalf("exchange through Ralph's rule: %d %v", status, body)
	}
	if err := e.audit.Store.RemoveMember(ctx, e.project.ID, ralph.ID, now); err != nil {
		t.Fatal(err)
	}
	status, body, _ := e.post(form(), "")
	if status != http.StatusBadRequest || body["error"] != errInvalidGrant {
		t.Fatalf("exchange through the rule of a removed member: %d %v", status, body)
	}
	if status, body, _ := e.post(url.Values{"grant_type": {"client_credentials"}}, e.secret); status != http.StatusOK {
		t.Fatalf("the key itself: %d %v", status, body)
	}
}

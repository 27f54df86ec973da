package server_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/kwtest"
)

// TestKeyNeverHoldsMoreThanItsOwner is the story of a member whose key outlived her rights: Eve
// creates a key with everything she may grant, is reduced, then removed. At every step her key
// holds no more than she does, and once she is gone it neither exchanges nor mints keys.
func TestKeyNeverHoldsMoreThanItsOwner(t *testing.T) {
	s := kwtest.Start(t, unthrottled)
	admin := s.AdminToken(t)
	const email, pw = "eve@keyward.test", "a-member-password-long-enough-7"
	eve := s.CreateUser(t, admin, email, pw)
	putMember(t, s, admin, "default", email, "containers-manage", "containers-view", "api-keys-manage", "api-keys-view")
	eveToken := s.Login(t, email, pw, "default").AccessToken

	k := s.CreateKey(t, eveToken, "default", kwtest.KeyRequest{Name: "eve-ci", Permissions: []string{"containers-manage", "api-keys-manage"}})
	if k.Owner != eve.ID {
		t.Fatalf("key owner %q, want Eve %q", k.Owner, eve.ID)
	}
	before := s.Exchange(t, k.Secret)
	if !strings.Contains(before.Scope, "containers-manage") {
		t.Fatalf("scope before the reduction %q", before.Scope)
	}
	// A key the key creates is Eve's too.
	child := s.CreateKey(t, before.AccessToken, "default", kwtest.KeyRequest{Name: "eve-child", Permissions: []string{"containers-manage"}})
	if child.Owner != eve.ID || child.CreatedBy != "key:"+k.ID {
		t.Fatalf("child key owner %q created by %q", child.Owner, child.CreatedBy)
	}

	// Reduced to containers-view: the key's next token holds none of what she lost, the token it
	// held is refused, and it mints no keys.
	putMember(t, s, admin, "default", email, "containers-view")
	kwtest.RequireProblem(t, s.API(t, http.MethodGet, "/v1/me", before.AccessToken, nil), http.StatusUnauthorized)
	kwtest.RequireInactive(t, s.Introspect(t, before.AccessToken, kwtest.Bearer(admin)))
	kwtest.RequireOAuthError(t, s.Refresh(t, before.RefreshToken), http.StatusBadRequest, "invalid_grant")
	after := s.Exchange(t, k.Secret)
	if after.Scope != "" {
		t.Errorf("scope after the reduction %q, want nothing", after.Scope)
	}
	if _, c := kwtest.DecodeJWT(t, after.AccessToken); c["scope"] != nil && c["scope"] != "" {
		t.Errorf("token scope after the reduction %v", c["scope"])
	}
	r := s.TokenRequest(t, url.Values{"grant_type": {"client_credentials"}, "scope": {"containers-manage"}}, kwtest.Basic(k.ID, k.Secret))
	kwtest.RequireOAuthError(t, r, http.StatusBadRequest, "invalid_scope")
	r = s.CreateKeyResponse(t, after.AccessToken, "default", kwtest.KeyRequest{Name: "eve-again", Permissions: []string{"containers-manage"}})
	kwtest.RequireProblem(t, r, http.StatusForbidden)
	var found bool
	for _, e := range s.Audit(t, admin, "default") {
		if e.Action == keyward.AuditKeySessionsEnded && e.Target == "key:"+k.ID && e.Detail == "reason="+keyward.OwnerReduced {
			found = true
		}
	}
	if !found {
		t.Error("no audit event says why the key's sessions ended")
	}

	// Removed: the key (and the key it made) no longer exchanges, and its token mints nothing.
	if r := s.API(t, http.MethodDelete, "/v1/projects/default/members/"+url.PathEscape(email), admin, nil); r.Status != http.StatusNoContent {
		t.Fatalf("remove member: %s", r)
	}
	for _, secret := range []string{k.Secret, child.Secret} {
		r := s.TokenRequest(t, url.Values{"grant_type": {"client_credentials"}}, kwtest.Basic(kwtest.KeyID(t, secret), secret))
		kwtest.RequireOAuthError(t, r, http.StatusUnauthorized, "invalid_client")
	}
	r = s.CreateKeyResponse(t, after.AccessToken, "default", kwtest.KeyRequest{Name: "eve-again", Permissions: []string{"containers-view"}})
	kwtest.RequireProblem(t, r, http.StatusUnauthorized)
	kwtest.RequireOAuthError(t, s.Refresh(t, after.RefreshToken), http.StatusBadRequest, "invalid_grant")

	var keys struct{ Data []kwtest.Key }
	s.API(t, http.MethodGet, "/v1/projects/default/api-keys", admin, nil).JSON(t, &keys)
	disabled := map[string]bool{}
	for _, key := range keys.Data {
		disabled[key.ID] = key.DisabledAt != nil
	}
	if !disabled[k.ID] || !disabled[child.ID] {
		t.Errorf("keys listed as disabled: %v", disabled)
	}
	reasons := map[string]string{}
	for _, e := range s.Audit(t, admin, "default") {
		if e.Action == keyward.AuditKeyDisabled {
			reasons[e.Target] = e.Detail
		}
	}
	for _, id := range []string{k.ID, child.ID} {
		if reasons["key:"+id] != "reason="+keyward.OwnerRemoved {
			t.Errorf("audit of disabling key %s: %q", id, reasons["key:"+id])
		}
	}
}

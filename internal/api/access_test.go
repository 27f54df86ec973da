package api

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
)

// TestRevocationTakesEffectAtOnce: a token stops working on the next request after its session
// is revoked, its key deleted or expired, or its user disabled, long before it expires.
func TestRevocationTakesEffectAtOnce(t *testing.T) {
	e := newEnv(t)
	owner := e.user("owner@example.com", false)
	p := e.project("shop", owner, nil)
	ownerTok := e.userToken(owner, "")

	t.Run("deleted key", func(t *testing.T) {
		k, _ := e.apiKey(p, "ci", "containers-view", "api-keys-view")
		tok := e.keyToken(k)
		e.do(req{method: "GET", path: "/v1/me", token: tok}).expect(t, http.StatusOK)
		e.do(req{method: "DELETE", path: "/v1/projects/shop/api-keys/" + k.ID, token: ownerTok}).expect(t, http.StatusNoContent)
		e.do(req{method: "GET", path: "/v1/me", token: tok}).expect(t, http.StatusUnauthorized).problem(t)
		e.do(req{method: "GET", path: "/v1/projects/shop/api-keys", token: tok}).expect(t, http.StatusUnauthorized)
	})
	t.Run("expired key", func(t *testing.T) {
		exp := e.clock.Now().Add(time.Minute)
		k, _ := e.storeKey(&keyward.APIKey{ProjectID: p.ID, Name: "short-lived", Permissions: []string{"containers-view"}, ExpiresAt: &exp})
		tok := e.keyToken(k)
		e.do(req{method: "GET", path: "/v1/me", token: tok}).expect(t, http.StatusOK)
		e.clock.Advance(2 * time.Minute) // the access token itself is good for two hours
		e.do(req{method: "GET", path: "/v1/me", token: tok}).expect(t, http.StatusUnauthorized)
	})
	t.Run("revoked session", func(t *testing.T) {
		tok, s := e.session(&keyward.Session{Kind: keyward.SessionUser, UserID: owner.ID}, nil)
		e.do(req{method: "GET", path: "/v1/me", token: tok}).expect(t, http.StatusOK)
		if err := e.store.RevokeSession(e.ctx, s.ID, "test", e.clock.Now()); err != nil {
			t.Fatal(err)
		}
		e.do(req{method: "GET", path: "/v1/me", token: tok}).expect(t, http.StatusUnauthorized)
	})
	t.Run("session past its max age", func(t *testing.T) {
		tok, _ := e.session(&keyward.Session{Kind: keyward.SessionUser, UserID: owner.ID, ExpiresAt: e.clock.Now().Add(time.Minute)}, nil)
		e.do(req{method: "GET", path: "/v1/me", token: tok}).expect(t, http.StatusOK)
		e.clock.Advance(2 * time.Minute)
		e.do(req{method: "GET", path: "/v1/me", token: tok}).expect(t, http.StatusUnauthorized)
	})
	t.Run("disabled user", func(t *testing.T) {
		u := e.user("leaver@example.com", false)
		tok := e.userToken(u, "")
		e.do(req{method: "GET", path: "/v1/me", token: tok}).expect(t, http.StatusOK)
		if err := e.store.SetUserDisabled(e.ctx, u.ID, true, e.clock.Now()); err != nil {
			t.Fatal(err)
		}
		e.do(req{method: "GET", path: "/v1/me", token: tok}).expect(t, http.StatusUnauthorized)
	})
	t.Run("removed member", func(t *testing.T) {
		u := e.user("temp@example.com", false)
		e.member(p, u, "containers-view")
		tok := e.userToken(u, "")
		e.do(req{method: "GET", path: "/v1/projects/shop", token: tok}).expect(t, http.StatusOK)
		e.do(req{method: "DELETE", path: "/v1/projects/shop/members/temp@example.com", token: ownerTok}).expect(t, http.StatusNoContent)
		e.do(req{method: "GET", path: "/v1/projects/shop", token: tok}).expect(t, http.StatusNotFound)
	})
}

// TestTenantIsolation: every project route answers 404, never 403, for a project the caller
// cannot see, exactly as for one that does not exist.
func TestTenantIsolation(t *testing.T) {
	e := newEnv(t)
	alice := e.user("alice@example.com", false)
	bob := e.user("bob@example.com", false)
	pa := e.project("alpha", alice, nil)
	pb := e.project("beta", bob, nil)
	e.member(pb, alice, "containers-view") // alice is in both, bob only in beta
	keyA, _ := e.apiKey(pa, "a-key", "api-keys-manage", "api-keys-view", "members-view", "members-manage", "audit-view", "containers-view")
	keyB, _ := e.apiKey(pb, "b-key", "containers-view")

	routes := func(project, key string) []req {
		base := "/v1/projects/" + project
		return []req{
			{method: "GET", path: base},
			{method: "GET", path: base + "/members"},
			{method: "PUT", path: base + "/members/alice@example.com", body: map[string]any{"permissions": []string{"containers-view"}}},
			{method: "DELETE", path: base + "/members/alice@example.com"},
			{method: "GET", path: base + "/api-keys"},
			{method: "POST", path: base + "/api-keys", body: map[string]any{"name": "x", "permissions": []string{"containers-view"}}},
			{method: "GET", path: base + "/api-keys/" + key},
			{method: "DELETE", path: base + "/api-keys/" + key},
			{method: "GET", path: base + "/audit"},
		}
	}
	callers := []struct {
		name    string
		token   string
		project string // a project the caller cannot see
	}{
		{"user of another project", e.userToken(bob, ""), pa.ID},
		{"user of another project, by name", e.userToken(bob, ""), "alpha"},
		{"key of another project", e.keyToken(keyA), pb.ID},
		{"key of another project, by name", e.keyToken(keyA), "beta"},
		{"user token narrowed to another project", e.userToken(alice, pa.ID), "beta"},
		{"nonexistent project id", e.userToken(alice, ""), "prj_0000000000000000"},
		{"nonexistent project name", e.userToken(alice, ""), "gamma"},
		{"malformed project reference", e.userToken(alice, ""), "Not_A_Name"},
	}
	for _, c := range callers {
		for _, rq := range routes(c.project, keyB.ID) {
			rq.token = c.token
			t.Run(c.name+" "+rq.method+" "+rq.path, func(t *testing.T) {
				p := e.do(rq).expect(t, http.StatusNotFound).problem(t)
				if strings.Contains(p.Detail, pa.Name) && c.project != "alpha" {
					t.Errorf("the 404 names another tenant's project: %q", p.Detail)
				}
			})
		}
	}
	// A key of another project addressed through the caller's own project is not found either.
	e.do(req{method: "DELETE", path: "/v1/projects/alpha/api-keys/" + keyB.ID, token: e.userToken(alice, "")}).expect(t, http.StatusNotFound)
	e.do(req{method: "GET", path: "/v1/projects/alpha/api-keys/" + keyB.ID, token: e.userToken(alice, "")}).expect(t, http.StatusNotFound)
	if _, err := e.store.APIKey(e.ctx, keyB.ID); err != nil {
		t.Errorf("beta's key was touched through alpha: %v", err)
	}
	// And a key sees only its own project in the listings.
	var projects client.List[client.Project]
	e.do(req{method: "GET", path: "/v1/projects", token: e.keyToken(keyA)}).expect(t, http.StatusOK).decode(t, &projects)
	if len(projects.Data) != 1 || projects.Data[0].ID != pa.ID {
		t.Errorf("key lists %+v, want only its project", projects.Data)
	}
	e.do(req{method: "GET", path: "/v1/projects", token: e.userToken(alice, pa.ID)}).expect(t, http.StatusOK).decode(t, &projects)
	if len(projects.Data) != 1 || projects.Data[0].ID != pa.ID {
		t.Errorf("a narrowed token lists %+v, want only its project", projects.Data)
	}
	e.do(req{method: "GET", path: "/v1/projects", token: e.userToken(alice, "")}).expect(t, http.StatusOK).decode(t, &projects)
	if len(projects.Data) != 2 {
		t.Errorf("alice lists %+v, want both projects", projects.Data)
	}
}

// TestPermissions: a visible project without the route's permission is 403, and nobody grants
// more than they hold.
func TestPermissions(t *testing.T) {
	e := newEnv(t)
	owner := e.user("owner@example.com", false)
	p := e.project("shop", owner, nil)
	viewer := e.user("viewer@example.com", false)
	e.member(p, viewer, "containers-view", "api-keys-view")
	manager := e.user("manager@example.com", false)
	e.member(p, manager, "api-keys-manage", "members-manage", "containers-view")
	helper := e.user("helper@example.com", false)
	e.member(p, helper, "containers-view")
	keyMgr, _ := e.apiKey(p, "key-manager", "api-keys-manage", "containers-view")
	viewerTok, managerTok, keyTok := e.userToken(viewer, ""), e.userToken(manager, ""), e.keyToken(keyMgr)

	newKey := func(perms ...string) map[string]any {
		return map[string]any{"name": "k-" + strings.Join(perms, "-"), "permissions": perms}
	}
	tests := []struct {
		name   string
		rq     req
		status int
		detail string
	}{
		{"view without manage cannot create keys", req{method: "POST", path: "/v1/projects/shop/api-keys", token: viewerTok, body: newKey("containers-view")}, 403, "api-keys-manage"},
		{"viewer cannot read members", req{method: "GET", path: "/v1/projects/shop/members", token: viewerTok}, 403, "members-view"},
		{"viewer cannot read audit", req{method: "GET", path: "/v1/projects/shop/audit", token: viewerTok}, 403, "audit-view"},
		{"manager cannot list keys without api-keys-view", req{method: "GET", path: "/v1/projects/shop/api-keys", token: managerTok}, 403, "api-keys-view"},
		{"key creation within own permissions", req{method: "POST", path: "/v1/projects/shop/api-keys", token: managerTok, body: newKey("containers-view")}, 201, ""},
		{"key creation beyond own permissions", req{method: "POST", path: "/v1/projects/shop/api-keys", token: managerTok, body: newKey("containers-view", "containers-manage")}, 403, "containers-manage"},
		{"key token creating a wider key", req{method: "POST", path: "/v1/projects/shop/api-keys", token: keyTok, body: newKey("billing-manage")}, 403, "billing-manage"},
		{"key token creating a narrower key", req{method: "POST", path: "/v1/projects/shop/api-keys", token: keyTok, body: newKey("containers-view")}, 409, "already exists"},
		{"unknown permission is 400, not 403", req{method: "POST", path: "/v1/projects/shop/api-keys", token: managerTok, body: newKey("root")}, 400, "root"},
		{"grant a member more than you hold", req{method: "PUT", path: "/v1/projects/shop/members/viewer@example.com", token: managerTok, body: map[string]any{"permissions": []string{"billing-view"}}}, 403, "billing-view"},
		{"change a member who holds more than you", req{method: "PUT", path: "/v1/projects/shop/members/owner@example.com", token: managerTok, body: map[string]any{"permissions": []string{"containers-view"}}}, 403, "hold"},
		{"remove a member who holds more than you", req{method: "DELETE", path: "/v1/projects/shop/members/owner@example.com", token: managerTok}, 403, "hold"},
		{"a key cannot create projects", req{method: "POST", path: "/v1/projects", token: keyTok, body: map[string]any{"name": "mine"}}, 403, "API key"},
		{"a narrowed token cannot create projects", req{method: "POST", path: "/v1/projects", token: e.userToken(owner, p.ID), body: map[string]any{"name": "mine"}}, 403, "narrowed"},
		{"a non-admin cannot create users", req{method: "POST", path: "/v1/users", token: managerTok, body: map[string]any{"email": "x@example.com", "password": "long enough password"}}, 403, "administrator"},
		{"a key cannot create users", req{method: "POST", path: "/v1/users", token: keyTok, body: map[string]any{"email": "x@example.com", "password": "long enough password"}}, 403, "API key"},
		{"a manager changes a member within their own permissions", req{method: "PUT", path: "/v1/projects/shop/members/helper@example.com", token: managerTok, body: map[string]any{"permissions": []string{"containers-view", "api-keys-manage"}}}, 200, ""},
		{"a manager removes a member within their own permissions", req{method: "DELETE", path: "/v1/projects/shop/members/helper@example.com", token: managerTok}, 204, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := e.do(tt.rq).expect(t, tt.status)
			if tt.status >= 400 {
				if p := resp.problem(t); !strings.Contains(p.Detail, tt.detail) {
					t.Errorf("detail %q does not mention %q", p.Detail, tt.detail)
				}
			}
		})
	}
	// The failed escalations changed nothing.
	m, err := e.store.Member(e.ctx, p.ID, owner.ID)
	if err != nil || len(m.Permissions) != len(e.srv.Catalog.Names()) {
		t.Errorf("owner's membership changed: %+v %v", m, err)
	}
}

// TestScopeNarrowsManagement: a token narrowed by scope at the exchange manages no more than its
// scope, although the credential holds more.
func TestScopeNarrowsManagement(t *testing.T) {
	e := newEnv(t)
	owner := e.user("owner@example.com", false)
	p := e.project("shop", owner, nil)
	tok, _ := e.session(&keyward.Session{Kind: keyward.SessionUser, UserID: owner.ID, ProjectID: p.ID, Scope: []string{"api-keys-view"}}, []string{"api-keys-view"})
	e.do(req{method: "GET", path: "/v1/projects/shop/api-keys", token: tok}).expect(t, http.StatusOK)
	e.do(req{method: "POST", path: "/v1/projects/shop/api-keys", token: tok, body: map[string]any{"name": "x", "permissions": []string{"containers-view"}}}).
		expect(t, http.StatusForbidden)
	k, _ := e.apiKey(p, "wide", "api-keys-view", "api-keys-manage", "containers-view")
	ktok, _ := e.session(&keyward.Session{Kind: keyward.SessionKey, KeyID: k.ID, ProjectID: p.ID, Scope: []string{"api-keys-view"}}, []string{"api-keys-view"})
	e.do(req{method: "GET", path: "/v1/projects/shop/api-keys", token: ktok}).expect(t, http.StatusOK)
	e.do(req{method: "DELETE", path: "/v1/projects/shop/api-keys/" + k.ID, token: ktok}).expect(t, http.StatusForbidden)
}

// TestKeyNetworks: a key's token used from outside the key's networks is refused, because the
// key's current networks are checked on every request.
func TestKeyNetworks(t *testing.T) {
	e := newEnv(t)
	owner := e.user("owner@example.com", false)
	p := e.project("shop", owner, nil)
	anywhere, _ := e.apiKey(p, "anywhere", "api-keys-view")
	e.do(req{method: "GET", path: "/v1/me", token: e.keyToken(anywhere), remote: "198.51.100.7:5000"}).expect(t, http.StatusOK)

	office, _ := e.storeKey(&keyward.APIKey{ProjectID: p.ID, Name: "office", Permissions: []string{"api-keys-view"},
		IPs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")}})
	tok := e.keyToken(office)
	for _, tt := range []struct {
		remote string
		status int
	}{
		{"10.1.2.3:5000", http.StatusOK},
		{"[::ffff:10.1.2.3]:5000", http.StatusOK},
		{"[2001:db8::5]:5000", http.StatusOK},
		{"192.0.2.10:5000", http.StatusForbidden},
		{"[2001:db9::5]:5000", http.StatusForbidden},
	} {
		resp := e.do(req{method: "GET", path: "/v1/projects/shop/api-keys", token: tok, remote: tt.remote})
		if resp.status != tt.status {
			t.Errorf("from %s: status %d, want %d: %s", tt.remote, resp.status, tt.status, resp.body)
		}
	}
}

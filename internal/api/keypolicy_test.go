package api

import (
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
)

// TestKeyPolicy: a project's key policy is set by PATCH (replaced whole, checked, needing what
// renaming needs), shown in the project JSON, and enforced with one sentence per rule at key
// creation, at edits of expiry or networks, and at roll; other edits of an older key still work.
func TestKeyPolicy(t *testing.T) {
	e := newEnv(t)
	owner := e.user("owner@example.com", false)
	p := e.project("shop", owner, nil)
	tok := e.userToken(owner, "")
	old, _ := e.apiKey(p, "old", "containers-view") // issued before the policy: no expiry, any address
	far := e.clock.Now().Add(5000 * time.Hour)
	long, _ := e.storeKey(&keyward.APIKey{ProjectID: p.ID, Name: "long", Permissions: []string{"containers-view"},
		IPs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, ExpiresAt: &far}) // beyond the maximum to come
	keys := "/v1/projects/shop/api-keys"
	at := func(d time.Duration) string { return e.clock.Now().Add(d).Format(time.RFC3339) }

	var proj client.Project
	e.do(req{method: "GET", path: "/v1/projects/shop", token: tok}).expect(t, http.StatusOK).decode(t, &proj)
	if proj.KeyPolicy != (client.KeyPolicy{MaxLifetime: "0"}) {
		t.Fatalf("a new project's key policy: %+v", proj.KeyPolicy)
	}

	// Who may set it, and what it accepts.
	lesser := e.user("lesser@example.com", false)
	e.member(p, lesser, "api-keys-manage", "api-keys-view", "containers-view")
	e.do(req{method: "PATCH", path: "/v1/projects/shop", token: e.userToken(lesser, ""),
		body: map[string]any{"key_policy": map[string]any{"require_ips": true}}}).expect(t, http.StatusForbidden)
	for _, bad := range []any{"90d", "-1h", "30m", "1000000h", 5} {
		e.do(req{method: "PATCH", path: "/v1/projects/shop", token: tok,
			body: map[string]any{"key_policy": map[string]any{"max_lifetime": bad}}}).expect(t, http.StatusBadRequest)
	}
	e.do(req{method: "PATCH", path: "/v1/projects/shop", token: tok,
		body: map[string]any{"key_policy": map[string]any{"require_ip": true}}}).expect(t, http.StatusBadRequest)
	e.do(req{method: "PATCH", path: "/v1/projects/shop", token: tok,
		body: map[string]any{"key_policy": map[string]any{"require_expiry": true, "max_lifetime": "2160h", "require_ips": true}}}).
		expect(t, http.StatusOK).decode(t, &proj)
	want := client.KeyPolicy{RequireExpiry: true, MaxLifetime: "2160h", RequireIPs: true}
	if proj.KeyPolicy != want {
		t.Fatalf("key policy set: %+v", proj.KeyPolicy)
	}
	e.do(req{method: "GET", path: "/v1/projects/shop", token: tok}).expect(t, http.StatusOK).decode(t, &proj)
	if proj.KeyPolicy != want {
		t.Fatalf("key policy read: %+v", proj.KeyPolicy)
	}
	events, _, err := e.store.AuditPage(e.ctx, p.ID, keyward.Page{Limit: 1})
	if err != nil || len(events) != 1 || events[0].Action != keyward.AuditProjectKeyPolicySet ||
		events[0].Detail != "require_expiry=true max_lifetime=2160h require_ips=true" {
		t.Fatalf("audit: %+v, %v", events[0], err)
	}

	// Creation: each rule refused with its sentence; a conforming key is created.
	expiry := "This project requires API keys to expire within 90 days (2160h)."
	ips := "This project requires API keys to be restricted to IP addresses: give at least one address or network."
	create := func(body map[string]any) *response {
		body["name"], body["permissions"] = "new", []string{"containers-view"}
		return e.do(req{method: "POST", path: keys, token: tok, body: body})
	}
	for name, c := range map[string]struct {
		body   map[string]any
		detail string
	}{
		"no expiry":     {map[string]any{"ips": []string{"10.0.0.0/8"}}, expiry},
		"too long":      {map[string]any{"ips": []string{"10.0.0.0/8"}, "expires_at": at(2161 * time.Hour)}, expiry},
		"no addresses":  {map[string]any{"expires_at": at(24 * time.Hour)}, ips},
		"empty address": {map[string]any{"ips": []string{}, "expires_at": at(24 * time.Hour)}, ips},
	} {
		if pr := create(c.body).expect(t, http.StatusBadRequest).problem(t); pr.Detail != c.detail {
			t.Errorf("%s: %q, want %q", name, pr.Detail, c.detail)
		}
	}
	var key client.Key
	create(map[string]any{"ips": []string{"10.0.0.0/8"}, "expires_at": at(2160 * time.Hour)}).expect(t, http.StatusCreated).decode(t, &key)

	// Edit: a change of expiry or networks must conform; an edit of anything else of the older
	// key works, and so does the same expiry sent again.
	oldPath := keys + "/" + old.ID
	if pr := e.do(req{method: "PATCH", path: oldPath, token: tok, body: map[string]any{"ips": []string{"10.1.0.0/16"}, "expires_at": at(3000 * time.Hour)}}).
		expect(t, http.StatusBadRequest).problem(t); pr.Detail != expiry {
		t.Errorf("edit to a too-long expiry: %q", pr.Detail)
	}
	if pr := e.do(req{method: "PATCH", path: keys + "/" + key.ID, token: tok, body: map[string]any{"ips": []string{}}}).
		expect(t, http.StatusBadRequest).problem(t); pr.Detail != ips {
		t.Errorf("edit to any address: %q", pr.Detail)
	}
	e.do(req{method: "PATCH", path: oldPath, token: tok, body: map[string]any{"name": "older"}}).expect(t, http.StatusOK)
	e.do(req{method: "PATCH", path: keys + "/" + key.ID, token: tok, body: map[string]any{"name": "newer", "expires_at": key.ExpiresAt}}).expect(t, http.StatusOK)
	e.do(req{method: "PATCH", path: keys + "/" + long.ID, token: tok, body: map[string]any{"name": "longer", "expires_at": far.Format(time.RFC3339)}}).expect(t, http.StatusOK)

	// Roll: the older key gets no new secret until it conforms; one clear reason each time.
	roll := func() *response {
		return e.do(req{method: "POST", path: oldPath + "/roll", token: tok, body: map[string]any{"grace": "0s"}})
	}
	if pr := roll().expect(t, http.StatusConflict).problem(t); pr.Detail != "This project requires API keys to expire within 90 days (2160h). Change the key's expiry first, then roll it." {
		t.Errorf("roll without expiry: %q", pr.Detail)
	}
	e.do(req{method: "PATCH", path: oldPath, token: tok, body: map[string]any{"expires_at": at(time.Hour)}}).expect(t, http.StatusOK)
	if pr := roll().expect(t, http.StatusConflict).problem(t); pr.Detail != "This project requires API keys to be restricted to IP addresses: give at least one address or network. Change the key's IP addresses first, then roll it." {
		t.Errorf("roll without addresses: %q", pr.Detail)
	}
	e.do(req{method: "PATCH", path: oldPath, token: tok, body: map[string]any{"ips": []string{"192.0.2.1"}}}).expect(t, http.StatusOK)
	roll().expect(t, http.StatusCreated)

	// Replaced whole: require_expiry alone keeps no maximum.
	e.do(req{method: "PATCH", path: "/v1/projects/shop", token: tok, body: map[string]any{"key_policy": map[string]any{"require_expiry": true}}}).
		expect(t, http.StatusOK).decode(t, &proj)
	if proj.KeyPolicy != (client.KeyPolicy{RequireExpiry: true, MaxLifetime: "0"}) {
		t.Fatalf("policy replaced: %+v", proj.KeyPolicy)
	}
	if pr := e.do(req{method: "POST", path: keys, token: tok, body: map[string]any{"name": "any", "permissions": []string{"containers-view"}}}).
		expect(t, http.StatusBadRequest).problem(t); pr.Detail != "This project requires API keys to expire: give an expiry." {
		t.Errorf("require_expiry alone: %q", pr.Detail)
	}
	e.do(req{method: "POST", path: keys, token: tok, body: map[string]any{"name": "any", "permissions": []string{"containers-view"}, "expires_at": at(50000 * time.Hour)}}).
		expect(t, http.StatusCreated)
}

// TestProjectPatchIsCheckedFirst: a PATCH whose key policy is bad changes none of the settings
// it sends beside it.
func TestProjectPatchIsCheckedFirst(t *testing.T) {
	e := newEnv(t)
	owner := e.user("owner@example.com", false)
	e.project("shop", owner, nil)
	tok := e.userToken(owner, "")
	e.do(req{method: "PATCH", path: "/v1/projects/shop", token: tok, body: map[string]any{
		"name": "boutique", "require_dpop": true, "key_policy": map[string]any{"max_lifetime": "soon"},
	}}).expect(t, http.StatusBadRequest).problem(t)
	var proj client.Project
	e.do(req{method: "GET", path: "/v1/projects/shop", token: tok}).expect(t, http.StatusOK).decode(t, &proj)
	if proj.Name != "shop" || proj.RequireDPoP {
		t.Errorf("a refused PATCH changed the project: %+v", proj)
	}
}

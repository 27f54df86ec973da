package api

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
)

func TestUpdateKeyValidation(t *testing.T) {
	e := newEnv(t)
	owner := e.user("owner@example.com", false)
	p := e.project("shop", owner, nil)
	tok := e.userToken(owner, "")
	k, _ := e.apiKey(p, "deploy", "containers-view")
	e.apiKey(p, "taken", "containers-view")
	path := "/v1/projects/shop/api-keys/" + k.ID
	now := e.clock.Now()
	tests := []struct {
		name   string
		body   any
		status int
		detail string
	}{
		{"empty object", map[string]any{}, 400, "Nothing to change"},
		{"empty body", "", 400, "empty"},
		{"unknown field", map[string]any{"name": "a", "scopes": "admin"}, 400, "scopes"},
		{"unknown owner", map[string]any{"owner": "usr_x"}, 400, "not an enabled member"},
		{"null owner", map[string]any{"owner": nil}, 400, "null"},
		{"null name", map[string]any{"name": nil}, 400, "null"},
		{"null permissions", map[string]any{"permissions": nil}, 400, "null"},
		{"bad name", map[string]any{"name": "a\nb"}, 400, "control"},
		{"taken name", map[string]any{"name": "taken"}, 409, "already exists"},
		{"bad CIDR", map[string]any{"ips": []string{"10.0.0.0/33"}}, 400, "10.0.0.0/33"},
		{"no permissions", map[string]any{"permissions": []string{}}, 400, "permissions"},
		{"unknown permission", map[string]any{"permissions": []string{"superuser"}}, 400, "superuser"},
		{"expiry in the past", map[string]any{"expires_at": now.Add(-time.Second).Format(time.RFC3339)}, 400, "future"},
		{"expiry not RFC 3339", map[string]any{"expires_at": "tomorrow"}, 400, "RFC 3339"},
		{"rename", map[string]any{"name": "deploy bot"}, 200, ""},
		{"expiry", map[string]any{"expires_at": now.Add(time.Hour).Format(time.RFC3339)}, 200, ""},
		{"no expiry", map[string]any{"expires_at": nil}, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := e.do(req{method: "PATCH", path: path, token: tok, body: tt.body}).expect(t, tt.status)
			if tt.status >= 400 {
				if p := resp.problem(t); !strings.Contains(p.Detail, tt.detail) {
					t.Errorf("detail %q does not mention %q", p.Detail, tt.detail)
				}
			}
		})
	}
	var got client.Key
	e.do(req{method: "GET", path: path, token: tok}).expect(t, http.StatusOK).decode(t, &got)
	if got.Name != "deploy bot" || got.ExpiresAt != nil {
		t.Errorf("key after the edits: %+v", got)
	}
}

// TestUpdateKeyNarrowingEndsItsTokens: a key edited down loses its old tokens at once; one
// edited up keeps them. Only a caller with api-keys-manage edits, only within its own project and
// its own permissions.
func TestUpdateKeyNarrowingEndsItsTokens(t *testing.T) {
	e := newEnv(t)
	owner := e.user("owner@example.com", false)
	p := e.project("shop", owner, nil)
	ownerTok := e.userToken(owner, "")
	k, _ := e.apiKey(p, "ci", "containers-view", "containers-manage", "api-keys-view")
	path := "/v1/projects/shop/api-keys/" + k.ID
	keyTok := e.keyToken(k)
	e.do(req{method: "GET", path: "/v1/projects/shop/api-keys", token: keyTok}).expect(t, http.StatusOK)

	// Widening: the token stays good.
	var widened client.Key
	e.do(req{method: "PATCH", path: path, token: ownerTok, body: map[string]any{
		"permissions": []string{"containers-view", "containers-manage", "api-keys-view", "audit-view"},
	}}).expect(t, http.StatusOK).decode(t, &widened)
	if len(widened.Permissions) != 4 || !slices.Contains(widened.Permissions, "audit-view") {
		t.Errorf("permissions after widening: %v", widened.Permissions)
	}
	e.do(req{method: "GET", path: "/v1/projects/shop/api-keys", token: keyTok}).expect(t, http.StatusOK)

	// Narrowing: refused on the next request, before it expires.
	e.do(req{method: "PATCH", path: path, token: ownerTok, body: map[string]any{"permissions": []string{"containers-view"}}}).
		expect(t, http.StatusOK)
	e.do(req{method: "GET", path: "/v1/me", token: keyTok}).expect(t, http.StatusUnauthorized)
	session, err := e.store.APIKey(e.ctx, k.ID)
	if err != nil || session.Revision != 2 {
		t.Fatalf("stored key: %+v, %v", session, err)
	}

	// The editor's own permissions bound the edit.
	ops := e.user("ops@example.com", false)
	e.member(p, ops, "api-keys-view", "api-keys-manage", "containers-view")
	opsTok := e.userToken(ops, "")
	e.do(req{method: "PATCH", path: path, token: opsTok, body: map[string]any{"permissions": []string{"containers-manage"}}}).
		expect(t, http.StatusForbidden)
	viewer := e.user("viewer@example.com", false)
	e.member(p, viewer, "api-keys-view")
	e.do(req{method: "PATCH", path: path, token: e.userToken(viewer, ""), body: map[string]any{"name": "x"}}).
		expect(t, http.StatusForbidden)

	// Another tenant's key is not found, whatever the caller may do in its own project.
	eve := e.user("eve@example.com", false)
	e.project("other", eve, nil)
	eveTok := e.userToken(eve, "")
	e.do(req{method: "PATCH", path: "/v1/projects/other/api-keys/" + k.ID, token: eveTok, body: map[string]any{"name": "mine"}}).
		expect(t, http.StatusNotFound)
	e.do(req{method: "PATCH", path: path, token: eveTok, body: map[string]any{"name": "mine"}}).expect(t, http.StatusNotFound)

	var events client.AuditPage
	e.do(req{method: "GET", path: "/v1/projects/shop/audit?limit=1", token: ownerTok}).expect(t, http.StatusOK).decode(t, &events)
	if ev := events.Data[0]; ev.Action != "api_key.updated" || ev.Detail != "permissions=containers-view sessions ended" {
		t.Errorf("audit %+v", ev)
	}
}

// TestTransferKeyOwner: PATCH owner moves a key to a member who holds its permissions; a user
// outside the project reads as an unknown one; a key disabled by its owner's removal is saved.
func TestTransferKeyOwner(t *testing.T) {
	e := newEnv(t)
	owner := e.user("owner@example.com", false)
	p := e.project("shop", owner, nil)
	e.project("other", e.user("stranger@example.com", false), nil)
	ownerTok := e.userToken(owner, "")
	eve, ops, viewer := e.user("eve@example.com", false), e.user("ops@example.com", false), e.user("viewer@example.com", false)
	e.member(p, eve, "containers-view", "containers-manage")
	e.member(p, ops, "containers-view", "containers-manage")
	e.member(p, viewer, "containers-view")
	outsider, err := e.store.UserByEmail(e.ctx, "stranger@example.com")
	if err != nil {
		t.Fatal(err)
	}
	k, _ := e.storeKey(&keyward.APIKey{ProjectID: p.ID, Name: "deploy", Permissions: []string{"containers-view", "containers-manage"}, Owner: eve.ID})
	path := "/v1/projects/shop/api-keys/" + k.ID
	transfer := func(to string, status int) *response {
		return e.do(req{method: "PATCH", path: path, token: ownerTok, body: map[string]any{"owner": to}}).expect(t, status)
	}
	outside := transfer(outsider.ID, 400).problem(t).Detail
	unknown := transfer("usr_0000000000000000", 400).problem(t).Detail
	if strings.ReplaceAll(outside, outsider.ID, "ID") != strings.ReplaceAll(unknown, "usr_0000000000000000", "ID") {
		t.Errorf("a user of another project: %q; an unknown one: %q", outside, unknown)
	}
	if d := transfer(viewer.ID, 403).problem(t).Detail; !strings.Contains(d, "containers-manage") {
		t.Errorf("a member without the key's permissions: %q", d)
	}

	e.do(req{method: "DELETE", path: "/v1/projects/shop/members/" + eve.ID, token: ownerTok}).expect(t, http.StatusNoContent)
	var got client.Key
	e.do(req{method: "GET", path: path, token: ownerTok}).expect(t, http.StatusOK).decode(t, &got)
	if got.DisabledAt == nil {
		t.Fatalf("the removed owner's key is not disabled: %+v", got)
	}
	transfer(ops.ID, http.StatusOK).decode(t, &got)
	if got.Owner != ops.ID || got.DisabledAt != nil {
		t.Errorf("transferred key %+v", got)
	}
}

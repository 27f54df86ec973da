package api

import (
	"net/http"
	"strings"
	"testing"

	"github.com/keyward/keyward/client"
)

// TestRequireDPoPSettings: require_dpop of a key, a role and a project is set by PATCH, shown in
// their JSON, refused as null, and switched off for a key only by a caller who holds all of it.
func TestRequireDPoPSettings(t *testing.T) {
	e := newEnv(t)
	owner := e.user("owner@example.com", false)
	p := e.project("shop", owner, nil)
	tok := e.userToken(owner, "")
	k, _ := e.apiKey(p, "deploy", "containers-view", "api-keys-manage")
	keyPath := "/v1/projects/shop/api-keys/" + k.ID

	var key client.Key
	e.do(req{method: "PATCH", path: keyPath, token: tok, body: map[string]any{"require_dpop": true}}).expect(t, http.StatusOK).decode(t, &key)
	if !key.RequireDPoP {
		t.Fatalf("key after require_dpop true: %+v", key)
	}
	e.do(req{method: "GET", path: keyPath, token: tok}).expect(t, http.StatusOK).decode(t, &key)
	if !key.RequireDPoP {
		t.Fatal("GET does not show require_dpop")
	}
	if pr := e.do(req{method: "PATCH", path: keyPath, token: tok, body: map[string]any{"require_dpop": nil}}).expect(t, http.StatusBadRequest).problem(t); !strings.Contains(pr.Detail, "require_dpop") {
		t.Errorf("null require_dpop: %q", pr.Detail)
	}
	e.do(req{method: "PATCH", path: keyPath, token: tok, body: map[string]any{"require_dpop": "yes"}}).expect(t, http.StatusBadRequest)

	// A manager of keys who lacks one of the key's permissions may require DPoP of it (a
	// narrowing), never release it (a widening).
	lesser := e.user("lesser@example.com", false)
	e.member(p, lesser, "api-keys-manage", "api-keys-view")
	ltok := e.userToken(lesser, "")
	pr := e.do(req{method: "PATCH", path: keyPath, token: ltok, body: map[string]any{"require_dpop": false}}).expect(t, http.StatusForbidden).problem(t)
	if !strings.Contains(pr.Detail, "containers-view") {
		t.Errorf("widening refused with %q", pr.Detail)
	}
	e.do(req{method: "PATCH", path: keyPath, token: tok, body: map[string]any{"require_dpop": false}}).expect(t, http.StatusOK).decode(t, &key)
	if key.RequireDPoP {
		t.Fatal("require_dpop still on")
	}
	e.do(req{method: "PATCH", path: keyPath, token: ltok, body: map[string]any{"require_dpop": true}}).expect(t, http.StatusOK)

	var role client.Role
	e.do(req{method: "POST", path: "/v1/projects/shop/roles", token: tok,
		body: map[string]any{"name": "deployer", "permissions": []string{"containers-view"}}}).expect(t, http.StatusCreated).decode(t, &role)
	if role.RequireDPoP {
		t.Fatal("a new role requires DPoP")
	}
	e.do(req{method: "PATCH", path: "/v1/projects/shop/roles/deployer", token: tok, body: map[string]any{"require_dpop": true}}).expect(t, http.StatusOK).decode(t, &role)
	if !role.RequireDPoP {
		t.Fatalf("role after require_dpop true: %+v", role)
	}
	e.do(req{method: "PATCH", path: "/v1/projects/shop/roles/deployer", token: ltok, body: map[string]any{"require_dpop": false}}).expect(t, http.StatusForbidden)

	var proj client.Project
	e.do(req{method: "PATCH", path: "/v1/projects/shop", token: ltok, body: map[string]any{"require_dpop": true}}).expect(t, http.StatusForbidden)
	e.do(req{method: "PATCH", path: "/v1/projects/shop", token: tok, body: map[string]any{"require_dpop": true}}).expect(t, http.StatusOK).decode(t, &proj)
	if !proj.RequireDPoP {
		t.Fatalf("project after require_dpop true: %+v", proj)
	}
	e.do(req{method: "GET", path: "/v1/projects/shop", token: tok}).expect(t, http.StatusOK).decode(t, &proj)
	if !proj.RequireDPoP {
		t.Fatal("GET does not show the project's require_dpop")
	}
}

package api

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/apikey"
	"github.com/keyward/keyward/client"
)

// TestTour walks every route once on its successful path, the way the dashboard and the CLI use
// them, and checks each answer against the OpenAPI document; at the end every documented /v1
// operation must have answered successfully at least once.
func TestTour(t *testing.T) {
	e := newEnv(t)
	admin := e.user("admin@example.com", true)
	tok := e.userToken(admin, "")

	e.do(req{method: "GET", path: "/v1/permissions"}).expect(t, http.StatusOK)
	e.do(req{method: "GET", path: "/v1/openapi.json"}).expect(t, http.StatusOK)

	var user client.User
	e.do(req{method: "POST", path: "/v1/users", token: tok, body: map[string]any{"email": "Ada@Example.com", "password": "correct horse battery"}}).
		expect(t, http.StatusCreated).decode(t, &user)
	if user.Email != "ada@example.com" || user.Admin || !strings.HasPrefix(user.ID, keyward.PrefixUser) {
		t.Errorf("created user %+v", user)
	}

	var project client.Project
	resp := e.do(req{method: "POST", path: "/v1/projects", token: tok, body: map[string]any{"name": "web-shop"}}).expect(t, http.StatusCreated)
	resp.decode(t, &project)
	if resp.header.Get("Location") != "/v1/projects/"+project.ID {
		t.Errorf("Location = %q", resp.header.Get("Location"))
	}
	if len(project.Permissions) != len(e.srv.Catalog.Names()) {
		t.Errorf("creator holds %v, want every permission", project.Permissions)
	}
	e.do(req{method: "GET", path: "/v1/projects", token: tok}).expect(t, http.StatusOK)
	e.do(req{method: "GET", path: "/v1/projects/web-shop", token: tok}).expect(t, http.StatusOK)
	e.do(req{method: "GET", path: "/v1/projects/" + project.ID, token: tok}).expect(t, http.StatusOK)

	base := "/v1/projects/" + project.ID
	e.do(req{method: "PUT", path: base + "/members/ada@example.com", token: tok, body: map[string]any{"permissions": []string{"containers-view"}}}).
		expect(t, http.StatusCreated)
	e.do(req{method: "PUT", path: base + "/members/" + user.ID, token: tok, body: map[string]any{"permissions": []string{"containers-view", "api-keys-view"}}}).
		expect(t, http.StatusOK)
	e.do(req{method: "GET", path: base + "/members", token: tok}).expect(t, http.StatusOK)
	var invite client.CreatedInvite
	e.do(req{method: "POST", path: base + "/invites", token: tok, body: map[string]any{"email": "Bea@Example.com", "role": "viewer"}}).
		expect(t, http.StatusCreated).decode(t, &invite)
	if invite.Email != "bea@example.com" || invite.Role != "viewer" || invite.URL == "" || invite.Mailed {
		t.Errorf("created invite %+v", invite)
	}
	e.do(req{method: "GET", path: base + "/invites", token: tok}).expect(t, http.StatusOK)
	e.do(req{method: "DELETE", path: base + "/invites/" + invite.ID, token: tok}).expect(t, http.StatusNoContent)

	var roles client.Page[client.Role]
	e.do(req{method: "GET", path: base + "/roles", token: tok}).expect(t, http.StatusOK).decode(t, &roles)
	var names []string
	for _, r := range roles.Data {
		names = append(names, r.Name)
	}
	if strings.Join(names, " ") != "admin developer owner viewer" {
		t.Errorf("a new project's roles are %v, want admin, developer, owner and viewer", names)
	}
	var role client.Role
	e.do(req{method: "POST", path: base + "/roles", token: tok, body: map[string]any{"name": "deployer", "description": "Ships images.", "permissions": []string{"images-manage"}}}).
		expect(t, http.StatusCreated).decode(t, &role)
	e.do(req{method: "GET", path: base + "/roles/deployer", token: tok}).expect(t, http.StatusOK)
	e.do(req{method: "PATCH", path: base + "/roles/" + role.ID, token: tok, body: map[string]any{"permissions": []string{"images-manage", "images-view"}}}).
		expect(t, http.StatusOK)
	var member client.Member
	e.do(req{method: "PUT", path: base + "/members/" + user.ID, token: tok, body: map[string]any{"role": "deployer", "permissions": []string{"dns-view"}}}).
		expect(t, http.StatusOK).decode(t, &member)
	if member.Role == nil || *member.Role != "deployer" || strings.Join(member.EffectivePermissions, " ") != "images-view images-manage dns-view" {
		t.Errorf("member with a role = %+v", member)
	}
	e.do(req{method: "PUT", path: base + "/members/" + user.ID, token: tok, body: map[string]any{"permissions": []string{"containers-view", "api-keys-view"}}}).
		expect(t, http.StatusOK)
	e.do(req{method: "DELETE", path: base + "/roles/deployer", token: tok}).expect(t, http.StatusNoContent)

	var created client.Key
	expires := e.clock.Now().Add(24 * time.Hour).Format(time.RFC3339)
	e.do(req{method: "POST", path: base + "/api-keys", token: tok, body: map[string]any{
		"name": "CI deploy", "ips": []string{"10.0.0.0/8", "2001:db8::1"}, "permissions": []string{"images-manage", "containers-view"}, "expires_at": expires,
	}}).expect(t, http.StatusCreated).decode(t, &created)
	if id, err := apikey.Parse(created.Secret); err != nil || id != created.ID {
		t.Errorf("the key %q does not parse to its id %q: %v", created.Secret, created.ID, err)
	}
	if got := strings.Join(created.Permissions, " "); got != "containers-view images-manage" {
		t.Errorf("permissions %q, want catalog order", got)
	}
	e.do(req{method: "GET", path: base + "/api-keys", token: tok}).expect(t, http.StatusOK)
	e.do(req{method: "GET", path: base + "/api-keys/" + created.ID, token: tok}).expect(t, http.StatusOK)

	e.do(req{method: "GET", path: "/v1/me", token: e.userToken(admin, project.ID)}).expect(t, http.StatusOK)
	stored, err := e.store.APIKey(e.ctx, created.ID)
	if err != nil {
		t.Fatal(err)
	}
	e.do(req{method: "GET", path: "/v1/me", token: e.keyToken(stored), remote: "10.9.8.7:5000"}).expect(t, http.StatusOK)

	var rolled client.Key
	e.do(req{method: "POST", path: base + "/api-keys/" + created.ID + "/roll", token: tok, body: map[string]any{"grace": "90m"}}).
		expect(t, http.StatusCreated).decode(t, &rolled)
	if id, err := apikey.Parse(rolled.Secret); err != nil || id != created.ID || rolled.Secret == created.Secret ||
		rolled.PreviousExpiresAt == nil || !rolled.PreviousExpiresAt.Equal(e.clock.Now().Add(90*time.Minute)) {
		t.Errorf("rolled key %+v: %v", rolled, err)
	}
	e.do(req{method: "GET", path: base + "/api-keys/" + created.ID, token: tok}).expect(t, http.StatusOK)
	tourFederation(t, e, tok, base, created.ID)
	tourWebhooks(t, e, tok, base, created.ID)
	tourLeaks(t, e, tok, base, created.ID, rolled.Secret)
	e.do(req{method: "DELETE", path: base + "/api-keys/" + created.ID, token: tok}).expect(t, http.StatusNoContent)
	e.do(req{method: "DELETE", path: base + "/members/" + user.ID, token: tok}).expect(t, http.StatusNoContent)
	e.do(req{method: "GET", path: base + "/audit?limit=2", token: tok}).expect(t, http.StatusOK)
	e.do(req{method: "GET", path: "/v1/revocations?after=0", token: ""}).expect(t, http.StatusOK)

	e.do(req{method: "PATCH", path: base, token: tok, body: map[string]any{"name": "shop"}}).expect(t, http.StatusOK)
	e.do(req{method: "GET", path: "/v1/admin/projects", token: tok}).expect(t, http.StatusOK)
	e.do(req{method: "GET", path: "/v1/users?q=ada", token: tok}).expect(t, http.StatusOK)
	e.do(req{method: "PATCH", path: "/v1/users/" + user.ID, token: tok, body: map[string]any{"admin": true}}).expect(t, http.StatusOK)
	e.do(req{method: "POST", path: "/v1/users/" + user.ID + "/password-reset", token: tok, body: map[string]any{}}).expect(t, http.StatusCreated)
	e.do(req{method: "PUT", path: "/v1/me/password", token: e.userToken(&keyward.User{ID: user.ID}, ""),
		body: map[string]any{"current_password": "correct horse battery", "new_password": "another horse battery"}}).expect(t, http.StatusNoContent)
	e.do(req{method: "GET", path: "/v1/audit?q=login", token: tok}).expect(t, http.StatusOK)
	e.do(req{method: "POST", path: base + "/recover", token: tok}).expect(t, http.StatusOK)
	e.do(req{method: "DELETE", path: base, token: tok}).expect(t, http.StatusNoContent)
	e.do(req{method: "DELETE", path: "/v1/users/" + user.ID, token: tok}).expect(t, http.StatusNoContent)

	doc, _ := loadSpec(t)
	for path, item := range doc.Paths.Map() {
		if !strings.HasPrefix(path, "/v1/") {
			continue
		}
		for method := range item.Operations() {
			if _, ok := covered.Load(method + " " + path); !ok {
				t.Errorf("%s %s never answered successfully in the tour", method, path)
			}
		}
	}
}

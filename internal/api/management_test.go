package api

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
)

// TestMembers adds members directly, which only an instance administrator does (TestInvites
// has everyone else).
func TestMembers(t *testing.T) {
	e := newEnv(t)
	owner := e.user("owner@example.com", true)
	p := e.project("shop", owner, nil)
	ada := e.user("ada@example.com", false)
	tok := e.userToken(owner, "")
	base := "/v1/projects/shop/members/"

	var m client.Member
	e.do(req{method: "PUT", path: base + "ADA@example.com", token: tok, body: map[string]any{"permissions": []string{"images-view", "containers-view", "images-view"}}}).
		expect(t, http.StatusCreated).decode(t, &m)
	if m.User != ada.ID || m.Email != "ada@example.com" || strings.Join(m.Permissions, " ") != "containers-view images-view" {
		t.Errorf("added member %+v", m)
	}
	e.do(req{method: "PUT", path: base + ada.ID, token: tok, body: map[string]any{"permissions": []string{"dns-view"}}}).expect(t, http.StatusOK).decode(t, &m)
	if strings.Join(m.Permissions, " ") != "dns-view" {
		t.Errorf("changed member %+v", m)
	}
	var members client.List[client.Member]
	e.do(req{method: "GET", path: "/v1/projects/shop/members", token: tok}).expect(t, http.StatusOK).decode(t, &members)
	if len(members.Data) != 2 || members.Data[0].Email != "ada@example.com" {
		t.Errorf("members %+v", members.Data)
	}
	for _, tt := range []struct {
		name   string
		rq     req
		status int
	}{
		{"unknown email", req{method: "PUT", path: base + "nobody@example.com", body: map[string]any{"permissions": []string{"dns-view"}}}, 404},
		{"unknown id", req{method: "PUT", path: base + "usr_0000000000000000", body: map[string]any{"permissions": []string{"dns-view"}}}, 404},
		{"neither id nor email", req{method: "PUT", path: base + "ada", body: map[string]any{"permissions": []string{"dns-view"}}}, 404},
		{"no permissions", req{method: "PUT", path: base + ada.ID, body: map[string]any{"permissions": []string{}}}, 400},
		{"unknown permission", req{method: "PUT", path: base + ada.ID, body: map[string]any{"permissions": []string{"god-mode"}}}, 400},
		{"remove", req{method: "DELETE", path: base + ada.ID}, 204},
		{"remove again", req{method: "DELETE", path: base + ada.ID}, 404},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.rq.token = tok
			e.do(tt.rq).expect(t, tt.status)
		})
	}
	if _, err := e.store.Member(e.ctx, p.ID, ada.ID); keyward.ErrorCode(err) != keyward.ENOTFOUND {
		t.Errorf("removed member still stored: %v", err)
	}
}

func TestCreateUser(t *testing.T) {
	e := newEnv(t)
	admin := e.user("root@example.com", true)
	tok := e.userToken(admin, "")
	for _, tt := range []struct {
		name   string
		body   map[string]any
		status int
		detail string
	}{
		{"admin", map[string]any{"email": "ops@example.com", "password": "a long passphrase", "admin": true}, 201, ""},
		{"duplicate in another case", map[string]any{"email": "OPS@example.com", "password": "a long passphrase"}, 409, "already exists"},
		{"weak password", map[string]any{"email": "weak@example.com", "password": "short"}, 400, "at least"},
		{"display name", map[string]any{"email": "Ops <ops2@example.com>", "password": "a long passphrase"}, 400, "email"},
		{"not an address", map[string]any{"email": "ops", "password": "a long passphrase"}, 400, "email"},
		{"missing email", map[string]any{"password": "a long passphrase"}, 400, "email"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp := e.do(req{method: "POST", path: "/v1/users", token: tok, body: tt.body}).expect(t, tt.status)
			if tt.status >= 400 {
				if p := resp.problem(t); !strings.Contains(p.Detail, tt.detail) {
					t.Errorf("detail %q does not mention %q", p.Detail, tt.detail)
				}
			}
		})
	}
	u, err := e.store.UserByEmail(e.ctx, "ops@example.com")
	if err != nil || !u.Admin || u.PasswordHash == "" || strings.Contains(u.PasswordHash, "passphrase") {
		t.Errorf("stored user %+v, %v", u, err)
	}
	// A narrowed token of an admin is no admin token.
	p := e.project("shop", admin, nil)
	e.do(req{method: "POST", path: "/v1/users", token: e.userToken(admin, p.ID), body: map[string]any{"email": "x@example.com", "password": "a long passphrase"}}).
		expect(t, http.StatusForbidden)
}

func TestCreateProject(t *testing.T) {
	e := newEnv(t)
	u := e.user("ada@example.com", false)
	tok := e.userToken(u, "")
	for _, tt := range []struct {
		name   string
		status int
	}{
		{"web-shop", 201},
		{"a", 201},
		{strings.Repeat("a", 63), 201},
		{strings.Repeat("a", 64), 400},
		{"web-shop", 409},
		{"Web-Shop", 400},
		{"-shop", 400},
		{"shop-", 400},
		{"shop_1", 400},
		{"", 400},
		{"prj_0000000000000000", 400},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e.do(req{method: "POST", path: "/v1/projects", token: tok, body: map[string]any{"name": tt.name}}).expect(t, tt.status)
		})
	}
	var projects client.List[client.Project]
	e.do(req{method: "GET", path: "/v1/projects", token: tok}).expect(t, http.StatusOK).decode(t, &projects)
	if len(projects.Data) != 3 {
		t.Errorf("projects %+v", projects.Data)
	}
}

func TestMe(t *testing.T) {
	e := newEnv(t)
	u := e.user("ada@example.com", false)
	p := e.project("shop", u, []string{"containers-view", "api-keys-view"})
	var me client.Me
	e.do(req{method: "GET", path: "/v1/me", token: e.userToken(u, "")}).expect(t, http.StatusOK).decode(t, &me)
	if me.Kind != "user" || me.Subject != "user:"+u.ID || me.User == nil || me.Key != nil || len(me.Projects) != 1 ||
		strings.Join(me.Projects[0].Permissions, " ") != "api-keys-view containers-view" {
		t.Errorf("me %+v", me)
	}
	k, _ := e.apiKey(p, "ci", "containers-view", "billing-view")
	e.do(req{method: "GET", path: "/v1/me", token: e.keyToken(k)}).expect(t, http.StatusOK).decode(t, &me)
	if me.Kind != "key" || me.Subject != "key:"+k.ID || me.Key == nil || me.User != nil || me.Key.ID != k.ID ||
		len(me.Projects) != 1 || me.Projects[0].ID != p.ID || me.Session.Project == nil {
		t.Errorf("me %+v", me)
	}
}

func TestPermissionCatalog(t *testing.T) {
	e := newEnv(t)
	var perms client.List[client.Permission]
	e.do(req{method: "GET", path: "/v1/permissions"}).expect(t, http.StatusOK).decode(t, &perms)
	if !slices.Equal(perms.Data, e.srv.Catalog.All()) {
		t.Errorf("catalog %+v", perms.Data)
	}
	e.do(req{method: "GET", path: "/v1/permissions?x=1"}).expect(t, http.StatusBadRequest).problem(t)
}

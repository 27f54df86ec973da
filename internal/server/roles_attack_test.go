package server_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/internal/kwtest"
)

// TestAttackRoles: roles give no way around the permission rules. Mallory (keys, no members-manage)
// changes no role; Max (members-manage, no container permission) creates, edits, deletes and
// gives no role holding more than he does, and neither touches the owner role or an owner; Bob
// reaches none of default's roles, and a role id of default is no role in his project.
func TestAttackRoles(t *testing.T) {
	w := newAttackWorld(t)
	s := w.s
	const maxEmail, maxPwd = "max@keyward.test", "max-has-a-long-password-7"
	s.CreateUser(t, w.admin, maxEmail, maxPwd)
	putMember(t, s, w.admin, "default", maxEmail, "members-view", "members-manage", "api-keys-view", "api-keys-manage")
	max := s.Login(t, maxEmail, maxPwd, "default").AccessToken
	var viewer client.Role
	s.API(t, http.MethodGet, "/v1/projects/default/roles/viewer", w.admin, nil).JSON(t, &viewer)

	roles := "/v1/projects/default/roles"
	for who, tok := range map[string]string{"mallory": w.mallory, "mallory's key": w.malloryKey} {
		kwtest.RequireProblem(t, s.API(t, http.MethodPost, roles, tok, map[string]any{"name": "mine", "permissions": []string{"api-keys-view"}}), http.StatusForbidden)
		kwtest.RequireProblem(t, s.API(t, http.MethodPatch, roles+"/developer", tok, map[string]any{"permissions": []string{"api-keys-view"}}), http.StatusForbidden)
		kwtest.RequireProblem(t, s.API(t, http.MethodDelete, roles+"/viewer", tok, nil), http.StatusForbidden)
		for _, role := range []string{"admin", "viewer", "owner", viewer.ID} {
			r := s.API(t, http.MethodPost, "/v1/projects/default/api-keys", tok, map[string]any{"name": who + " " + role, "role": role})
			if r.Status != http.StatusForbidden {
				t.Errorf("%s creates a key with role %s: want 403, got %s", who, role, r)
			}
		}
		if r := s.API(t, http.MethodGet, roles, tok, nil); r.Status != http.StatusOK {
			t.Errorf("%s, who sees keys, cannot list the roles keys are given: %s", who, r)
		}
	}
	for _, attempt := range []struct {
		method, path string
		body         any
	}{
		{http.MethodPost, roles, map[string]any{"name": "runner", "permissions": []string{"containers-manage"}}},
		{http.MethodPatch, roles + "/developer", map[string]any{"description": "mine now"}},
		{http.MethodPatch, roles + "/viewer", map[string]any{"permissions": []string{"members-view"}}},
		{http.MethodDelete, roles + "/admin", nil},
		{http.MethodPatch, roles + "/owner", map[string]any{"name": "boss"}},
		{http.MethodDelete, roles + "/owner", nil},
		{http.MethodPut, "/v1/projects/default/members/" + w.malloryID, map[string]any{"role": "admin"}},
		{http.MethodPut, "/v1/projects/default/members/" + url.PathEscape(maxEmail), map[string]any{"role": "owner"}},
		{http.MethodPut, "/v1/projects/default/members/" + url.PathEscape(kwtest.AdminEmail), map[string]any{"role": "viewer"}},
		{http.MethodDelete, "/v1/projects/default/members/" + url.PathEscape(kwtest.AdminEmail), nil},
		{http.MethodPost, "/v1/projects/default/api-keys", map[string]any{"name": "max-dev", "role": "developer"}},
	} {
		if r := s.API(t, attempt.method, attempt.path, max, attempt.body); r.Status != http.StatusForbidden {
			t.Errorf("max: %s %s %v: want 403, got %s", attempt.method, attempt.path, attempt.body, r)
		}
	}
	// What he holds he may put in a role, and give.
	var own client.Role
	s.API(t, http.MethodPost, roles, max, map[string]any{"name": "key-keeper", "permissions": []string{"api-keys-view", "api-keys-manage"}}).JSON(t, &own)
	if r := s.API(t, http.MethodPost, "/v1/projects/default/api-keys", max, map[string]any{"name": "max-keeper", "role": "key-keeper"}); r.Status != http.StatusCreated {
		t.Errorf("max gives a key a role within his permissions: %s", r)
	}
	// Even the admin, an owner, changes and deletes no owner role.
	kwtest.RequireProblem(t, s.API(t, http.MethodPatch, roles+"/owner", w.admin, map[string]any{"permissions": []string{"members-view"}}), http.StatusForbidden)
	kwtest.RequireProblem(t, s.API(t, http.MethodDelete, roles+"/owner", w.admin, nil), http.StatusForbidden)

	// Bob: default's roles are not there, by name or id; default's role id is no role of his.
	for who, tok := range map[string]string{"bob": w.bob, "bob's key": w.bobKey} {
		kwtest.RequireProblem(t, s.API(t, http.MethodGet, roles, tok, nil), http.StatusNotFound)
		kwtest.RequireProblem(t, s.API(t, http.MethodPost, roles, tok, map[string]any{"name": "x", "permissions": []string{"members-view"}}), http.StatusNotFound)
		for _, path := range []string{roles + "/viewer", roles + "/" + viewer.ID} {
			kwtest.RequireProblem(t, s.API(t, http.MethodGet, path, tok, nil), http.StatusNotFound)
			kwtest.RequireProblem(t, s.API(t, http.MethodDelete, path, tok, nil), http.StatusNotFound)
		}
		p := kwtest.RequireProblem(t, s.API(t, http.MethodPatch, "/v1/projects/bobs/roles/"+viewer.ID, tok, map[string]any{"name": "x"}), http.StatusNotFound)
		missing := kwtest.RequireProblem(t, s.API(t, http.MethodPatch, "/v1/projects/bobs/roles/rol_0000000000000000", tok, map[string]any{"name": "x"}), http.StatusNotFound)
		if strings.Replace(p.Detail, viewer.ID, "rol_0000000000000000", 1) != missing.Detail {
			t.Errorf("%s: another project's role %q, a missing one %q", who, p.Detail, missing.Detail)
		}
		r := s.API(t, http.MethodPost, "/v1/projects/bobs/api-keys", tok, map[string]any{"name": "stolen role " + who, "role": viewer.ID})
		if pr := kwtest.RequireProblem(t, r, http.StatusBadRequest); strings.Contains(pr.Detail, "default") {
			t.Errorf("%s: the refusal names default: %q", who, pr.Detail)
		}
	}
	var after client.Role
	s.API(t, http.MethodGet, roles+"/viewer", w.admin, nil).JSON(t, &after)
	if after.Name != "viewer" || len(after.Permissions) != len(viewer.Permissions) || after.Keys != 0 {
		t.Errorf("default's viewer role after the attacks: %+v", after)
	}
}

// TestAttackRoleInput: hostile role names, bodies and paths are 4xx problems, never a 5xx, and a
// name that looks like another role's is that role's.
func TestAttackRoleInput(t *testing.T) {
	w := newAttackWorld(t)
	s := w.s
	roles := "/v1/projects/default/roles"
	for _, body := range []any{`{`, `[]`, `null`, `{}`, `{"name":"x"}`, `{"name":"x","permissions":[]}`, `{"name":1,"permissions":["members-view"]}`,
		`{"name":"x","permissions":["no-such"]}`, `{"name":"x","permissions":["members-view"],"owner":true}`,
		`{"name":"Admin","permissions":["members-view"]}`, `{"name":"vi\u0435wer","permissions":["members-view"]}`,
		`{"name":"view\u200ber","permissions":["members-view"]}`, `{"name":"` + strings.Repeat("r", 64) + `","permissions":["members-view"]}`,
		`{"name":"ok","description":"` + strings.Repeat("d", 301) + `","permissions":["members-view"]}`,
		`{"name":"ok","description":"rtl\u202eevil","permissions":["members-view"]}`} {
		r := s.API(t, http.MethodPost, roles, w.admin, body)
		kwtest.RequireNoServerError(t, r)
		if r.Status < 400 {
			t.Errorf("POST roles %v: want a 4xx, got %s", body, r)
		}
	}
	for _, body := range []any{`{}`, `{"name":null}`, `{"permissions":[]}`, `{"permissions":null}`, `{"name":"admin"}`, `{"name":"x","extra":1}`} {
		r := s.API(t, http.MethodPatch, roles+"/viewer", w.admin, body)
		kwtest.RequireNoServerError(t, r)
		if r.Status < 400 {
			t.Errorf("PATCH roles/viewer %v: want a 4xx, got %s", body, r)
		}
	}
	for _, ref := range []string{"%00", "a%2F..%2Fb", strings.Repeat("r", 500), "rol_%3Cscript%3E", "VIEWER"} {
		for _, method := range []string{http.MethodGet, http.MethodDelete} {
			r := s.API(t, method, roles+"/"+ref, w.admin, nil)
			p := kwtest.RequireProblem(t, r, http.StatusNotFound)
			if strings.Contains(p.Detail, "<script") || len(p.Detail) > 200 {
				t.Errorf("%s %s: detail %q", method, ref, p.Detail)
			}
		}
	}
	for _, q := range []string{"limit=0", "limit=1001", "cursor=", "cursor=junk", "q=%00", "q=" + strings.Repeat("q", 300)} {
		r := s.API(t, http.MethodGet, roles+"?"+q, w.admin, nil)
		kwtest.RequireProblem(t, r, http.StatusBadRequest)
	}
	for _, body := range []any{map[string]any{"role": "nope"}, map[string]any{"role": ""}, map[string]any{"role": 7}, map[string]any{}} {
		r := s.API(t, http.MethodPut, "/v1/projects/default/members/"+w.malloryID, w.admin, body)
		kwtest.RequireNoServerError(t, r)
		if r.Status < 400 {
			t.Errorf("PUT member %v: want a 4xx, got %s", body, r)
		}
	}
	r := s.API(t, http.MethodPatch, "/v1/projects/default/api-keys/"+w.adminKey.ID, w.admin, map[string]any{"role": ""})
	kwtest.RequireProblem(t, r, http.StatusBadRequest)
	s.Exchange(t, w.adminKey.Secret)
}

// TestAttackMemberOracle: a members-manage holder who is not the instance administrator cannot
// tell an address with an account from one without, through any body of PUT …/members/{user}.
func TestAttackMemberOracle(t *testing.T) {
	w := newAttackWorld(t)
	s := w.s
	const maxEmail, maxPwd = "max@keyward.test", "max-has-a-long-password-7"
	s.CreateUser(t, w.admin, maxEmail, maxPwd)
	putMember(t, s, w.admin, "default", maxEmail, "members-view", "members-manage", "api-keys-view")
	max := s.Login(t, maxEmail, maxPwd, "default").AccessToken
	for _, body := range []map[string]any{
		{"permissions": []string{"api-keys-view"}},
		{"permissions": []string{"containers-manage"}},
		{"permissions": []string{"no-such-permission"}},
		{"role": "admin"},
		{"role": "no-such-role"},
		{},
	} {
		known := s.API(t, http.MethodPut, "/v1/projects/default/members/bob@keyward.test", max, body)
		unknown := s.API(t, http.MethodPut, "/v1/projects/default/members/nobody-at-all@keyward.test", max, body)
		kp, up := kwtest.RequireProblem(t, known, known.Status), kwtest.RequireProblem(t, unknown, unknown.Status)
		if known.Status != unknown.Status || strings.Replace(kp.Detail, "bob@", "nobody-at-all@", 1) != up.Detail {
			t.Errorf("body %v: an address with an account answers %d %q, one without %d %q", body, known.Status, kp.Detail, unknown.Status, up.Detail)
		}
	}
}

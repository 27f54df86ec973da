package server_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/kwtest"
)

// auditActions returns the actions of a project's audit log.
func auditActions(t *testing.T, s *kwtest.Server, bearer, project string) []string {
	t.Helper()
	var out []string
	for _, e := range s.Audit(t, bearer, project) {
		out = append(out, e.Action)
	}
	return out
}

// TestRenameProject: a member with projects-manage renames a project; the new name obeys the
// look-alike rule, and a conflict with another tenant's project says no more than an exact
// duplicate would.
func TestRenameProject(t *testing.T) {
	s := kwtest.Start(t, unthrottled)
	admin := s.AdminToken(t)
	shop := s.CreateProject(t, admin, "shop")
	s.CreateProject(t, admin, "modern")
	const email, pw = "bob@keyward.test", "a-member-password-long-enough-7"
	s.CreateUser(t, admin, email, pw)
	bob := s.Login(t, email, pw, "").AccessToken
	s.CreateProject(t, bob, "bobs")

	r := s.API(t, http.MethodPatch, "/v1/projects/shop", admin, map[string]string{"name": "store"})
	if r.Status != http.StatusOK {
		t.Fatalf("rename: %s", r)
	}
	var renamed kwtest.Project
	r.JSON(t, &renamed)
	if renamed.ID != shop.ID || renamed.Name != "store" {
		t.Fatalf("renamed project %+v", renamed)
	}
	if p := project(t, s, admin, "store"); p.ID != shop.ID {
		t.Fatalf("GET store = %+v", p)
	}
	kwtest.RequireProblem(t, s.API(t, http.MethodGet, "/v1/projects/shop", admin, nil), http.StatusNotFound)
	if a := auditActions(t, s, admin, "store"); !slices.Contains(a, keyward.AuditProjectRenamed) {
		t.Errorf("audit %v lacks %s", a, keyward.AuditProjectRenamed)
	}

	// Bob's rename to another tenant's name, exact or look-alike ("rn" reads as "m"), is the same
	// 409, naming only what Bob asked for.
	exact := kwtest.RequireProblem(t, s.API(t, http.MethodPatch, "/v1/projects/bobs", bob, map[string]string{"name": "modern"}), http.StatusConflict)
	alike := kwtest.RequireProblem(t, s.API(t, http.MethodPatch, "/v1/projects/bobs", bob, map[string]string{"name": "rnodern"}), http.StatusConflict)
	if want := strings.ReplaceAll(exact.Detail, `"modern"`, `"rnodern"`); alike.Detail != want {
		t.Errorf("look-alike conflict %q, want %q", alike.Detail, want)
	}
	for _, bad := range []string{"Bad Name", "", "a-"} {
		kwtest.RequireProblem(t, s.API(t, http.MethodPatch, "/v1/projects/bobs", bob, map[string]string{"name": bad}), http.StatusBadRequest)
	}

	// Without projects-manage: 403; outside the project: 404.
	putMember(t, s, admin, "store", email, "members-view")
	kwtest.RequireProblem(t, s.API(t, http.MethodPatch, "/v1/projects/store", bob, map[string]string{"name": "bobs-store"}), http.StatusForbidden)
	kwtest.RequireProblem(t, s.API(t, http.MethodPatch, "/v1/projects/bobs", admin, map[string]string{"name": "admins"}), http.StatusNotFound)
}

// TestDeleteProject: only an owner deletes a project; every key and session of it stops at once,
// and its name is free again.
func TestDeleteProject(t *testing.T) {
	s := kwtest.Start(t, unthrottled)
	admin := s.AdminToken(t)
	s.CreateProject(t, admin, "doomed")
	const email, pw = "eve@keyward.test", "a-member-password-long-enough-7"
	s.CreateUser(t, admin, email, pw)
	putMember(t, s, admin, "doomed", email, "api-keys-manage", "api-keys-view", "members-view", "members-manage")
	eve := s.Login(t, email, pw, "doomed")
	k := s.CreateKey(t, eve.AccessToken, "doomed", kwtest.KeyRequest{Name: "ci", Permissions: []string{"api-keys-view"}})
	keyToken := s.Exchange(t, k.Secret)
	adminKey := s.CreateKey(t, admin, "doomed", kwtest.KeyRequest{Name: "admin-ci", Permissions: []string{"api-keys-view"}})

	// Not an owner (Eve lacks permissions), not a user (a key): 403.
	kwtest.RequireProblem(t, s.API(t, http.MethodDelete, "/v1/projects/doomed", eve.AccessToken, nil), http.StatusForbidden)
	kwtest.RequireProblem(t, s.API(t, http.MethodDelete, "/v1/projects/doomed", keyToken.AccessToken, nil), http.StatusForbidden)

	if r := s.API(t, http.MethodDelete, "/v1/projects/doomed", admin, nil); r.Status != http.StatusNoContent {
		t.Fatalf("delete: %s", r)
	}
	kwtest.RequireProblem(t, s.API(t, http.MethodGet, "/v1/projects/doomed", admin, nil), http.StatusNotFound)
	for _, tok := range []string{keyToken.AccessToken, eve.AccessToken} {
		kwtest.RequireProblem(t, s.API(t, http.MethodGet, "/v1/me", tok, nil), http.StatusUnauthorized)
	}
	kwtest.RequireOAuthError(t, s.Refresh(t, keyToken.RefreshToken), http.StatusBadRequest, "invalid_grant")
	kwtest.RequireOAuthError(t, s.Refresh(t, eve.RefreshToken), http.StatusBadRequest, "invalid_grant")
	for _, secret := range []string{k.Secret, adminKey.Secret} {
		r := s.TokenRequest(t, url.Values{"grant_type": {"client_credentials"}}, kwtest.Basic(kwtest.KeyID(t, secret), secret))
		kwtest.RequireOAuthError(t, r, http.StatusUnauthorized, "invalid_client")
	}
	// The admin's own unnarrowed token still works, and the name is free.
	s.CreateProject(t, admin, "doomed")
}

// TestLastMemberManager: the last member who can manage members can be neither removed nor
// reduced below members-manage.
func TestLastMemberManager(t *testing.T) {
	s := kwtest.Start(t, unthrottled)
	admin := s.AdminToken(t)
	s.CreateProject(t, admin, "kept")
	me := project(t, s, admin, "kept")
	var who kwtest.User
	var mine struct {
		User *kwtest.User `json:"user"`
	}
	s.API(t, http.MethodGet, "/v1/me", admin, nil).JSON(t, &mine)
	who = *mine.User
	path := "/v1/projects/kept/members/" + who.ID
	p := kwtest.RequireProblem(t, s.API(t, http.MethodDelete, path, admin, nil), http.StatusConflict)
	if !strings.Contains(p.Detail, "last member who can manage members") {
		t.Errorf("detail %q", p.Detail)
	}
	kwtest.RequireProblem(t, s.API(t, http.MethodPut, path, admin, map[string]any{"permissions": []string{"members-view"}}), http.StatusConflict)
	if got := project(t, s, admin, "kept"); !slices.Equal(got.Permissions, me.Permissions) {
		t.Fatalf("permissions after refused changes %v, want %v", got.Permissions, me.Permissions)
	}

	// A second manager is not enough while the admin is the last owner; a second owner is.
	const email, pw = "ada@keyward.test", "a-member-password-long-enough-7"
	s.CreateUser(t, admin, email, pw)
	putMember(t, s, admin, "kept", email, "members-manage", "members-view")
	p = kwtest.RequireProblem(t, s.API(t, http.MethodDelete, path, admin, nil), http.StatusConflict)
	if !strings.Contains(p.Detail, "last owner") {
		t.Errorf("detail %q", p.Detail)
	}
	r := s.API(t, http.MethodPut, "/v1/projects/kept/members/"+url.PathEscape(email), admin, map[string]any{"role": "owner"})
	if r.Status != http.StatusOK {
		t.Fatalf("make a second owner: %s", r)
	}
	if r := s.API(t, http.MethodDelete, path, admin, nil); r.Status != http.StatusNoContent {
		t.Fatalf("remove the admin once another owner exists: %s", r)
	}
}

// TestAdminRecoversProjects: the instance administrator lists every project and makes themselves
// a member of any; to anyone else both paths do not exist.
func TestAdminRecoversProjects(t *testing.T) {
	s := kwtest.Start(t, unthrottled)
	admin := s.AdminToken(t)
	const email, pw = "bob@keyward.test", "a-member-password-long-enough-7"
	s.CreateUser(t, admin, email, pw)
	bob := s.Login(t, email, pw, "").AccessToken
	bobs := s.CreateProject(t, bob, "bobs")

	var all struct{ Data []kwtest.Project }
	r := s.API(t, http.MethodGet, "/v1/admin/projects", admin, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("admin list: %s", r)
	}
	r.JSON(t, &all)
	var found *kwtest.Project
	for i := range all.Data {
		if all.Data[i].ID == bobs.ID {
			found = &all.Data[i]
		}
	}
	if found == nil || len(found.Permissions) != 0 {
		t.Fatalf("admin list %+v lacks bobs or shows the admin permissions in it", all.Data)
	}
	kwtest.RequireProblem(t, s.API(t, http.MethodGet, "/v1/projects/bobs", admin, nil), http.StatusNotFound)

	// Bob, and the admin's token narrowed to a project, are told nothing.
	narrowed := s.Login(t, kwtest.AdminEmail, kwtest.AdminPassword, "default").AccessToken
	for _, tok := range []string{bob, narrowed} {
		nope := kwtest.RequireProblem(t, s.API(t, http.MethodGet, "/v1/admin/projects", tok, nil), http.StatusNotFound)
		unknown := kwtest.RequireProblem(t, s.API(t, http.MethodGet, "/v1/no-such-path", tok, nil), http.StatusNotFound)
		if nope.Detail != unknown.Detail {
			t.Errorf("admin list for a non-admin %q, unknown path %q", nope.Detail, unknown.Detail)
		}
		existing := kwtest.RequireProblem(t, s.API(t, http.MethodPost, "/v1/projects/bobs/recover", tok, nil), http.StatusNotFound)
		missing := kwtest.RequireProblem(t, s.API(t, http.MethodPost, "/v1/projects/nobodys/recover", tok, nil), http.StatusNotFound)
		if strings.ReplaceAll(missing.Detail, "nobodys", "bobs") != existing.Detail {
			t.Errorf("recover of an existing project %q, of a missing one %q", existing.Detail, missing.Detail)
		}
	}

	r = s.API(t, http.MethodPost, "/v1/projects/bobs/recover", admin, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("recover: %s", r)
	}
	var recovered kwtest.Project
	r.JSON(t, &recovered)
	if recovered.ID != bobs.ID || !slices.Contains(recovered.Permissions, "members-manage") || len(recovered.Permissions) != len(bobs.Permissions) {
		t.Fatalf("recovered %+v, want every permission like %+v", recovered, bobs)
	}
	if a := auditActions(t, s, admin, "bobs"); !slices.Contains(a, keyward.AuditProjectRecovered) {
		t.Errorf("audit %v lacks %s", a, keyward.AuditProjectRecovered)
	}
	kwtest.RequireProblem(t, s.API(t, http.MethodPost, "/v1/projects/nobodys/recover", admin, nil), http.StatusNotFound)
}

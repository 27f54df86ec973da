package dashboard_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/kwtest"
)

// TestRenameAndDeleteProjectInTheBrowser: on the General tab the owner renames the project (a
// look-alike of another project's name is refused on the form), then deletes it with the red
// button and its confirmation; the project's key stops exchanging.
func TestRenameAndDeleteProjectInTheBrowser(t *testing.T) {
	e := start(t)
	admin := e.AdminToken(t)
	e.CreateProject(t, admin, "modern")
	k := e.CreateKey(t, admin, "default", kwtest.KeyRequest{Name: "ci", Permissions: []string{"containers-view"}})
	b := newTab(t, e)

	b.login(adminEmail, adminPassword)
	b.open("/projects/default")
	b.see("Rename project", "Delete project")
	b.checkPage()
	b.fill("Project name", "rnodern")
	b.press("Rename project")
	b.see(`A project named "rnodern" already exists.`)
	b.fill("Project name", "shop")
	b.press("Rename project")
	b.see("General", "shop")
	if p := e.project("shop"); p.Name != "shop" {
		t.Fatalf("renamed project %+v", p)
	}

	b.pressAt(`//main//a[normalize-space(.)='Delete project']`)
	b.see(`Delete project “shop”?`, "This cannot be undone.")
	b.checkPage()
	b.pressAt(`//main//button[normalize-space(.)='Delete project']`)
	b.see("Projects", "modern")
	if n := b.count(`//main//a[.//*[normalize-space(.)='shop']]`); n != 0 {
		t.Errorf("the project list still links %d times to the deleted project", n)
	}
	if got := e.exchange(k.Secret, ""); got.Error != "invalid_client" {
		t.Errorf("exchange of the deleted project's key: %+v", got)
	}
}

// TestProjectSettingsNeedTheirPermissions: a member without projects-manage sees no rename form
// and cannot post one; one who is not an owner sees no delete button and cannot delete.
func TestProjectSettingsNeedTheirPermissions(t *testing.T) {
	e := start(t)
	e.user("viewer@example.com", "viewer-password-long-enough", "members-view")
	e.user("manager@example.com", "manager-password-long-enough", "projects-manage", "members-view")
	viewer := e.login("viewer@example.com", "viewer-password-long-enough")
	manager := e.login("manager@example.com", "manager-password-long-enough")

	page := e.do(request{method: "GET", path: "/projects/default", cookie: viewer})
	if page.Status != http.StatusOK || strings.Contains(page.Body, "Rename project") || strings.Contains(page.Body, "Delete project") {
		t.Fatalf("viewer's General tab: HTTP %d\n%s", page.Status, page.Body)
	}
	rename := url.Values{"name": {"taken-over"}}
	if r := e.do(request{method: "POST", path: "/projects/default/rename", form: rename, cookie: viewer, header: sameOrigin(e)}); r.Status != http.StatusForbidden {
		t.Errorf("viewer's rename: HTTP %d", r.Status)
	}

	page = e.do(request{method: "GET", path: "/projects/default", cookie: manager})
	if !strings.Contains(page.Body, "Rename project") || strings.Contains(page.Body, "Delete project") {
		t.Fatalf("manager's General tab:\n%s", page.Body)
	}
	for _, path := range []string{"/projects/default/delete"} {
		if r := e.do(request{method: "GET", path: path, cookie: manager}); r.Status != http.StatusForbidden {
			t.Errorf("manager's GET %s: HTTP %d", path, r.Status)
		}
		if r := e.do(request{method: "POST", path: path, form: url.Values{}, cookie: manager, header: sameOrigin(e)}); r.Status != http.StatusForbidden {
			t.Errorf("manager's POST %s: HTTP %d", path, r.Status)
		}
	}
	if _, err := e.Store.ProjectByName(t.Context(), "default"); err != nil {
		t.Fatalf("the project is gone: %v", err)
	}
	r := e.do(request{method: "POST", path: "/projects/default/rename", form: url.Values{"name": {"renamed"}}, cookie: manager, header: sameOrigin(e)})
	if r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/projects/renamed" {
		t.Fatalf("manager's rename: HTTP %d %s", r.Status, r.Header.Get("Location"))
	}
	var found bool
	events, err := e.Store.AuditEvents(t.Context(), e.project("renamed").ID, 0, 20)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range events {
		found = found || ev.Action == keyward.AuditProjectRenamed
	}
	if !found {
		t.Error("no project.renamed audit event")
	}
}

package dashboard_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/keyward/keyward"
)

// role returns the role of project "default" that ref names, straight from the store.
func (e *env) role(ref string) *keyward.Role {
	e.t.Helper()
	r, err := e.Store.Role(e.t.Context(), e.project("default").ID, ref)
	if err != nil {
		e.t.Fatalf("role %s: %v", ref, err)
	}
	return r
}

// member returns the membership of email in project "default", straight from the store.
func (e *env) member(email string) *keyward.Member {
	e.t.Helper()
	u, err := e.Store.UserByEmail(e.t.Context(), email)
	if err != nil {
		e.t.Fatal(err)
	}
	m, err := e.Store.Member(e.t.Context(), e.project("default").ID, u.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return m
}

// post sends a form from the dashboard itself, as the browser of the person signed in with c.
func (e *env) post(c *http.Cookie, path string, form url.Values) *response {
	e.t.Helper()
	return e.do(request{method: "POST", path: path, cookie: c, header: sameOrigin(e), form: form})
}

var selectedRole = regexp.MustCompile(`<option value="([^"]*)" selected>`)

// chosenRole is the role a page's role select shows chosen, as a browser would send it.
func chosenRole(t *testing.T, body string) string {
	t.Helper()
	i := strings.Index(body, `<select id="role" name="role"`)
	if i < 0 {
		t.Fatalf("the page has no role select:\n%s", body)
	}
	sel := body[i : i+strings.Index(body[i:], "</select>")]
	if m := selectedRole.FindStringSubmatch(sel); m != nil {
		return m[1]
	}
	return ""
}

// roleOptions is the text of the role select's options.
func roleOptions(t *testing.T, body string) string {
	t.Helper()
	i := strings.Index(body, `<select id="role" name="role"`)
	if i < 0 {
		t.Fatalf("the page has no role select:\n%s", body)
	}
	return body[i : i+strings.Index(body[i:], "</select>")]
}

// TestMemberRole: a member added with a role is listed with it and with the permissions it
// gives them, marked as the role's; saving their form as it comes keeps the role, and only a
// change of the choice changes it.
func TestMemberRole(t *testing.T) {
	e := start(t)
	e.user("ada@example.com", "ada password 12345")
	owner := e.login(adminEmail, adminPassword)
	developer, viewer := e.role("developer"), e.role("viewer")

	add := e.do(request{method: "GET", path: "/projects/default/members", cookie: owner}).Body
	if opts := roleOptions(t, add); !strings.Contains(opts, `value="`+developer.ID+`"`) || !strings.Contains(opts, ">owner (owner)<") {
		t.Errorf("the owner is not offered every role:\n%s", opts)
	}
	// An unknown role is refused next to the select, with what was typed kept.
	resp := e.post(owner, "/projects/default/members", url.Values{"email": {"ada@example.com"}, "role": {"nope"}, "permissions": {"dns-view"}})
	if resp.Status != http.StatusBadRequest || !strings.Contains(resp.Body, `id="role-error"`) ||
		!strings.Contains(html.UnescapeString(resp.Body), `Role "nope" was not found in this project.`) || !strings.Contains(resp.Body, `value="dns-view" checked`) {
		t.Errorf("an unknown role: HTTP %d\n%s", resp.Status, resp.Body)
	}
	if resp := e.post(owner, "/projects/default/members", url.Values{"email": {"ada@example.com"}, "role": {developer.ID}, "permissions": {"billing-view"}}); resp.Status != http.StatusSeeOther {
		t.Fatalf("adding Ada as a developer: HTTP %d\n%s", resp.Status, resp.Body)
	}
	ada := e.member("ada@example.com")
	if ada.RoleID != developer.ID {
		t.Fatalf("Ada's role: %q", ada.RoleID)
	}
	list := e.do(request{method: "GET", path: "/projects/default/members", cookie: owner}).Body
	row := list[strings.Index(list, ">ada@example.com<"):]
	row = row[:strings.Index(row, "</tr>")]
	for _, want := range []string{">developer</a>", `<li class="chip">billing-view</li>`, `<li class="chip chip-role">containers-view<span class="visually-hidden"> (from role)</span></li>`} {
		if !strings.Contains(row, want) {
			t.Errorf("Ada's row lacks %s:\n%s", want, row)
		}
	}

	// The edit form shows the role chosen; sent as it is, with a permission changed, it keeps it.
	path := "/projects/default/members/" + ada.UserID
	edit := e.do(request{method: "GET", path: path, cookie: owner}).Body
	if got := chosenRole(t, edit); got != developer.ID {
		t.Fatalf("the edit form chooses role %q, want %s", got, developer.ID)
	}
	if resp := e.post(owner, path, url.Values{"role": {chosenRole(t, edit)}, "permissions": {"dns-view"}}); resp.Status != http.StatusSeeOther {
		t.Fatalf("saving Ada: HTTP %d\n%s", resp.Status, resp.Body)
	}
	if m := e.member("ada@example.com"); m.RoleID != developer.ID || len(m.Permissions) != 1 || m.Permissions[0] != "dns-view" {
		t.Errorf("Ada after saving her form: role %q, permissions %v", m.RoleID, m.Permissions)
	}
	if resp := e.post(owner, path, url.Values{"role": {viewer.ID}, "permissions": {"dns-view"}}); resp.Status != http.StatusSeeOther {
		t.Fatalf("making Ada a viewer: HTTP %d", resp.Status)
	}
	if m := e.member("ada@example.com"); m.RoleID != viewer.ID {
		t.Errorf("Ada's role after choosing viewer: %q", m.RoleID)
	}
	if resp := e.post(owner, path, url.Values{"role": {""}, "permissions": {"dns-view"}}); resp.Status != http.StatusSeeOther {
		t.Fatalf("taking Ada's role: HTTP %d", resp.Status)
	}
	if m := e.member("ada@example.com"); m.RoleID != "" {
		t.Errorf("Ada's role after choosing none: %q", m.RoleID)
	}

	// Someone who manages members but holds little is offered only the roles they may give.
	e.user("mia@example.com", "mia password 12345", "members-view", "members-manage", "containers-view", "images-view", "dns-view", "billing-view")
	mia := e.login("mia@example.com", "mia password 12345")
	opts := roleOptions(t, e.do(request{method: "GET", path: path, cookie: mia}).Body)
	if strings.Contains(opts, ">owner") || strings.Contains(opts, ">developer<") || strings.Contains(opts, ">admin<") {
		t.Errorf("Mia is offered roles holding permissions she does not:\n%s", opts)
	}
	if resp := e.post(mia, path, url.Values{"role": {developer.ID}, "permissions": {"dns-view"}}); resp.Status != http.StatusForbidden ||
		!strings.Contains(resp.Body, `id="role-error"`) {
		t.Errorf("Mia giving the developer role: HTTP %d\n%s", resp.Status, resp.Body)
	}
}

// TestRolesTab: roles are listed, created, edited and deleted on their tab; a role in use is not
// deleted and the page says why; the owner role cannot be edited.
func TestRolesTab(t *testing.T) {
	e := start(t)
	owner := e.login(adminEmail, adminPassword)
	list := e.do(request{method: "GET", path: "/projects/default/roles", cookie: owner})
	for _, want := range []string{`aria-current="page">Roles</a>`, ">owner</a> <span class=\"badge\">Owner</span>", ">developer</a>", ">viewer</a>", "Create a role", "Cannot be changed"} {
		if list.Status != http.StatusOK || !strings.Contains(list.Body, want) {
			t.Errorf("the roles tab lacks %s: HTTP %d", want, list.Status)
		}
	}
	found := e.do(request{method: "GET", path: "/projects/default/roles?q=DEV", cookie: owner}).Body
	if !strings.Contains(found, ">developer</a>") || strings.Contains(found, ">viewer</a>") || !strings.Contains(found, `value="DEV"`) {
		t.Errorf("search DEV:\n%s", found)
	}
	if none := e.do(request{method: "GET", path: "/projects/default/roles?q=%3Cb%3E", cookie: owner}).Body; !strings.Contains(none, "No role has that id or a name beginning with “&lt;b&gt;”") {
		t.Errorf("search <b>:\n%s", none)
	}

	create := url.Values{"name": {"release-manager"}, "description": {"Ships <releases>"}, "permissions": {"containers-view", "containers-manage"}}
	if resp := e.post(owner, "/projects/default/roles", create); resp.Status != http.StatusSeeOther || resp.Header.Get("Location") != "/projects/default/roles?created" {
		t.Fatalf("create: HTTP %d %s\n%s", resp.Status, resp.Header.Get("Location"), resp.Body)
	}
	resp := e.post(owner, "/projects/default/roles", create)
	if resp.Status != http.StatusConflict || !strings.Contains(resp.Body, `id="role-name-error"`) || !strings.Contains(resp.Body, `value="Ships &lt;releases&gt;"`) ||
		!strings.Contains(resp.Body, `value="containers-manage" checked`) {
		t.Errorf("a second release-manager: HTTP %d\n%s", resp.Status, resp.Body)
	}
	if resp := e.post(owner, "/projects/default/roles", url.Values{"name": {"Release Manager"}, "permissions": {"dns-view"}}); resp.Status != http.StatusBadRequest || !strings.Contains(resp.Body, `id="role-name-error"`) {
		t.Errorf("a bad name: HTTP %d", resp.Status)
	}
	rm := e.role("release-manager")
	list = e.do(request{method: "GET", path: "/projects/default/roles?created", cookie: owner})
	if !strings.Contains(list.Body, "The role was created.") || !strings.Contains(list.Body, "Ships &lt;releases&gt;") {
		t.Errorf("the list after creation:\n%s", list.Body)
	}

	// The edit page warns next to the permissions; taking one away says the holders were signed out.
	rolePath := "/projects/default/roles/" + rm.ID
	page := e.do(request{method: "GET", path: rolePath, cookie: owner}).Body
	if !strings.Contains(page, "Taking a permission away signs out every member and key holding this role from the tokens they have.") ||
		!strings.Contains(page, `value="release-manager"`) || !strings.Contains(page, `value="containers-manage" checked`) {
		t.Errorf("the edit page:\n%s", page)
	}
	resp = e.post(owner, rolePath, url.Values{"name": {"release-manager"}, "description": {"Ships releases"}, "permissions": {"containers-view", "containers-manage", "images-view"}})
	if resp.Status != http.StatusSeeOther || resp.Header.Get("Location") != "/projects/default/roles?saved" {
		t.Errorf("widening: HTTP %d %s", resp.Status, resp.Header.Get("Location"))
	}
	resp = e.post(owner, rolePath, url.Values{"name": {"releaser"}, "description": {"Ships releases"}, "permissions": {"containers-view"}})
	if resp.Status != http.StatusSeeOther || resp.Header.Get("Location") != "/projects/default/roles?narrowed" {
		t.Errorf("narrowing: HTTP %d %s", resp.Status, resp.Header.Get("Location"))
	}
	if r := e.role(rm.ID); r.Name != "releaser" || r.Description != "Ships releases" || len(r.Permissions) != 1 {
		t.Errorf("the role after its edits: %+v", r)
	}
	if resp := e.post(owner, rolePath, url.Values{"name": {"viewer"}, "permissions": {"containers-view"}}); resp.Status != http.StatusConflict || !strings.Contains(resp.Body, `id="role-name-error"`) {
		t.Errorf("renaming to a taken name: HTTP %d", resp.Status)
	}

	// A role in use is not deleted: the confirmation comes back with the reason.
	e.user("ada@example.com", "ada password 12345")
	if resp := e.post(owner, "/projects/default/members", url.Values{"email": {"ada@example.com"}, "role": {rm.ID}}); resp.Status != http.StatusSeeOther {
		t.Fatalf("adding Ada as a releaser: HTTP %d\n%s", resp.Status, resp.Body)
	}
	confirm := e.do(request{method: "GET", path: rolePath + "/delete", cookie: owner})
	if confirm.Status != http.StatusOK || !strings.Contains(confirm.Body, "Delete role “releaser”?") || !strings.Contains(confirm.Body, "It is held by 1 member and 0 API keys.") {
		t.Errorf("the confirmation: HTTP %d\n%s", confirm.Status, confirm.Body)
	}
	resp = e.post(owner, rolePath+"/delete", url.Values{})
	if resp.Status != http.StatusConflict || !strings.Contains(html.UnescapeString(resp.Body), `Role "releaser" is held by 1 member and 0 API keys; give them another role first.`) ||
		!strings.Contains(resp.Body, `action="`+rolePath+`/delete"`) {
		t.Errorf("deleting a role in use: HTTP %d\n%s", resp.Status, resp.Body)
	}
	ada := e.member("ada@example.com")
	if resp := e.post(owner, "/projects/default/members/"+ada.UserID, url.Values{"role": {""}, "permissions": {"dns-view"}}); resp.Status != http.StatusSeeOther {
		t.Fatalf("taking Ada's role: HTTP %d", resp.Status)
	}
	if resp := e.post(owner, rolePath+"/delete", url.Values{}); resp.Status != http.StatusSeeOther || resp.Header.Get("Location") != "/projects/default/roles?deleted" {
		t.Errorf("deleting the role: HTTP %d", resp.Status)
	}
	if _, err := e.Store.Role(t.Context(), e.project("default").ID, rm.ID); keyward.ErrorCode(err) != keyward.ENOTFOUND {
		t.Errorf("the deleted role: %v", err)
	}

	// The owner role is shown, never edited.
	ownerRole := e.role(keyward.RoleOwner)
	page = e.do(request{method: "GET", path: "/projects/default/roles/" + ownerRole.ID, cookie: owner}).Body
	if strings.Contains(page, `action="/projects/default/roles/`) || !strings.Contains(page, "it cannot be changed or deleted") {
		t.Errorf("the owner role's page offers a form:\n%s", page)
	}
	if resp := e.post(owner, "/projects/default/roles/"+ownerRole.ID, url.Values{"name": {"boss"}, "permissions": {"dns-view"}}); resp.Status != http.StatusForbidden {
		t.Errorf("editing the owner role: HTTP %d", resp.Status)
	}
	if resp := e.do(request{method: "GET", path: "/projects/default/roles/" + ownerRole.ID + "/delete", cookie: owner}); resp.Status != http.StatusForbidden {
		t.Errorf("the owner role's deletion page: HTTP %d", resp.Status)
	}
	if resp := e.do(request{method: "GET", path: "/projects/default/roles/rol_nope", cookie: owner}); resp.Status != http.StatusNotFound {
		t.Errorf("an unknown role: HTTP %d", resp.Status)
	}
}

// TestRolesNeedMembersManage: a member who may see roles but not manage members is shown no
// control that changes them, and a POST forged with the dashboard's own origin is refused all
// the same; a POST from another site is refused even for the owner.
func TestRolesNeedMembersManage(t *testing.T) {
	e := start(t)
	e.user("ada@example.com", "ada password 12345", "members-view", "api-keys-view", "containers-view")
	ada := e.login("ada@example.com", "ada password 12345")
	developer := e.role("developer")
	list := e.do(request{method: "GET", path: "/projects/default/roles", cookie: ada})
	if list.Status != http.StatusOK || !strings.Contains(list.Body, ">developer</a>") {
		t.Fatalf("Ada's roles tab: HTTP %d", list.Status)
	}
	if strings.Contains(list.Body, "Create a role") || strings.Contains(list.Body, `method="post" action="/projects/default/roles"`) || strings.Contains(list.Body, ">Edit</a>") || strings.Contains(list.Body, ">Delete</button>") {
		t.Errorf("Ada is offered controls that change roles:\n%s", list.Body)
	}
	page := e.do(request{method: "GET", path: "/projects/default/roles/" + developer.ID, cookie: ada})
	if page.Status != http.StatusOK || strings.Contains(page.Body, `action="/projects/default/roles/`) || !strings.Contains(page.Body, "members-manage") {
		t.Errorf("Ada's view of a role: HTTP %d\n%s", page.Status, page.Body)
	}
	for _, tt := range []struct {
		path string
		form url.Values
	}{
		{"/projects/default/roles", url.Values{"name": {"mine"}, "permissions": {"containers-view"}}},
		{"/projects/default/roles/" + developer.ID, url.Values{"name": {"developer"}, "permissions": {"containers-view"}}},
		{"/projects/default/roles/" + developer.ID + "/delete", url.Values{}},
	} {
		if resp := e.post(ada, tt.path, tt.form); resp.Status != http.StatusForbidden {
			t.Errorf("Ada's POST %s: HTTP %d", tt.path, resp.Status)
		}
	}
	if resp := e.do(request{method: "GET", path: "/projects/default/roles/" + developer.ID + "/delete", cookie: ada}); resp.Status != http.StatusForbidden {
		t.Errorf("Ada's deletion page: HTTP %d", resp.Status)
	}

	// Another site's form, sent with the owner's cookie, changes nothing.
	owner := e.login(adminEmail, adminPassword)
	crossSite := http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"https://evil.example"}}
	for _, path := range []string{"/projects/default/roles", "/projects/default/roles/" + developer.ID, "/projects/default/roles/" + developer.ID + "/delete"} {
		resp := e.do(request{method: "POST", path: path, cookie: owner, header: crossSite,
			form: url.Values{"name": {"evil"}, "permissions": {"containers-view"}}})
		if resp.Status != http.StatusForbidden || !strings.Contains(resp.Body, "sent from another site") {
			t.Errorf("cross-site POST %s: HTTP %d", path, resp.Status)
		}
	}
	if r := e.role(developer.ID); r.Name != "developer" {
		t.Errorf("the developer role after the forged posts: %+v", r)
	}
	if _, err := e.Store.Role(t.Context(), e.project("default").ID, "evil"); keyward.ErrorCode(err) != keyward.ENOTFOUND {
		t.Errorf("a cross-site POST created a role: %v", err)
	}
	// Without members-view nor api-keys-view, the tab says what is missing.
	e.user("bob@example.com", "bob password 12345", "containers-view")
	bob := e.login("bob@example.com", "bob password 12345")
	if resp := e.do(request{method: "GET", path: "/projects/default/roles", cookie: bob}); resp.Status != http.StatusOK || !strings.Contains(resp.Body, "members-view") || strings.Contains(resp.Body, ">developer</a>") {
		t.Errorf("Bob's roles tab: HTTP %d\n%s", resp.Status, resp.Body)
	}
}

// TestKeyRole: a key created with a role shows it in the list and on its page, and its edit form
// keeps it unless the choice changes.
func TestKeyRole(t *testing.T) {
	e := start(t)
	owner := e.login(adminEmail, adminPassword)
	viewer := e.role("viewer")
	form := e.do(request{method: "GET", path: "/projects/default/api-keys/new", cookie: owner}).Body
	if !strings.Contains(roleOptions(t, form), `value="`+viewer.ID+`"`) {
		t.Errorf("the key form does not offer the viewer role")
	}
	if resp := e.post(owner, "/projects/default/api-keys", url.Values{"name": {"reader"}, "role": {viewer.ID}}); resp.Status != http.StatusSeeOther {
		t.Fatalf("creating a viewer key: HTTP %d\n%s", resp.Status, resp.Body)
	}
	keys, err := e.Store.APIKeys(t.Context(), e.project("default").ID)
	if err != nil || len(keys) != 1 || keys[0].RoleID != viewer.ID {
		t.Fatalf("keys: %v %+v", err, keys)
	}
	k := keys[0]
	list := e.do(request{method: "GET", path: "/projects/default/api-keys", cookie: owner}).Body
	if !strings.Contains(list, `Role <a href="/projects/default/roles/`+viewer.ID+`">viewer</a>`) {
		t.Errorf("the keys list does not show the role:\n%s", list)
	}
	page := e.do(request{method: "GET", path: "/projects/default/api-keys/" + k.ID, cookie: owner}).Body
	if !strings.Contains(page, "<dt>Role</dt><dd>viewer</dd>") {
		t.Errorf("the key page does not show the role:\n%s", page)
	}
	editPath := "/projects/default/api-keys/" + k.ID + "/edit"
	edit := e.do(request{method: "GET", path: editPath, cookie: owner}).Body
	if got := chosenRole(t, edit); got != viewer.ID {
		t.Fatalf("the edit form chooses %q", got)
	}
	if resp := e.post(owner, editPath, url.Values{"name": {"reader-2"}, "role": {chosenRole(t, edit)}}); resp.Status != http.StatusSeeOther {
		t.Fatalf("renaming the key: HTTP %d\n%s", resp.Status, resp.Body)
	}
	if got, _ := e.Store.APIKey(t.Context(), k.ID); got.Name != "reader-2" || got.RoleID != viewer.ID {
		t.Errorf("the key after renaming: %q role %q", got.Name, got.RoleID)
	}
	// Taking its role with nothing else left is refused next to the permissions.
	if resp := e.post(owner, editPath, url.Values{"name": {"reader-2"}, "role": {""}}); resp.Status != http.StatusBadRequest || !strings.Contains(resp.Body, `id="permissions-error"`) {
		t.Errorf("a key with nothing: HTTP %d", resp.Status)
	}
	if resp := e.post(owner, editPath, url.Values{"name": {"reader-2"}, "role": {""}, "permissions": {"dns-view"}}); resp.Status != http.StatusSeeOther {
		t.Errorf("taking the key's role: HTTP %d", resp.Status)
	}
	if got, _ := e.Store.APIKey(t.Context(), k.ID); got.RoleID != "" {
		t.Errorf("the key's role after choosing none: %q", got.RoleID)
	}
}

// TestRolesInTheBrowser: a person creates a role on the tab and gives it to a new member; every
// page on the way passes the page checks.
func TestRolesInTheBrowser(t *testing.T) {
	e := start(t)
	e.user("ada@example.com", "ada password 12345")
	b := newTab(t, e)
	b.login(adminEmail, adminPassword)
	b.open("/projects/default/members")
	b.pressAt(`//nav[@aria-label='Project settings']//a[normalize-space(.)='Roles']`)
	b.see("Roles", "owner", "developer", "viewer", "Create a role")
	b.checkPage()
	b.fill("Name", "on-call")
	b.fill("Description", "Restarts containers at night")
	b.check("containers-view")
	b.check("containers-manage")
	b.press("Create role")
	b.see("The role was created.", "on-call", "Restarts containers at night")
	b.checkPage()

	b.pressAt(`//a[@aria-label='Edit role on-call']`)
	b.see(`Role “on-call”`, "Taking a permission away signs out every member and key holding this role")
	b.checkPage()

	b.open("/projects/default/members")
	b.checkPage()
	b.fill("Email address", "ada@example.com")
	b.do(chromedp.SetValue(control("Role"), e.role("on-call").ID))
	b.press("Add member")
	b.see("The member was added.", "on-call", "containers-manage\n(from role)")
	b.checkPage()

	b.open("/projects/default/roles/" + e.role("on-call").ID + "/delete")
	b.press("Delete role")
	b.see(`Role "on-call" is held by 1 member`, "give them another role first")
	b.checkPage()
}

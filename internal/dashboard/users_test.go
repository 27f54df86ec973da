package dashboard_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// TestUsersPageIsTheAdministrators: to anyone but the instance administrator the users pages
// are the dashboard's not-found page, and their nav has no link to them.
func TestUsersPageIsTheAdministrators(t *testing.T) {
	e := start(t)
	bob := e.user("bob@example.com", "bob's long passphrase", "members-manage", "members-view")
	bobs := e.login("bob@example.com", "bob's long passphrase")
	for _, rq := range []request{
		{method: "GET", path: "/users"},
		{method: "GET", path: "/users/" + bob.ID + "/delete"},
		{method: "POST", path: "/users/" + bob.ID + "/grant-admin", form: url.Values{}},
		{method: "POST", path: "/users", form: url.Values{"email": {"eve@example.com"}, "password": {"eve's long passphrase"}}},
	} {
		rq.cookie = bobs
		if r := e.do(rq); r.Status != http.StatusNotFound || !strings.Contains(r.Body, "There is no page at this address.") {
			t.Errorf("%s %s as a member: %d", rq.method, rq.path, r.Status)
		}
	}
	if r := e.do(request{method: "GET", path: "/projects", cookie: bobs}); strings.Contains(r.Body, `href="/users"`) {
		t.Error("a member's nav links to the users page")
	}
	if r := e.do(request{method: "GET", path: "/users"}); r.Status != http.StatusSeeOther {
		t.Errorf("signed out: %d", r.Status)
	}
	admin := e.login(adminEmail, adminPassword)
	if r := e.do(request{method: "GET", path: "/projects", cookie: admin}); !strings.Contains(r.Body, `href="/users"`) {
		t.Error("the administrator's nav has no link to the users page")
	}
}

// TestUsersPageRefusals: the administrator's refusals read as the API's 409 and 403 messages,
// on the list or on the confirmation page, and change nothing.
func TestUsersPageRefusals(t *testing.T) {
	e := start(t)
	admin := e.login(adminEmail, adminPassword)
	me, err := e.Store.UserByEmail(t.Context(), adminEmail)
	if err != nil {
		t.Fatal(err)
	}
	post := func(path string, form url.Values) *response {
		return e.do(request{method: "POST", path: path, cookie: admin, form: form})
	}
	if r := post("/users/"+me.ID+"/revoke-admin", url.Values{}); r.Status != http.StatusConflict || !strings.Contains(r.Body, "administrator") {
		t.Errorf("the last administrator demoting themselves: %d %s", r.Status, r.Body)
	}
	if r := post("/users/"+me.ID+"/disable", url.Values{}); r.Status != http.StatusForbidden || !strings.Contains(r.Body, "You cannot disable your own account") {
		t.Errorf("disabling yourself: %d", r.Status)
	}
	// Bob owns a project alone: deleting him would leave it without an owner.
	e.user("bob@example.com", "bob's long passphrase")
	bobToken := e.Login(t, "bob@example.com", "bob's long passphrase", "").AccessToken
	e.CreateProject(t, bobToken, "bobs")
	bob, _ := e.Store.UserByEmail(t.Context(), "bob@example.com")
	if r := e.do(request{method: "GET", path: "/users/" + bob.ID + "/delete", cookie: admin}); r.Status != http.StatusOK || !strings.Contains(r.Body, "Delete bob@example.com?") {
		t.Fatalf("delete confirmation: %d", r.Status)
	}
	if r := post("/users/"+bob.ID+"/delete", url.Values{}); r.Status != http.StatusConflict || !strings.Contains(r.Body, "Delete bob@example.com?") || !strings.Contains(r.Body, "notice-error") {
		t.Errorf("deleting the last owner of a project: %d %s", r.Status, r.Body)
	}
	if _, err := e.Store.UserByID(t.Context(), bob.ID); err != nil {
		t.Errorf("bob after the refused deletion: %v", err)
	}
	if r := post("/users", url.Values{"email": {"eve@example.com"}, "password": {"password1"}}); r.Status != http.StatusBadRequest || !strings.Contains(r.Body, "most common") {
		t.Errorf("a common first password: %d", r.Status)
	}
	if r := post("/users", url.Values{"email": {"eve@example.com"}, "password": {"eve's long passphrase"}, "admin": {"yes"}}); r.Status != http.StatusBadRequest {
		t.Errorf("admin=yes: %d", r.Status)
	}
	if r := post("/users/usr_nosuchuser/enable", url.Values{}); r.Status != http.StatusNotFound {
		t.Errorf("an unknown user: %d", r.Status)
	}
}

// TestResetLinkShownOnce: the reset link the administrator issues on the users page is shown on
// the page the form leads to, once, and sets the user's password.
func TestResetLinkShownOnce(t *testing.T) {
	e := start(t)
	admin := e.login(adminEmail, adminPassword)
	bob := e.user("bob@example.com", "bob's long passphrase")
	r := e.do(request{method: "POST", path: "/users/" + bob.ID + "/password-reset", cookie: admin, form: url.Values{}})
	if r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/users?reset" {
		t.Fatalf("issue: %d %s", r.Status, r.Header.Get("Location"))
	}
	page := e.do(request{method: "GET", path: "/users?reset", cookie: admin})
	link := regexp.MustCompile(`value="(http[^"]+/reset-password\?token=[0-9A-Za-z]{43})"`).FindStringSubmatch(page.Body)
	if link == nil {
		t.Fatalf("no reset link on the page:\n%s", page.Body)
	}
	if again := e.do(request{method: "GET", path: "/users?reset", cookie: admin}); strings.Contains(again.Body, "reset-password?token=") {
		t.Error("the reset link is shown a second time")
	}
	u, _ := url.Parse(link[1])
	open := e.do(request{method: "GET", path: u.RequestURI()})
	var cookie *http.Cookie
	for _, c := range (&http.Response{Header: open.Header}).Cookies() {
		cookie = c
	}
	set := e.do(request{method: "POST", path: "/reset-password", cookie: cookie,
		form: url.Values{"new_password": {"bob's brand new phrase"}, "confirm_password": {"bob's brand new phrase"}}})
	if set.Status != http.StatusSeeOther {
		t.Fatalf("set the password through the link: %d %s", set.Status, set.Body)
	}
	e.login("bob@example.com", "bob's brand new phrase")
}

package dashboard_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestChangePasswordEndsOtherLogins: changing your password in the dashboard keeps the login that
// changed it and ends the other one; the new password signs in, the old one does not.
func TestChangePasswordEndsOtherLogins(t *testing.T) {
	e := start(t)
	e.user("bob@example.com", "bob's old passphrase", "members-view")
	here, there := e.login("bob@example.com", "bob's old passphrase"), e.login("bob@example.com", "bob's old passphrase")
	change := func(cur, next, again string) *response {
		return e.do(request{method: "POST", path: "/account/password", cookie: here,
			form: url.Values{"current_password": {cur}, "new_password": {next}, "confirm_password": {again}}})
	}
	if r := e.do(request{method: "GET", path: "/account/password", cookie: here}); r.Status != http.StatusOK || !strings.Contains(r.Body, "Current password") {
		t.Fatalf("form: %d %s", r.Status, r.Body)
	}
	if r := change("wrong", "bob's new passphrase", "bob's new passphrase"); r.Status != http.StatusForbidden || !strings.Contains(r.Body, "The current password is wrong.") {
		t.Fatalf("wrong current password: %d", r.Status)
	}
	if r := change("bob's old passphrase", "bob's new passphrase", "something else"); r.Status != http.StatusBadRequest || !strings.Contains(r.Body, "differ") {
		t.Fatalf("mismatch: %d", r.Status)
	}
	if r := change("bob's old passphrase", "iloveyou2", "iloveyou2"); r.Status != http.StatusBadRequest || !strings.Contains(r.Body, "most common") {
		t.Fatalf("common password: %d", r.Status)
	}
	if r := change("bob's old passphrase", "bob's new passphrase", "bob's new passphrase"); r.Status != http.StatusOK || !strings.Contains(r.Body, "Your other sessions have ended") {
		t.Fatalf("change: %d %s", r.Status, r.Body)
	}
	if r := e.do(request{method: "GET", path: "/projects", cookie: here}); r.Status != http.StatusOK {
		t.Fatalf("the login that changed the password: %d", r.Status)
	}
	if r := e.do(request{method: "GET", path: "/projects", cookie: there}); r.Status != http.StatusSeeOther {
		t.Fatalf("the other login: %d", r.Status)
	}
	if r := e.do(request{method: "POST", path: "/login", form: url.Values{"email": {"bob@example.com"}, "password": {"bob's old passphrase"}}}); r.Status != http.StatusUnauthorized {
		t.Fatalf("the old password: %d", r.Status)
	}
	e.login("bob@example.com", "bob's new passphrase")
}

// TestResetLink: an administrator's reset link lands on a clean URL (the secret moves into a
// cookie scoped to the page), sets the password once, and ends the user's logins.
func TestResetLink(t *testing.T) {
	e := start(t)
	bob := e.user("bob@example.com", "bob's old passphrase", "members-view")
	bobs := e.login("bob@example.com", "bob's old passphrase")
	r := e.do(request{method: "POST", path: "/v1/users/" + bob.ID + "/password-reset",
		header: http.Header{"Authorization": {"Bearer " + e.AdminToken(t)}, "Content-Type": {"application/json"}}})
	if r.Status != http.StatusBadRequest {
		t.Fatalf("a reset without a body: %d %s", r.Status, r.Body)
	}
	var link struct{ URL string }
	r = e.doJSON(t, "/v1/users/"+bob.ID+"/password-reset", "{}")
	if err := json.Unmarshal([]byte(r.Body), &link); err != nil || r.Status != http.StatusCreated {
		t.Fatalf("issue: %d %s", r.Status, r.Body)
	}
	u, err := url.Parse(link.URL)
	if err != nil || u.Path != "/reset-password" {
		t.Fatalf("link %q", link.URL)
	}
	r = e.do(request{method: "GET", path: u.RequestURI()})
	if r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/reset-password" || r.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Fatalf("opening the link: %d %v", r.Status, r.Header)
	}
	var reset *http.Cookie
	for _, c := range (&http.Response{Header: r.Header}).Cookies() {
		if c.Name == "keyward_reset" {
			reset = c
		}
	}
	if reset == nil || !reset.HttpOnly || reset.Path != "/reset-password" || reset.SameSite != http.SameSiteLaxMode {
		t.Fatalf("reset cookie %+v", reset)
	}
	if r := e.do(request{method: "GET", path: "/reset-password", cookie: reset}); r.Status != http.StatusOK || !strings.Contains(r.Body, "New password again") || strings.Contains(r.Body, reset.Value) {
		t.Fatalf("form: %d", r.Status)
	}
	set := func(pw string) *response {
		return e.do(request{method: "POST", path: "/reset-password", cookie: reset,
			form: url.Values{"new_password": {pw}, "confirm_password": {pw}}})
	}
	if r := set("password123"); r.Status != http.StatusBadRequest || !strings.Contains(r.Body, "most common") {
		t.Fatalf("common password: %d", r.Status)
	}
	if r := set("bob's reset passphrase"); r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/login?password-set" {
		t.Fatalf("reset: %d %v", r.Status, r.Header)
	}
	if r := e.do(request{method: "GET", path: "/projects", cookie: bobs}); r.Status != http.StatusSeeOther {
		t.Fatalf("bob's login after the reset: %d", r.Status)
	}
	if r := set("bob's other passphrase"); r.Status != http.StatusNotFound || !strings.Contains(r.Body, "not valid") {
		t.Fatalf("the link a second time: %d", r.Status)
	}
	e.login("bob@example.com", "bob's reset passphrase")
	if r := e.do(request{method: "GET", path: "/reset-password?token=nonsense"}); r.Status != http.StatusNotFound {
		t.Fatalf("a malformed link: %d", r.Status)
	}
}

// doJSON posts body to an API path as the instance administrator.
func (e *env) doJSON(t *testing.T, path, body string) *response {
	t.Helper()
	r, err := http.NewRequestWithContext(t.Context(), "POST", e.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Authorization", "Bearer "+e.AdminToken(t))
	r.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	if _, err := io.Copy(&b, resp.Body); err != nil {
		t.Fatal(err)
	}
	return &response{Status: resp.StatusCode, Header: resp.Header, Body: b.String()}
}

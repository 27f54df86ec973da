package dashboard_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/keyward/keyward/internal/kwtest"
)

// TestDisableUserInTheBrowser: Una is signed in to the dashboard in her browser and holds a
// token narrowed to the project and a key of her own. The administrator, in another browser,
// finds her on the Users page and disables her: her next page load lands on the sign-in form,
// her token is inactive at introspection and refused by the API, and her key no longer
// exchanges. How long that took after the administrator's click is logged.
func TestDisableUserInTheBrowser(t *testing.T) {
	e := start(t)
	const email, pw = "una@example.com", "una's long passphrase"
	e.user(email, pw, "containers-view", "api-keys-manage")
	una := newTab(t, e)
	una.login(email, pw)
	una.open("/projects/default/api-keys")
	una.see("API Keys")

	token := e.Login(t, email, pw, "default").AccessToken
	key := e.CreateKey(t, token, "default", kwtest.KeyRequest{Name: "una-ci", Permissions: []string{"containers-view"}})
	keyToken := e.exchange(key.Secret, "")
	if keyToken.Status != http.StatusOK {
		t.Fatalf("una's key before: %+v", keyToken)
	}
	adminToken := e.AdminToken(t)
	kwtest.RequireActive(t, e.Introspect(t, token, kwtest.Bearer(adminToken)))

	admin := newTab(t, e)
	admin.login(adminEmail, adminPassword)
	admin.press("Users")
	admin.see("Everyone with an account", email, adminEmail)
	admin.checkPage()
	admin.fill("Find a user", "una")
	admin.press("Search")
	admin.see(email)
	if n := admin.count(`//table//tbody/tr`); n != 1 {
		t.Errorf("the search for una lists %d users", n)
	}
	admin.do(chromedp.Click(`//button[@aria-label='Disable `+email+`']`), chromedp.WaitVisible(`//dialog[@open]`))
	if got := run(admin, chromedp.Text(`//dialog[@open]//h2`)); got != "Disable "+email+"?" {
		t.Fatalf("the confirmation asks %q", got)
	}
	clicked := time.Now()
	admin.pressAt(`//dialog[@open]//button[normalize-space(.)='Disable user']`)
	admin.see("The user was disabled", "Disabled")

	una.open("/projects/default/api-keys")
	una.see("Sign in to keyward")
	if loc := run(una, chromedp.Location()); !strings.Contains(loc, "/login") {
		t.Errorf("una's page load after she was disabled ended at %s", loc)
	}
	kwtest.RequireInactive(t, e.Introspect(t, token, kwtest.Bearer(adminToken)))
	kwtest.RequireProblem(t, e.API(t, http.MethodGet, "/v1/me", token, nil), http.StatusUnauthorized)
	if after := e.exchange(key.Secret, ""); after.Status != http.StatusUnauthorized || after.Error != "invalid_client" {
		t.Errorf("una's key after she was disabled: %+v", after)
	}
	took := time.Since(clicked)
	t.Logf("from the administrator's click to every check of Una's sign-ins failing: %v", took)
	if took > 5*time.Second {
		t.Errorf("disabling took %v to reach Una's sessions", took)
	}

	// Enabled again, she signs in anew; her key stays disabled.
	admin.pressAt(`//button[@aria-label='Enable ` + email + `']`)
	admin.see("The user was enabled")
	una.login(email, pw)
	if after := e.exchange(key.Secret, ""); after.Error != "invalid_client" {
		t.Errorf("una's key after she was enabled again: %+v", after)
	}
}

// TestChangePasswordInTheBrowser: Una is signed in in two browsers and changes her password in
// one; that one stays signed in, the other is signed out at its next request, and the new
// password is the one that signs in.
func TestChangePasswordInTheBrowser(t *testing.T) {
	e := start(t)
	const email, old, next = "una@example.com", "una's long passphrase", "una's newer passphrase"
	e.user(email, old, "members-view")
	here, there := newTab(t, e), newTab(t, e)
	here.login(email, old)
	there.login(email, old)

	here.pressAt(`//a[@class='account-email']`)
	here.see("Change password")
	here.checkPage()
	here.fill("Current password", old)
	here.fill("New password", next)
	here.fill("New password again", next)
	here.press("Change password")
	here.see("Your password was changed. Your other sessions have ended.")

	there.open("/projects")
	there.see("Sign in to keyward")
	here.open("/projects")
	here.see("Projects", email)
	here.notSee("Sign in to keyward")

	there.fill("Email address", email)
	there.fill("Password", old)
	there.press("Sign in")
	there.see("Sign in to keyward")
	there.login(email, next)
}

// TestUsersPageInTheBrowser: the administrator creates a user, makes them an administrator and
// back, and issues them a reset link, which is shown once and sets their password.
func TestUsersPageInTheBrowser(t *testing.T) {
	e := start(t)
	admin := newTab(t, e)
	admin.login(adminEmail, adminPassword)
	admin.open("/users")
	admin.fill("Email address", "vic@example.com")
	admin.fill("First password", "password1")
	admin.press("Create user")
	admin.see("most common ones")
	admin.fill("First password", "vic's first passphrase")
	admin.press("Create user")
	admin.see("The user was created.", "vic@example.com")

	admin.pressAt(`//button[@aria-label='Make vic@example.com an administrator']`)
	admin.see("The user is now an instance administrator.")
	admin.pressAt(`//button[@aria-label='Revoke administrator from vic@example.com']`)
	admin.see("The user is no longer an instance administrator.")

	admin.pressAt(`//button[@aria-label='Issue a password reset link for vic@example.com']`)
	admin.see("Password reset link for vic@example.com", "shown once")
	admin.checkPage()
	link := run(admin, chromedp.Value(`#reset-link`))
	if !strings.Contains(link, "/reset-password?token=") {
		t.Fatalf("the reset link reads %q", link)
	}
	admin.open("/users")
	admin.notSee("Password reset link for")

	vic := newTab(t, e)
	u, _ := url.Parse(link)
	vic.open(u.RequestURI())
	vic.fill("New password", "vic's own passphrase")
	vic.fill("New password again", "vic's own passphrase")
	vic.press("Set password")
	vic.see("Your new password is set.")
	vic.login("vic@example.com", "vic's own passphrase")
}

package dashboard_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/keyward/keyward/apikey"
)

// TestRedTeamStoryInTheBrowser: a key never holds more than its owner. The admin adds Eve on the
// Members tab; Eve signs in and creates a key that manages containers and API keys; the admin
// reduces Eve to containers-view, and the key's next token has neither, while the token it held
// is refused; the admin removes Eve, leaving the key with her, and the key no longer exchanges and
// shows Disabled in the keys table and on its page.
func TestRedTeamStoryInTheBrowser(t *testing.T) {
	e := start(t)
	const evePassword = "correct horse battery staple 3"
	e.user("eve@example.com", evePassword) // an account, in no project yet: accounts have no page

	admin := newTab(t, e)
	admin.login(adminEmail, adminPassword)
	admin.open("/projects/default/members")
	admin.fill("Email address", "eve@example.com")
	for _, p := range []string{"containers-view", "containers-manage", "api-keys-view", "api-keys-manage"} {
		admin.check(p)
	}
	admin.press("Add member")
	admin.see("The member was added.", "eve@example.com")

	eve := newTab(t, e)
	eve.login("eve@example.com", evePassword)
	eve.open("/projects/default/api-keys")
	eve.press("Create API Key")
	eve.fill("Name", "eves-bot")
	for _, p := range []string{"containers-view", "containers-manage", "api-keys-manage"} {
		eve.check(p)
	}
	eve.press("Create API Key")
	eve.see(`API key “eves-bot” created`)
	eve.do(chromedp.Click(button("Copy")))
	eve.do(chromedp.WaitVisible(`//button[normalize-space(.)='Copied']`))
	key := run(eve, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise))
	if _, err := apikey.Parse(key); err != nil {
		t.Fatalf("the clipboard holds %q, not an API key: %v", key, err)
	}
	before := e.exchange(key, "")
	scope := strings.Fields(before.Scope)
	slices.Sort(scope)
	if before.Status != http.StatusOK || !slices.Equal(scope, []string{"api-keys-manage", "containers-manage", "containers-view"}) {
		t.Fatalf("Eve's key before her reduction: %+v", before)
	}

	// The admin reduces Eve to containers-view.
	admin.open("/projects/default/members")
	admin.pressAt(`//a[@aria-label='Edit permissions of eve@example.com']`)
	admin.see("Role and permissions of eve@example.com")
	for _, p := range []string{"containers-manage", "api-keys-view", "api-keys-manage"} {
		admin.check(p) // unticks it
	}
	admin.press("Save")
	admin.see("The member's role and permissions were saved.")

	after := e.exchange(key, "")
	if after.Status != http.StatusOK || after.Scope != "containers-view" {
		t.Errorf("Eve's key after her reduction: %+v", after)
	}
	if r := e.API(t, "GET", "/v1/me", before.AccessToken, nil); r.Status != http.StatusUnauthorized {
		t.Errorf("the key's token from before the reduction: %s", r)
	}

	// The admin removes Eve and leaves the key with her.
	admin.open("/projects/default/members")
	admin.pressAt(`//button[@aria-label='Remove eve@example.com']`)
	admin.see("Remove eve@example.com from default?", "eves-bot", "containers-manage", "Disable it")
	admin.checkPage()
	admin.press("Remove member")
	admin.see("The member was removed from the project. 1 API key of theirs was disabled.")
	admin.notSee("eve@example.com")

	if got := e.exchange(key, ""); got.Status != http.StatusUnauthorized || got.Error != "invalid_client" {
		t.Errorf("Eve's key after her removal: %+v", got)
	}
	if r := e.API(t, "GET", "/v1/me", after.AccessToken, nil); r.Status != http.StatusUnauthorized {
		t.Errorf("the key's token from before the removal: %s", r)
	}
	admin.open("/projects/default/api-keys")
	if n := admin.count(`//tr[th[.//span[@class='key-name' and .='eves-bot']]]//span[normalize-space(.)='Disabled']`); n != 1 {
		t.Errorf("the keys table does not show eves-bot as Disabled:\n%s", admin.text())
	}
	admin.pressAt(`//a[.//span[@class='key-name' and .='eves-bot']]`)
	admin.see(`API key “eves-bot”`, "Disabled", "when its owner lost the project", "eve@example.com", "Audit trail", "Created API key")
	admin.checkPage()
}

package dashboard_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/keyward/keyward/apikey"
)

// The exact policy the dashboard promises (docs/dashboard.md).
const wantCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// TestAPIKeyLifecycleInTheBrowser walks the path of the issue: a person signs in, opens the
// default project's API Keys tab, creates a key with a name, allowed IPs and two
// permissions, copies it, and the copied key exchanges at /oauth/token with exactly those
// permissions and networks; then they delete it with the red button, the key stops
// exchanging, and the audit log shows both events.
func TestAPIKeyLifecycleInTheBrowser(t *testing.T) {
	e := start(t)
	b := newTab(t, e)
	console := chromedp.Console(b.ctx)

	b.login(adminEmail, adminPassword)
	b.pressAt(`//main//a[.//*[normalize-space(.)='default']]`)
	b.see("General", "Your permissions")
	b.pressAt(`//nav[@aria-label='Project settings']//a[normalize-space(.)='API Keys']`)
	b.see("No API keys yet", "Create API Key")
	b.checkPage()

	// The form offers what the admin holds, grouped as in the catalog, with descriptions.
	b.press("Create API Key")
	b.see("Name", "Allowed IPs", "Permissions", "List containers and read their status and logs.", "Expires on")
	for _, group := range []string{"Projects", "API keys", "Containers", "Billing"} {
		if n := b.count(`//fieldset/legend[normalize-space(.)=` + xq(group) + `]`); n != 1 {
			t.Errorf("%d permission groups named %q", n, group)
		}
	}
	b.checkPage()
	b.fill("Name", "deploy-bot")
	b.fill("Allowed IPs", "127.0.0.1, 10.0.0.0/8")
	b.check("containers-view")
	b.check("images-view")
	saveScreenshot(t, "create-key-form.png", b.screenshot())
	b.press("Create API Key")

	b.see(`API key “deploy-bot” created`, "will not be shown again")
	b.do(chromedp.Click(button("Copy")))
	b.do(chromedp.WaitVisible(`//button[normalize-space(.)='Copied']`))
	key := run(b, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise))
	if _, err := apikey.Parse(key); err != nil {
		t.Fatalf("the clipboard holds %q, not an API key: %v", key, err)
	}
	keyID, _ := apikey.Parse(key)

	// The copied key works, with exactly what the form asked for.
	tok := e.exchange(key, "")
	if tok.Status != http.StatusOK || tok.Scope != "containers-view images-view" {
		t.Fatalf("exchange of the copied key: %+v", tok)
	}
	c := claims(t, tok.AccessToken)
	if got := fmt.Sprint(c["ips"]); got != "[127.0.0.1 10.0.0.0/8]" {
		t.Errorf("token ips = %s, want [127.0.0.1 10.0.0.0/8]", got)
	}
	if c["scope"] != "containers-view images-view" || c["client_id"] != keyID {
		t.Errorf("token claims %v", c)
	}
	if got := e.exchange(key, "10.20.30.40"); got.Status != http.StatusOK {
		t.Errorf("exchange from inside 10.0.0.0/8: %+v", got)
	}
	if got := e.exchange(key, "203.0.113.9"); got.Error != "unauthorized_client" {
		t.Errorf("exchange from outside the key's networks: %+v", got)
	}

	// The list shows the key without its secret.
	b.press("Done")
	b.see("deploy-bot", "kw_"+keyID+"…"+key[len(key)-4:], "127.0.0.1", "10.0.0.0/8", "containers-view", "images-view", "Never")
	html := run(b, chromedp.OuterHTML(`//html`))
	if secret := strings.TrimPrefix(key, "kw_"+keyID); strings.Contains(html, secret[:len(secret)-4]) {
		t.Fatal("the key list contains the key's secret")
	}
	b.checkPage()

	// Going back to the page that showed the key shows it no more, and sends no form again.
	b.open("/projects/default/api-keys/created")
	b.see("This API key was shown once")
	if html := run(b, chromedp.OuterHTML(`//html`)); strings.Contains(html, key) {
		t.Fatal("the key is shown a second time")
	}
	if got := e.keys("default"); len(got) != 1 {
		t.Fatalf("keys after going back: %v", got)
	}

	// A second key, created a little later and used once, makes the screenshot realistic.
	e.Clock.Advance(time.Minute)
	seedUsedKey(t, e)
	b.open("/projects/default/api-keys")
	b.see("nightly-backup", "from 192.0.2.44")
	saveScreenshot(t, "api-keys.png", b.screenshot())

	// Delete: the red button asks for confirmation naming the key.
	row := `//tr[th[normalize-space(.)='deploy-bot']]`
	bg := run(b, chromedp.Evaluate[string](`getComputedStyle(document.evaluate("`+row+`//button", document, null, 9, null).singleNodeValue).backgroundColor`))
	if bg != "rgb(209, 36, 47)" {
		t.Errorf("the Delete button's background is %s, not red", bg)
	}
	b.do(chromedp.Click(row + `//button[normalize-space(.)='Delete']`))
	b.do(chromedp.WaitVisible(`//dialog[@open]`))
	if got := run(b, chromedp.Text(`//dialog[@open]//h2`)); got != "Delete API key “deploy-bot”?" {
		t.Fatalf("the confirmation asks %q", got)
	}
	b.pressAt(`//dialog[@open]//button[normalize-space(.)='Delete API key']`)
	b.see("Deleted API key deploy-bot (" + keyID + ").")
	if got := run(b, chromedp.Evaluate[string](`location.pathname + location.search`)); got != "/projects/default/api-keys" {
		t.Errorf("after the deletion the address is %s", got)
	}
	b.open("/projects/default/api-keys")
	b.notSee("Deleted API key")
	b.notSee("deploy-bot")
	if got := e.exchange(key, ""); got.Status != http.StatusUnauthorized || got.Error != "invalid_client" {
		t.Fatalf("exchange after deletion: %+v", got)
	}

	b.pressAt(`//nav[@aria-label='Project settings']//a[normalize-space(.)='Audit log']`)
	b.see("Created API key", "Deleted API key", `name="deploy-bot"`, "API key deploy-bot ("+keyID+")", adminEmail)
	b.checkPage()

	// Nothing the pages did was blocked by the Content Security Policy: no inline script or
	// style sneaked in.
	b.do(chromedp.Evaluate[chromedp.Void](`console.log("end of test")`))
	for m, err := range console {
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(m.Text, "Content Security Policy") || m.IsException() {
			t.Errorf("console: %s", m)
		}
		if m.Text == "end of test" {
			break
		}
	}
}

// seedUsedKey stores a key the way the API would and records a use of it.
func seedUsedKey(t *testing.T, e *env) {
	t.Helper()
	cookie := e.login(adminEmail, adminPassword)
	resp := e.do(request{method: "POST", path: "/projects/default/api-keys", cookie: cookie, form: url.Values{
		"name": {"nightly-backup"}, "ips": {"192.0.2.0/24"}, "permissions": {"environments-view", "images-view", "images-manage"},
	}})
	if resp.Status != http.StatusSeeOther {
		t.Fatalf("create nightly-backup: HTTP %d", resp.Status)
	}
	keys, err := e.Store.APIKeys(t.Context(), e.project("default").ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if k.Name == "nightly-backup" {
			if err := e.Store.TouchAPIKey(t.Context(), k.ID, e.Clock.Now().Add(2*time.Minute), "192.0.2.44"); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestKeyNameIsText: a key named like an HTML element is shown as those characters, in the list
// and in the confirmation, and runs nothing.
func TestKeyNameIsText(t *testing.T) {
	e := start(t)
	b := newTab(t, e)
	b.login(adminEmail, adminPassword)
	const name = `<img src=x onerror=alert(1)>`
	b.open("/projects/default/api-keys/new")
	b.fill("Name", name)
	b.check("dns-view")
	b.press("Create API Key")
	b.see("API key “" + name + "” created")
	b.press("Done")
	b.see(name)
	if n := b.count(`//main//img`); n != 0 {
		t.Fatalf("the key list has %d img elements", n)
	}
	if got := run(b, chromedp.Text(`//table//tbody//th`)); got != name {
		t.Fatalf("the name cell reads %q", got)
	}
	b.do(chromedp.Click(`//table//button[normalize-space(.)='Delete']`), chromedp.WaitVisible(`//dialog[@open]`))
	if got := run(b, chromedp.Text(`//dialog[@open]//h2`)); got != "Delete API key “"+name+"”?" {
		t.Fatalf("the confirmation asks %q", got)
	}
	if n := b.count(`//img`); n != 0 {
		t.Fatalf("the page has %d img elements after the dialog opened", n)
	}
}

// TestSessionCookieAndHeaders: the session cookie is out of scripts' reach and the pages carry a
// strict Content Security Policy that forbids framing.
func TestSessionCookieAndHeaders(t *testing.T) {
	e := start(t)
	b := newTab(t, e)
	resp := b.open("/login")
	if got := resp.Headers["Content-Security-Policy"]; got != wantCSP {
		t.Errorf("Content-Security-Policy of the login page = %v", got)
	}
	b.login(adminEmail, adminPassword)
	resp = b.open("/projects/default/api-keys")
	headers := resp.Headers
	if got := fmt.Sprint(headers["Content-Security-Policy"]); got != wantCSP || !strings.Contains(got, "frame-ancestors 'none'") {
		t.Errorf("Content-Security-Policy = %s", got)
	}
	if got := fmt.Sprint(headers["X-Frame-Options"]); got != "DENY" {
		t.Errorf("X-Frame-Options = %s", got)
	}
	if got := fmt.Sprint(headers["Cache-Control"]); got != "no-store" {
		t.Errorf("Cache-Control = %s", got)
	}
	cookies, err := chromedp.Call(b.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{e.URL}})
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, c := range cookies.Cookies {
		if c.Name != "keyward_session" {
			continue
		}
		found = true
		if !c.HTTPOnly || c.SameSite != network.CookieSameSiteLax || c.Path != "/" {
			t.Errorf("session cookie %+v: want HttpOnly, SameSite=Lax, Path=/", c)
		}
	}
	if !found {
		t.Fatalf("no session cookie among %d cookies", len(cookies.Cookies))
	}
	if got := run(b, chromedp.Evaluate[string](`document.cookie`)); strings.Contains(got, "keyward_session") {
		t.Errorf("a script can read the session cookie: %q", got)
	}

	// Signing out ends the session: the browser is back at the sign-in form.
	b.press("Sign out")
	b.see("You have signed out.")
	b.open("/projects/default/api-keys")
	b.see("Sign in to keyward")
}

// TestCrossSitePostRefused: a form posted from another site is refused whatever cookie it
// carries, and changes nothing.
func TestCrossSitePostRefused(t *testing.T) {
	e := start(t)
	cookie := e.login(adminEmail, adminPassword)
	form := url.Values{"name": {"planted"}, "permissions": {"containers-view"}}
	for _, h := range []http.Header{
		{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"https://evil.example"}},
		{"Origin": {"https://evil.example"}}, // a browser that sends no Sec-Fetch-Site
	} {
		resp := e.do(request{method: "POST", path: "/projects/default/api-keys", cookie: cookie, form: form, header: h})
		if resp.Status != http.StatusForbidden || !strings.Contains(resp.Body, "another site") {
			t.Errorf("cross-site POST with %v: HTTP %d %s", h, resp.Status, resp.Body)
		}
		if got := resp.Header.Get("Content-Security-Policy"); got != wantCSP {
			t.Errorf("the refusal's CSP = %q", got)
		}
	}
	if keys := e.keys("default"); len(keys) != 0 {
		t.Fatalf("a cross-site POST created %v", keys)
	}
	// The same request from the dashboard's own page goes through.
	same := http.Header{"Sec-Fetch-Site": {"same-origin"}, "Origin": {e.URL}}
	if resp := e.do(request{method: "POST", path: "/projects/default/api-keys", cookie: cookie, form: form, header: same}); resp.Status != http.StatusSeeOther {
		t.Fatalf("same-origin POST: HTTP %d", resp.Status)
	}
	// Signing out from another site is refused too: the session survives.
	e.do(request{method: "POST", path: "/logout", cookie: cookie, header: http.Header{"Sec-Fetch-Site": {"cross-site"}}})
	if resp := e.do(request{method: "GET", path: "/projects", cookie: cookie}); resp.Status != http.StatusOK {
		t.Fatalf("after a cross-site logout attempt the session is gone: HTTP %d", resp.Status)
	}
}

// TestMemberWithoutManageSeesNoCreateButton: a member who may list keys but not manage them sees
// the keys without a Create or Delete button, and is refused when posting anyway.
func TestMemberWithoutManageSeesNoCreateButton(t *testing.T) {
	e := start(t)
	admin := e.login(adminEmail, adminPassword)
	if resp := e.do(request{method: "POST", path: "/projects/default/api-keys", cookie: admin,
		form: url.Values{"name": {"ci"}, "permissions": {"containers-view"}}}); resp.Status != http.StatusSeeOther {
		t.Fatalf("create ci: HTTP %d", resp.Status)
	}
	e.user("viewer@example.com", "viewer password 1234", "api-keys-view", "containers-view")

	b := newTab(t, e)
	b.login("viewer@example.com", "viewer password 1234")
	b.open("/projects/default/api-keys")
	b.see("ci", "containers-view")
	if n := b.count(button("Create API Key")); n != 0 {
		t.Errorf("the viewer sees %d Create API Key buttons", n)
	}
	if n := b.count(`//button[normalize-space(.)='Delete']`); n != 0 {
		t.Errorf("the viewer sees %d Delete buttons", n)
	}
	b.checkPage()

	viewer := e.login("viewer@example.com", "viewer password 1234")
	same := http.Header{"Sec-Fetch-Site": {"same-origin"}, "Origin": {e.URL}}
	resp := e.do(request{method: "POST", path: "/projects/default/api-keys", cookie: viewer, header: same,
		form: url.Values{"name": {"sneaky"}, "permissions": {"containers-view"}}})
	if resp.Status != http.StatusForbidden || !strings.Contains(resp.Body, "api-keys-manage") {
		t.Errorf("viewer creating a key: HTTP %d %s", resp.Status, resp.Body)
	}
	keys, err := e.Store.APIKeys(t.Context(), e.project("default").ID)
	if err != nil {
		t.Fatal(err)
	}
	resp = e.do(request{method: "POST", path: "/projects/default/api-keys/" + keys[0].ID + "/delete", cookie: viewer, header: same, form: url.Values{}})
	if resp.Status != http.StatusForbidden {
		t.Errorf("viewer deleting a key: HTTP %d", resp.Status)
	}
	if got := e.keys("default"); !slices.Equal(got, []string{"ci"}) {
		t.Errorf("keys after the viewer's attempts: %v", got)
	}
}

// TestKeyboardOnly: the whole path works without a mouse, and the focused control is always
// visibly marked.
func TestKeyboardOnly(t *testing.T) {
	e := start(t)
	b := newTab(t, e)
	b.login(adminEmail, adminPassword)
	b.open("/projects/default/api-keys")

	b.tabTo("Create API Key")
	b.pressKey(kb.Enter)
	b.see("Create API Key", "Permissions")
	b.tabTo("Name")
	b.do(chromedp.KeyEvent("keyboard-key"))
	b.tabTo("audit-view")
	b.do(chromedp.KeyEvent(" ")) // space ticks a checkbox
	b.tabTo("Create API Key")
	b.pressKey(kb.Enter)
	b.see(`API key “keyboard-key” created`)

	b.tabTo("Copy")
	b.do(chromedp.KeyEvent(kb.Enter), chromedp.WaitVisible(`//button[normalize-space(.)='Copied']`))
	b.tabTo("Done")
	b.pressKey(kb.Enter)
	b.see("keyboard-key", "audit-view")

	b.tabTo("Delete keyboard-key")
	b.do(chromedp.KeyEvent(kb.Enter), chromedp.WaitVisible(`//dialog[@open]`))
	if got := run(b, chromedp.Evaluate[string](`document.activeElement.innerText`)); got != "Cancel" {
		t.Fatalf("the dialog put the focus on %q, not on Cancel", got)
	}
	b.tabTo("Delete API key")
	b.pressKey(kb.Enter)
	b.see("Deleted API key keyboard-key (")
	if got := e.keys("default"); len(got) != 0 {
		t.Fatalf("keys left: %v", got)
	}
}

// tabTo presses Tab until the focused element is the one named name (its label, its text or its
// aria-label), and checks that the focus is visible there.
func (b *tab) tabTo(name string) {
	b.t.Helper()
	for range 80 {
		b.do(chromedp.KeyEvent(kb.Tab))
		focused := run(b, chromedp.Evaluate[[]string](`(() => {
			const el = document.activeElement;
			const label = el.labels && el.labels.length ? el.labels[0].childNodes[0].textContent.trim() : '';
			const style = getComputedStyle(el);
			return [label || el.getAttribute('aria-label') || el.innerText.trim(), style.outlineStyle + ' ' + style.boxShadow];
		})()`))
		if focused[0] == name {
			if focused[1] == "none none" {
				b.t.Errorf("%q has the focus but shows no focus ring", name)
			}
			return
		}
	}
	b.t.Fatalf("Tab never reached %q", name)
}

// pressKey presses a key that leads to another page and waits for it.
func (b *tab) pressKey(key string) {
	b.t.Helper()
	if _, err := chromedp.Run(b.ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.KeyEvent(key))); err != nil {
		b.t.Fatalf("press %q: %v", key, err)
	}
}

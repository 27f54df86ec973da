package dashboard_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/keyward/keyward/internal/federation/fedtest"
	"github.com/keyward/keyward/internal/kwtest"
	"github.com/keyward/keyward/internal/server"
)

// paste puts value into the control sel finds at once, as a paste does: a JWT typed key by key
// takes seconds.
func (b *tab) paste(sel, value string) {
	b.t.Helper()
	b.do(chromedp.SetValue(sel, value))
}

// federatedToken trades a subject token for an access token through RFC 7523, as a workload does.
func (e *env) federatedToken(subject string) string {
	e.t.Helper()
	resp := e.do(request{method: "POST", path: "/oauth/token", form: url.Values{
		"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {subject}}})
	var out tokenAnswer
	if err := json.Unmarshal([]byte(resp.Body), &out); err != nil || resp.Status != http.StatusOK || out.AccessToken == "" {
		e.t.Fatalf("federated exchange: %d %s", resp.Status, resp.Body)
	}
	return out.AccessToken
}

// TestFederationInTheBrowser: a key manager trusts a CI provider, adds a rule acting as a
// deploy key, tests a token that meets it and one that misses a condition, edits the rule (a
// new name keeps the workload's token, new conditions end it) and deletes the rule and the
// issuer through their confirmation pages, after which the token is refused.
func TestFederationInTheBrowser(t *testing.T) {
	e := start(t, func(c *server.Config) { c.FederationAllowInsecure = true })
	ci := fedtest.New(t, "k1")
	adminToken := e.AdminToken(t)
	key := e.CreateKey(t, adminToken, "default", kwtest.KeyRequest{Name: "deployer", Permissions: []string{"containers-view"}})

	b := newTab(t, e)
	b.login(adminEmail, adminPassword)
	b.open("/projects/default/federation")
	b.see("Trusted issuers", "No issuer is trusted yet.")
	b.checkPage()

	// A bad name is refused next to its field, and what was typed stays.
	b.fillAt("#issuer-name", "Our CI")
	b.fillAt("#issuer-url", ci.URL)
	b.fillAt("#issuer-audiences", fedtest.Audience)
	b.press("Trust issuer")
	if n := b.count(`//input[@id='issuer-name'][@aria-invalid='true']/following-sibling::p[@id='issuer-name-error']`); n != 1 {
		t.Errorf("the name's error is not next to the name field: %s", b.text())
	}
	if got := run(b, chromedp.Value(`#issuer-url`)); got != ci.URL {
		t.Errorf("after the refusal the issuer URL reads %q", got)
	}
	b.fillAt("#issuer-name", "ci")
	b.press("Trust issuer")
	b.see("The issuer is trusted now.", "ci", ci.URL)

	b.fillAt("#rule-name", "deploy")
	b.paste("#rule-conditions", "repository=octo/app\nref=refs/heads/*")
	b.do(chromedp.SetValue(`#rule-target`, "key:"+key.ID))
	b.fillAt("#rule-ttl", "10m")
	b.press("Add rule")
	b.see("The rule was created.", "deploy", "repository = octo/app", "ref = refs/heads/*", "API key deployer", "10m")
	b.checkPage()

	// The test box: a token meeting the rule, then one that misses its ref condition.
	now := e.Clock.Now()
	b.paste("#fed-token", ci.Sign(t, now, map[string]any{"repository": "octo/app", "ref": "refs/heads/main"}))
	b.press("Test token")
	b.see("Accepted: it meets rule “deploy”.", "Issuer: ci")
	b.paste("#fed-token", ci.Sign(t, now, map[string]any{"repository": "octo/app", "ref": "refs/tags/v1"}))
	b.press("Test token")
	b.see("Refused: no rule lets it in.", "Rule “deploy”: not met — ref differs")
	b.notSee("repository differs")
	saveScreenshot(t, "federation.png", b.screenshot())

	// Renaming keeps the workload's token; a too-long lifetime is refused next to its field.
	token := e.federatedToken(ci.Sign(t, now, map[string]any{"repository": "octo/app", "ref": "refs/heads/main"}))
	kwtest.RequireActive(t, e.Introspect(t, token, kwtest.Bearer(adminToken)))
	b.pressAt(`//a[@aria-label='Edit rule deploy']`)
	b.see("Rule “deploy”", "revokes every token this rule has issued", "A new name or a longer lifetime keeps them.")
	b.checkPage()
	if got := run(b, chromedp.Value(`#rule-conditions`)); got != "ref=refs/heads/*\nrepository=octo/app" {
		t.Errorf("the edit form's conditions read %q", got)
	}
	b.fillAt("#rule-ttl", "2h")
	b.press("Save rule")
	if n := b.count(`//input[@id='rule-ttl'][@aria-invalid='true']/following-sibling::p[@id='rule-ttl-error']`); n != 1 {
		t.Errorf("the lifetime's error is not next to the lifetime field: %s", b.text())
	}
	b.fillAt("#rule-ttl", "10m")
	b.fillAt("#rule-name", "deploy-main")
	b.press("Save rule")
	b.see("The rule was saved.", "deploy-main")
	b.notSee("revoked")
	kwtest.RequireActive(t, e.Introspect(t, token, kwtest.Bearer(adminToken)))

	// Narrowing the conditions ends it.
	b.pressAt(`//a[@aria-label='Edit rule deploy-main']`)
	b.paste("#rule-conditions", "repository=octo/app\nref=refs/heads/main")
	b.press("Save rule")
	b.see("The rule was saved. The tokens it had issued were revoked", "ref = refs/heads/main")
	kwtest.RequireInactive(t, e.Introspect(t, token, kwtest.Bearer(adminToken)))

	// Deleting goes through a confirmation page; the token of the rule stops working.
	token = e.federatedToken(ci.Sign(t, now, map[string]any{"repository": "octo/app", "ref": "refs/heads/main"}))
	b.pressAt(`//button[@aria-label='Delete rule deploy-main']`)
	b.see("Delete rule “deploy-main”?", "stops working within a second")
	b.checkPage()
	clicked := time.Now()
	b.press("Delete rule")
	b.see("The rule was deleted; its tokens were revoked.", "No rule yet.")
	kwtest.RequireInactive(t, e.Introspect(t, token, kwtest.Bearer(adminToken)))
	t.Logf("from the click on Delete rule to the token's refusal at introspection: %v", time.Since(clicked))

	b.pressAt(`//a[@aria-label='Edit issuer ci']`)
	b.see("Issuer “ci”", "0 rules.")
	b.press("Delete issuer")
	b.see("Stop trusting issuer “ci”?", "It has no rule")
	b.pressAt(`//a[normalize-space(.)='Cancel']`) // the closed dialog has a Cancel button too
	b.see("Trusted issuers", ci.URL)
	b.pressAt(`//button[@aria-label='Delete issuer ci']`)
	b.press("Delete issuer")
	b.see("The issuer was deleted", "No issuer is trusted yet.")
}

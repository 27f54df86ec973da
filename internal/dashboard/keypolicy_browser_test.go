package dashboard_test

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestKeyPolicyInTheBrowser: the owner sets the project's key policy on the General tab (a bad
// maximum lifetime comes back next to its field, with what was typed; DPoP is one of the rules), the key form then says
// what is required next to each input, a key that breaks a rule comes back with the rule's
// sentence next to the field it concerns, and a conforming key is created.
func TestKeyPolicyInTheBrowser(t *testing.T) {
	e := start(t)
	b := newTab(t, e)
	b.login(adminEmail, adminPassword)

	b.open("/projects/default")
	b.see("Key policy", "Require an expiry", "Maximum lifetime", "Require an IP restriction", "Require DPoP proofs")
	b.check("Require an IP restriction")
	b.fill("Maximum lifetime", "90d")
	b.press("Save key policy")
	b.see("The maximum lifetime must be a duration from 1h to 876000h, such as 2160h for 90 days, or 0 for none.")
	if n := b.count(`//input[@id='policy-require-ips' and @checked]`); n != 1 {
		t.Errorf("the form lost the ticked box after the error")
	}
	b.fill("Maximum lifetime", "2160h")
	b.check("Require DPoP proofs")
	b.press("Save key policy")
	if p := e.project("default"); p.KeyPolicy.MaxLifetime != 2160*time.Hour || !p.KeyPolicy.RequireIPs || p.KeyPolicy.RequireExpiry || !p.RequireDPoP {
		t.Fatalf("stored key policy: %+v, require_dpop %v", p.KeyPolicy, p.RequireDPoP)
	}
	if n := b.count(`//input[@id='policy-require-dpop' and @checked]`); n != 1 {
		t.Errorf("the saved DPoP requirement is not shown")
	}
	if n := b.count(`//input[@id='policy-max-lifetime' and @value='2160h']`); n != 1 {
		t.Errorf("the saved maximum lifetime is not shown")
	}
	b.checkPage()

	b.open("/projects/default/api-keys/new")
	b.see("This project requires of every key: an expiry within 90 days (2160h), an IP restriction, DPoP proofs.",
		"Allowed IPs (required)", "Expires on (required, at most 90 days (2160h))")
	b.notSee("Leave blank to allow any address.", "Leave blank for a key that does not expire.")
	b.checkPage()
	b.fill("Name", "deploy-bot")
	b.check("containers-view")
	b.press("Create API Key")
	b.see("This project requires API keys to expire within 90 days (2160h).")
	if n := b.count(`//p[@id='key-expires-error']`); n != 1 {
		t.Errorf("the expiry error is not next to the expiry")
	}
	setDate := func(d time.Time) {
		b.do(chromedp.SetValue(control("Expires on"), d.Format(time.DateOnly)))
	}
	setDate(time.Now().UTC().AddDate(0, 0, 30))
	b.press("Create API Key")
	b.see("This project requires API keys to be restricted to IP addresses: give at least one address or network.")
	if n := b.count(`//p[@id='key-ips-error']`); n != 1 {
		t.Errorf("the IP error is not next to the IPs")
	}
	b.fill("Allowed IPs", "10.0.0.0/8")
	setDate(time.Now().UTC().AddDate(0, 0, 30))
	b.press("Create API Key")
	b.see(`API key “deploy-bot” created`)
}

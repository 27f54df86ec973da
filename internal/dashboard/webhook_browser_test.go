package dashboard_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/keyward/keyward/internal/webhook"
)

// TestWebhookInTheBrowser: a key manager opens the Webhooks tab, adds a webhook with two events,
// copies its signing secret with the Copy button, and finds it shown no more on reload; the
// pages pass the label, button and CSP checks.
func TestWebhookInTheBrowser(t *testing.T) {
	e := start(t)
	b := newTab(t, e)
	console := chromedp.Console(b.ctx)
	b.login(adminEmail, adminPassword)

	b.open("/projects/default")
	b.pressAt(`//nav[@aria-label='Project settings']//a[normalize-space(.)='Webhooks']`)
	b.see("No webhook yet", "Add a webhook", "Endpoint URL", "session.reuse_detected", "member.removed")
	b.checkPage()
	b.fill("Endpoint URL", hookURL)
	b.check("api_key.created")
	b.check("api_key.leaked")
	b.press("Add webhook")

	b.see("Webhook added", "will not be shown again")
	b.do(chromedp.Click(button("Copy")))
	b.do(chromedp.WaitVisible(`//button[normalize-space(.)='Copied']`))
	secret := run(b, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise))
	if key, err := webhook.ParseSecret(secret); err != nil || !strings.HasPrefix(secret, webhook.SecretPrefix) || len(key) != 32 {
		t.Fatalf("the clipboard holds %q, not a signing secret: %v", secret, err)
	}
	b.checkPage()

	b.press("Done")
	b.see(hookURL, "api_key.created", "api_key.leaked", "Send test event", "Roll the signing secret")
	if html := run(b, chromedp.OuterHTML(`//html`)); strings.Contains(html, secret) {
		t.Fatal("the webhook's page shows its secret")
	}
	b.checkPage()
	b.open("/projects/default/webhooks/secret")
	b.see("This signing secret was shown once")
	b.notSee(secret)

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

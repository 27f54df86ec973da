package dashboard_test

import (
	"io"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/keyward/keyward/internal/kwtest"
	"github.com/keyward/keyward/internal/server"
	"github.com/keyward/keyward/internal/smtptest"
)

var inviteLink = regexp.MustCompile(`http://[^\s]+/invite/[A-Za-z0-9_-]+`)

// TestInviteByMailInTheBrowser: the owner invites an address in the dashboard; keyward mails the
// link through a real SMTP server; the invited person follows it in a browser of their own,
// chooses a password, and is signed in as a member with the role. The link works once.
func TestInviteByMailInTheBrowser(t *testing.T) {
	sink := smtptest.Start(t)
	e := start(t, kwtest.WithConfig(func(c *server.Config) { c.SMTPURL = sink.URL("keyward@example.com") }))
	owner := newTab(t, e)
	owner.login(adminEmail, adminPassword)
	owner.open("/projects/default/members")
	owner.fill("Email address to invite", "Bea@Example.com")
	owner.do(chromedp.SetValue(control("Role of the invited person"), e.role("developer").ID))
	owner.press("Send invitation")
	owner.see("The invitation was mailed to bea@example.com.", "Pending invitations", "bea@example.com", "developer")
	owner.notSee("Invitation link for")
	owner.checkPage()

	m := sink.Next(t)
	body, err := io.ReadAll(m.Body)
	if err != nil {
		t.Fatal(err)
	}
	if m.Header.Get("To") != "bea@example.com" || !strings.Contains(m.Header.Get("Subject"), "default") ||
		!strings.Contains(string(body), adminEmail) || !strings.Contains(string(body), "developer") {
		t.Fatalf("the mail:\n%v\n%s", m.Header, body)
	}
	link := inviteLink.FindString(string(body))
	u, err := url.Parse(link)
	if err != nil || link == "" || "http://"+u.Host != e.URL {
		t.Fatalf("the mail's link %q is not on %s", link, e.URL)
	}

	bea := newTab(t, e)
	bea.open(u.Path)
	if loc := run(bea, chromedp.Location()); loc != e.URL+"/invite" {
		t.Errorf("after the link the address bar shows %q; the token should have left it", loc)
	}
	bea.see("Join default", "bea@example.com", "developer")
	bea.checkPage()
	bea.fill("Choose a password", "bea's long passphrase")
	bea.fill("Type it again", "bea's long passphrase")
	bea.press("Create my account and join")
	bea.see("Welcome to default: you accepted the invitation.", "bea@example.com")
	if got := e.member("bea@example.com"); got.Role == nil || got.Role.Name != "developer" {
		t.Fatalf("Bea's membership: %+v", got)
	}
	bea.open("/projects/default/api-keys")
	bea.see("API keys")
	// The password chosen signs in from another browser too.
	newTab(t, e).login("bea@example.com", "bea's long passphrase")

	// The owner's list no longer shows it; the link is spent.
	owner.open("/projects/default/members")
	owner.see("No invitation is waiting.")
	again := newTab(t, e)
	again.open(u.Path)
	again.see("This invitation is not valid any more.")
}

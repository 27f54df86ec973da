package dashboard_test

import (
	"testing"

	cdpwebauthn "github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/keyward/keyward/internal/kwtest"
)

// authenticator gives the tab a virtual platform authenticator (Chromium's DevTools WebAuthn
// domain) that holds resident keys, verifies the user and is touched at once.
func (b *tab) authenticator() cdpwebauthn.AuthenticatorID {
	b.t.Helper()
	if _, err := chromedp.Call(b.ctx, cdpwebauthn.Enable, cdpwebauthn.EnableParams{}); err != nil {
		b.t.Fatal(err)
	}
	res, err := chromedp.Call(b.ctx, cdpwebauthn.AddVirtualAuthenticator, cdpwebauthn.AddVirtualAuthenticatorParams{
		Options: &cdpwebauthn.VirtualAuthenticatorOptions{
			Protocol: cdpwebauthn.AuthenticatorProtocolCtap2, Ctap2version: cdpwebauthn.Ctap2versionCtap21,
			Transport: cdpwebauthn.AuthenticatorTransportInternal, HasResidentKey: true,
			HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
		},
	})
	if err != nil {
		b.t.Fatal(err)
	}
	return res.AuthenticatorID
}

// credentials counts the credentials the virtual authenticator holds.
func (b *tab) credentials(id cdpwebauthn.AuthenticatorID) int {
	b.t.Helper()
	res, err := chromedp.Call(b.ctx, cdpwebauthn.GetCredentials, cdpwebauthn.GetCredentialsParams{AuthenticatorID: id})
	if err != nil {
		b.t.Fatal(err)
	}
	return len(res.Credentials)
}

// TestPasskeySignIn: register a passkey on the virtual authenticator from the account page, then
// sign in with the password and the passkey; a deleted passkey signs nobody in.
func TestPasskeySignIn(t *testing.T) {
	e := start(t, kwtest.OnLocalhost)
	b := newTab(t, e)
	b.base = e.Config.Issuer // passkeys are bound to a host name, not 127.0.0.1
	auth := b.authenticator()
	b.login(adminEmail, adminPassword)

	b.open("/account/2fa")
	b.see("Passkeys", "No authenticator app is set up")
	b.checkPage()
	b.fill("Passkey name", "")
	b.do(chromedp.Click(button("Add a passkey")))
	b.do(chromedp.WaitVisible(`//*[@data-passkey-status][normalize-space(.)!=""]`))
	b.see("Name the passkey")

	b.fill("Passkey name", "laptop")
	b.pressAt(button("Add a passkey"))
	b.see("laptop", "Never")
	b.checkPage()
	if n := b.credentials(auth); n != 1 {
		t.Fatalf("the authenticator holds %d credentials", n)
	}
	b.signOut()

	// Password, then the passkey.
	b.open("/login")
	b.fill("Email address", adminEmail)
	b.fill("Password", adminPassword)
	b.press("Sign in")
	b.see("Use a passkey")
	b.pressAt(button("Use a passkey"))
	b.see("Projects", adminEmail)
	b.open("/account/2fa")
	b.notSee("Never")

	// The same passkey cannot be registered twice (the authenticator is told to refuse it).
	b.fill("Passkey name", "again")
	b.do(chromedp.Click(button("Add a passkey")))
	b.do(chromedp.WaitVisible(`//*[@data-passkey-status][normalize-space(.)!=""]`))
	if n := b.credentials(auth); n != 1 {
		t.Fatalf("the authenticator holds %d credentials after registering it again", n)
	}

	// Deleted, with the password: the next sign-in asks for no second factor.
	b.open("/account/2fa")
	b.fill("Password to delete “laptop”", adminPassword)
	b.press("Delete")
	b.notSee("laptop")
	b.signOut()
	b.login(adminEmail, adminPassword)
}

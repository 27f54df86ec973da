package dashboard_test

import (
	"encoding/base32"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/keyward/keyward/internal/twofactor"
)

// enrol turns two-factor sign-in on through the account page, as a person does with an
// authenticator app: it reads the secret shown beside the QR code, computes the code, and
// returns the secret and the recovery codes shown once.
func (b *tab) enrol(e *env) ([]byte, []string) {
	b.t.Helper()
	b.open("/account/2fa")
	b.see("No authenticator app is set up")
	b.press("Set up an authenticator app")
	b.see("Scan this code with your authenticator app")
	b.checkPage()
	// The QR code is an inline PNG the page's Content Security Policy lets the browser draw.
	if w := run(b, chromedp.Evaluate[int](`document.getElementById('totp-qr').naturalWidth`)); w == 0 {
		b.t.Fatal("the QR code image did not load")
	}
	uri := run(b, chromedp.Evaluate[string](`document.getElementById('totp-secret').value`))
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(uri)
	if err != nil || len(secret) != twofactor.SecretBytes {
		b.t.Fatalf("secret %q: %v", uri, err)
	}
	b.fill("Code", "000000")
	if twofactor.Code(secret, twofactor.Step(e.Clock.Now())) != "000000" {
		b.press("Turn on")
		b.see("The code is wrong")
	}
	b.fill("Code", twofactor.Code(secret, twofactor.Step(e.Clock.Now())))
	b.press("Turn on")
	b.see("Save these codes now")
	codes := run(b, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#recovery-codes code')].map(c => c.innerText)`))
	if len(codes) != twofactor.RecoveryCodes {
		b.t.Fatalf("%d recovery codes shown", len(codes))
	}
	b.press("Done")
	b.see("Your authenticator app is set up", "Recovery codes left: 10")
	// The code of this step was spent on the confirmation: sign-ins use the next one.
	e.Clock.Advance(twofactor.Period * time.Second)
	return secret, codes
}

// signInWith signs in with the password, then answers the second step with code.
func (b *tab) signInWith(email, pw, code string) {
	b.t.Helper()
	b.open("/login")
	b.fill("Email address", email)
	b.fill("Password", pw)
	b.press("Sign in")
	b.see("Two-factor sign-in", "Enter the 6-digit code")
	b.fill("Code", code)
	b.press("Verify")
}

func (b *tab) signOut() {
	b.t.Helper()
	b.press("Sign out")
	b.see("You have signed out")
}

// TestTwoFactorSignIn: enrol TOTP in the browser, then sign in with the password and a code the
// test computes from the secret the page showed; a wrong code and a spent code are refused; a
// recovery code works once.
func TestTwoFactorSignIn(t *testing.T) {
	e := start(t)
	b := newTab(t, e)
	b.login(adminEmail, adminPassword)
	secret, codes := b.enrol(e)
	code := func() string { return twofactor.Code(secret, twofactor.Step(e.Clock.Now())) }
	b.signOut()

	// The password alone is not a sign-in any more: the second step holds no session.
	b.open("/login")
	b.fill("Email address", adminEmail)
	b.fill("Password", adminPassword)
	b.press("Sign in")
	b.see("Enter the 6-digit code")
	b.checkPage()
	b.open("/projects")
	b.see("Sign in to keyward")

	wrong := "123456"
	if wrong == code() {
		wrong = "654321"
	}
	b.signInWith(adminEmail, adminPassword, wrong)
	b.see("The second factor is wrong")
	b.fill("Code", code())
	b.press("Verify")
	b.see("Projects", adminEmail)
	used := code()
	b.signOut()

	// The same code again, in the same step: refused.
	b.signInWith(adminEmail, adminPassword, used)
	b.see("The second factor is wrong")

	// A recovery code works once.
	b.signInWith(adminEmail, adminPassword, codes[0])
	b.see("Projects", adminEmail)
	b.open("/account/2fa")
	b.see("Recovery codes left: 9")
	b.signOut()
	b.signInWith(adminEmail, adminPassword, codes[0])
	b.see("The second factor is wrong")
	b.fill("Code", codes[1])
	b.press("Verify")
	b.see("Projects", adminEmail)

	// Turning it off needs the password and a code.
	e.Clock.Advance(twofactor.Period * time.Second)
	b.open("/account/2fa")
	b.fill("Password", adminPassword)
	b.fill("A code from your app, or a recovery code", "000000")
	if code() == "000000" {
		b.fill("A code from your app, or a recovery code", "111111")
	}
	b.press("Turn off")
	b.see("The second factor is wrong")
	b.fill("Password", adminPassword)
	b.fill("A code from your app, or a recovery code", code())
	b.press("Turn off")
	b.see("No authenticator app is set up")
	b.signOut()
	b.login(adminEmail, adminPassword) // a password alone again
}

// TestRequire2FABlocksMember: a project that requires two-factor sign-in refuses, in the
// dashboard, a member without a second factor, and lets them in once they enrol.
func TestRequire2FABlocksMember(t *testing.T) {
	e := start(t)
	const bobEmail, bobPassword = "bob@example.com", "bob-password-long-enough-2"
	e.user(bobEmail, bobPassword, "api-keys-view", "members-view")

	admin := newTab(t, e)
	admin.login(adminEmail, adminPassword)
	admin.open("/projects/default")
	admin.press("Require two-factor sign-in")
	admin.see("Turn on two-factor sign-in for yourself first")
	admin.enrol(e)
	admin.open("/projects/default")
	admin.press("Require two-factor sign-in")
	admin.see("Members must sign in with a second factor")

	bob := newTab(t, e)
	bob.login(bobEmail, bobPassword)
	bob.see("default")
	resp := bob.open("/projects/default/api-keys")
	if resp.Status != 403 {
		t.Errorf("member without a second factor: status %s", strconv.Itoa(int(resp.Status)))
	}
	bob.see("requires two-factor sign-in", "/account/2fa")
	bob.enrol(e)
	bob.open("/projects/default/api-keys")
	bob.see("API Keys")
}

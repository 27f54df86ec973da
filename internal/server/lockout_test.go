package server_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/kwtest"
)

// signIn posts the dashboard's sign-in form from ip with the cookies given and returns the
// response; a success is a 303 that sets the session and device cookies.
func signIn(t *testing.T, s *kwtest.Server, ip, email, password string, cookies ...*http.Cookie) *kwtest.Response {
	t.Helper()
	opts := []kwtest.RequestOption{kwtest.Header("Content-Type", "application/x-www-form-urlencoded"), kwtest.From(ip)}
	for _, c := range cookies {
		opts = append(opts, kwtest.Header("Cookie", c.Name+"="+c.Value))
	}
	form := url.Values{"email": {email}, "password": {password}}
	browser := kwtest.NewClient(s.URL)
	browser.HTTP.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return browser.Do(t, http.MethodPost, "/login", strings.NewReader(form.Encode()), opts...)
}

func cookieNamed(r *kwtest.Response, name string) *http.Cookie {
	for _, c := range (&http.Response{Header: r.Header}).Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// guessAdmin sends n wrong passwords for the admin through the password grant, each from an
// address of its own, and returns how many were answered 429.
func guessAdmin(t *testing.T, s *kwtest.Server, n int) int {
	t.Helper()
	throttled := 0
	for i := range n {
		r := s.TokenRequest(t, url.Values{"grant_type": {"password"}, "username": {kwtest.AdminEmail}, "password": {"not-the-password-" + strconv.Itoa(i)}},
			kwtest.From("192.0.2."+strconv.Itoa(i+1)))
		if r.Status == http.StatusTooManyRequests {
			throttled++
		} else {
			kwtest.RequireOAuthError(t, r, http.StatusBadRequest, "invalid_grant")
		}
	}
	return throttled
}

// TestKnownBrowserIsNotLockedOut: 50 wrong passwords for the admin from other addresses lock the
// admin's username, yet the admin's browser, which signed in before, signs in at once, even from
// an address it never used; a browser without the device cookie is refused, and one that guesses
// with the cookie locks out only that cookie.
func TestKnownBrowserIsNotLockedOut(t *testing.T) {
	s := kwtest.Start(t) // the product's default limits
	first := signIn(t, s, "203.0.113.10", kwtest.AdminEmail, kwtest.AdminPassword)
	device := cookieNamed(first, "keyward_device")
	if first.Status != http.StatusSeeOther || device == nil {
		t.Fatalf("first sign-in: %s, device cookie %v", first, device)
	}
	if !device.HttpOnly || device.SameSite != http.SameSiteLaxMode || device.MaxAge < 300*24*3600 {
		t.Errorf("device cookie: HttpOnly %t SameSite %v MaxAge %d", device.HttpOnly, device.SameSite, device.MaxAge)
	}
	if strings.Contains(device.Value, kwtest.AdminEmail) {
		t.Error("the device cookie carries the email address")
	}

	throttled := guessAdmin(t, s, 50)
	t.Logf("%d of 50 guesses from 50 addresses were answered 429", throttled)
	if throttled < 30 {
		t.Fatalf("only %d of 50 guesses were throttled", throttled)
	}
	if r := signIn(t, s, "203.0.113.20", kwtest.AdminEmail, kwtest.AdminPassword); r.Status != http.StatusTooManyRequests {
		t.Fatalf("a browser without the device cookie: %s, want 429", r)
	}

	start := time.Now()
	r := signIn(t, s, "203.0.113.20", kwtest.AdminEmail, kwtest.AdminPassword, device)
	t.Logf("the known browser signed in in %v", time.Since(start))
	if r.Status != http.StatusSeeOther || cookieNamed(r, "keyward_session") == nil {
		t.Fatalf("the known browser was refused: %s", r)
	}
	renewed := cookieNamed(r, "keyward_device")
	if renewed == nil || renewed.Value == device.Value {
		t.Fatal("a sign-in did not renew the device cookie")
	}

	t.Run("a forged or altered cookie is no cookie", func(t *testing.T) {
		forged := &http.Cookie{Name: "keyward_device", Value: renewed.Value[:len(renewed.Value)-2] + "AA"}
		if r := signIn(t, s, "203.0.113.21", kwtest.AdminEmail, kwtest.AdminPassword, forged); r.Status != http.StatusTooManyRequests {
			t.Fatalf("forged device cookie: %s, want 429", r)
		}
	})
	t.Run("guessing with the cookie locks out that cookie alone", func(t *testing.T) {
		n := 0
		for ; n < 30; n++ {
			r := signIn(t, s, "203.0.113.30", kwtest.AdminEmail, "wrong-with-cookie", renewed)
			if r.Status == http.StatusTooManyRequests {
				break
			}
			if r.Status != http.StatusUnauthorized {
				t.Fatalf("guess %d with the cookie: %s", n, r)
			}
		}
		if n == 30 {
			t.Fatal("30 wrong passwords with one device cookie were never throttled")
		}
		t.Logf("the device cookie was locked out after %d failures", n)
		if r := signIn(t, s, "203.0.113.30", kwtest.AdminEmail, kwtest.AdminPassword, renewed); r.Status != http.StatusTooManyRequests {
			t.Fatalf("the right password with a locked-out cookie: %s, want 429", r)
		}
	})
}

// TestKnownAddressIsNotLockedOut: the password grant has no cookies; an address the user signed
// in from before is exempt from the lockout others' guesses cause, and no other is.
func TestKnownAddressIsNotLockedOut(t *testing.T) {
	s := kwtest.Start(t)
	const home, elsewhere = "203.0.113.40", "203.0.113.41"
	s.Login(t, kwtest.AdminEmail, kwtest.AdminPassword, "", kwtest.From(home))
	if throttled := guessAdmin(t, s, 50); throttled < 30 {
		t.Fatalf("only %d of 50 guesses were throttled", throttled)
	}
	s.Login(t, kwtest.AdminEmail, kwtest.AdminPassword, "", kwtest.From(home))
	r := s.TokenRequest(t, url.Values{"grant_type": {"password"}, "username": {kwtest.AdminEmail}, "password": {kwtest.AdminPassword}},
		kwtest.From(elsewhere))
	requireThrottled(t, r)
}

// TestValidKeyFromAThrottledAddress: 200 failed exchanges from one address (a NAT whose broken
// CI job sends a wrong key), then a valid key from the same address exchanges at once, and its
// refresh token refreshes, while the sprayer there stays throttled.
func TestValidKeyFromAThrottledAddress(t *testing.T) {
	s := kwtest.Start(t)
	admin := s.AdminToken(t)
	k := s.CreateKey(t, admin, "default", kwtest.KeyRequest{Name: "ci", Permissions: []string{"images-view"}})
	const nat = "198.51.100.77"
	exchange := url.Values{"grant_type": {"client_credentials"}}
	throttled := 0
	for i := range 200 {
		wrong := kwtest.UnknownKey(t)
		if i%2 == 1 {
			wrong = kwtest.WrongSecret(t, k.Secret) // the same key with a stale secret
		}
		r := s.TokenRequest(t, exchange, kwtest.Basic(kwtest.KeyID(t, wrong), wrong), kwtest.From(nat))
		if r.Status == http.StatusTooManyRequests {
			throttled++
		} else {
			kwtest.RequireOAuthError(t, r, http.StatusUnauthorized, "invalid_client")
		}
	}
	t.Logf("%d of 200 failed exchanges were answered 429", throttled)
	if throttled < 150 {
		t.Fatalf("only %d of 200 failed exchanges were throttled", throttled)
	}

	start := time.Now()
	tok := s.Exchange(t, k.Secret, kwtest.From(nat))
	t.Logf("the valid key exchanged in %v from the throttled address", time.Since(start))
	kwtest.RequireToken(t, s.Refresh(t, tok.RefreshToken, kwtest.From(nat)))

	wrong := kwtest.UnknownKey(t)
	requireThrottled(t, s.TokenRequest(t, exchange, kwtest.Basic(kwtest.KeyID(t, wrong), wrong), kwtest.From(nat)))
	requireThrottled(t, s.TokenRequest(t, exchange, kwtest.Basic(k.ID, kwtest.WrongSecret(t, k.Secret)), kwtest.From(nat)))
	requireThrottled(t, s.Refresh(t, "kwr_guess", kwtest.From(nat)))
	requireThrottled(t, s.TokenRequest(t, url.Values{"grant_type": {"password"}, "username": {kwtest.AdminEmail}, "password": {"guess-guess-guess"}}, kwtest.From(nat)))
	// The sprayer's refusals while throttled were neither audited nor counted twice: the log
	// holds about one event per failure before the throttle, not 200.
	events := s.Audit(t, admin, "default")
	failed := 0
	for _, e := range events {
		if e.Action == keyward.AuditExchangeFailed {
			failed++
		}
	}
	t.Logf("%d exchange failures audited in the project", failed)
	if failed == 0 || failed > 50 {
		t.Errorf("%d failures audited: refusals while throttled are audited", failed)
	}
}

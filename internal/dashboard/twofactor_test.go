package dashboard_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/twofactor"
)

// TestSecondStepHoldsNoSession: the right password of a user with a second factor yields a
// short-lived challenge cookie and no session; the challenge cannot be forged, outlive its five
// minutes, or be used twice.
func TestSecondStepHoldsNoSession(t *testing.T) {
	e := start(t)
	secret, _ := e.EnrolTOTP(t, adminEmail)
	code := func() string { return twofactor.Code(secret, twofactor.Step(e.Clock.Now())) }

	password := func() *http.Cookie {
		t.Helper()
		resp := e.do(request{method: "POST", path: "/login", form: url.Values{"email": {adminEmail}, "password": {adminPassword}, "next": {"/permissions"}}})
		if resp.Status != http.StatusSeeOther || resp.Header.Get("Location") != "/login/2fa" {
			t.Fatalf("password step: %d %s", resp.Status, resp.Header.Get("Location"))
		}
		var challenge *http.Cookie
		for _, c := range (&http.Response{Header: resp.Header}).Cookies() {
			if strings.Contains(c.Name, "session") {
				t.Fatalf("the password alone set a session cookie: %v", c)
			}
			if c.Name == "keyward_2fa" {
				challenge = c
			}
		}
		if challenge == nil || !challenge.HttpOnly || challenge.MaxAge != 300 {
			t.Fatalf("challenge cookie %+v", challenge)
		}
		return challenge
	}
	step := func(c *http.Cookie, code string) *response {
		return e.do(request{method: "POST", path: "/login/2fa", form: url.Values{"code": {code}}, cookie: c})
	}

	c := password()
	// The challenge is no session: the dashboard does not let it in.
	if resp := e.do(request{method: "GET", path: "/projects", cookie: &http.Cookie{Name: "keyward_session", Value: c.Value}}); resp.Status != http.StatusSeeOther {
		t.Fatalf("challenge as a session: %d", resp.Status)
	}
	forged := &http.Cookie{Name: c.Name, Value: strings.Repeat("A", len(c.Value))}
	if resp := step(forged, code()); resp.Status != http.StatusUnauthorized || !strings.Contains(resp.Body, "Enter your password again") {
		t.Fatalf("forged challenge: %d", resp.Status)
	}
	if resp := step(nil, code()); resp.Status != http.StatusUnauthorized {
		t.Fatalf("no challenge: %d", resp.Status)
	}
	resp := step(c, code())
	if resp.Status != http.StatusSeeOther || resp.Header.Get("Location") != "/permissions" {
		t.Fatalf("second step: %d %s", resp.Status, resp.Header.Get("Location"))
	}
	// Spent: the same challenge again, with the next code, is refused.
	e.Clock.Advance(twofactor.Period * time.Second)
	if resp := step(c, code()); resp.Status != http.StatusUnauthorized {
		t.Fatalf("spent challenge: %d", resp.Status)
	}

	// Five minutes after the password, the challenge is over.
	c = password()
	e.Clock.Advance(5*time.Minute + time.Second)
	if resp := step(c, code()); resp.Status != http.StatusUnauthorized || !strings.Contains(resp.Body, "Enter your password again") {
		t.Fatalf("late challenge: %d", resp.Status)
	}
}

// TestPasskeyAnswerRefused: a forged passkey answer to a pending sign-in is refused and counted
// as a failed sign-in; without a pending sign-in it is refused before anything is checked.
func TestPasskeyAnswerRefused(t *testing.T) {
	e := start(t)
	e.EnrolTOTP(t, adminEmail)
	post := func(c *http.Cookie, body string) *response {
		t.Helper()
		r, err := http.NewRequestWithContext(t.Context(), "POST", e.URL+"/login/2fa/passkey", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		r.Header.Set("Content-Type", "application/json")
		if c != nil {
			r.AddCookie(c)
		}
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return &response{Status: resp.StatusCode, Header: resp.Header, Body: string(data)}
	}
	if resp := post(nil, `{}`); resp.Status != http.StatusUnauthorized {
		t.Fatalf("no pending sign-in: %d", resp.Status)
	}
	resp := e.do(request{method: "POST", path: "/login", form: url.Values{"email": {adminEmail}, "password": {adminPassword}}})
	var challenge *http.Cookie
	for _, c := range (&http.Response{Header: resp.Header}).Cookies() {
		if c.Name == "keyward_2fa" {
			challenge = c
		}
	}
	forged := `{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{"clientDataJSON":"e30","authenticatorData":"AAAA","signature":"AAAA"}}`
	for _, body := range []string{forged, `not json`, `{}`} {
		resp := post(challenge, body)
		if resp.Status != http.StatusUnauthorized || !strings.Contains(resp.Body, "The passkey was not accepted") {
			t.Fatalf("forged answer %q: %d", body, resp.Status)
		}
		if strings.Contains(resp.Header.Get("Set-Cookie"), "keyward_session") {
			t.Fatal("a forged answer set a session cookie")
		}
	}
	events, _, err := e.Store.AuditPage(t.Context(), "", keyward.Page{Limit: 50, Search: keyward.AuditSecondFactorFailed})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 3 {
		t.Errorf("%d failed second factors audited, want 3", len(events))
	}
}

package server_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base32"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/internal/keyring"
	"github.com/keyward/keyward/internal/kwtest"
	"github.com/keyward/keyward/internal/server"
	"github.com/keyward/keyward/internal/twofactor"
)

func passwordForm(email, password, project, otp string) url.Values {
	f := url.Values{"grant_type": {"password"}, "username": {email}, "password": {password}}
	if project != "" {
		f.Set("project", project)
	}
	if otp != "" {
		f.Set("otp", otp)
	}
	return f
}

// TestPasswordGrantSecondFactor: a user with a second factor signs in with the password grant
// only with a valid otp parameter; each code and recovery code works once.
func TestPasswordGrantSecondFactor(t *testing.T) {
	s := kwtest.Start(t, unthrottled)
	secret, codes := s.EnrolTOTP(t, kwtest.AdminEmail)
	now := func() string { return twofactor.Code(secret, twofactor.Step(s.Clock.Now())) }

	r := s.TokenRequest(t, passwordForm(kwtest.AdminEmail, kwtest.AdminPassword, "", ""))
	if e := kwtest.RequireOAuthError(t, r, http.StatusBadRequest, "invalid_grant"); e.Description != client.SecondFactorRequiredDescription {
		t.Errorf("no otp: %q", e.Description)
	}
	// A wrong password says nothing of a second factor: as for an address without an account.
	wrong := kwtest.RequireOAuthError(t, s.TokenRequest(t, passwordForm(kwtest.AdminEmail, "not the password", "", "")), http.StatusBadRequest, "invalid_grant")
	nobody := kwtest.RequireOAuthError(t, s.TokenRequest(t, passwordForm("nobody@example.com", "not the password", "", "")), http.StatusBadRequest, "invalid_grant")
	if wrong.Description != nobody.Description || strings.Contains(wrong.Description, "second factor") {
		t.Errorf("wrong password %q, unknown user %q", wrong.Description, nobody.Description)
	}
	// A right code with a wrong password is a wrong password.
	w2 := kwtest.RequireOAuthError(t, s.TokenRequest(t, passwordForm(kwtest.AdminEmail, "not the password", "", now())), http.StatusBadRequest, "invalid_grant")
	if w2.Description != nobody.Description {
		t.Errorf("wrong password with a code: %q", w2.Description)
	}
	for _, bad := range []string{"000000", "12345", "abcd-efgh-jkmn", strings.Repeat("9", 400)} {
		if bad == now() {
			continue
		}
		e := kwtest.RequireOAuthError(t, s.TokenRequest(t, passwordForm(kwtest.AdminEmail, kwtest.AdminPassword, "", bad)), http.StatusBadRequest, "invalid_grant")
		if e.Description == client.SecondFactorRequiredDescription {
			t.Errorf("otp %q: %q", bad, e.Description)
		}
	}

	code := now()
	kwtest.RequireToken(t, s.TokenRequest(t, passwordForm(kwtest.AdminEmail, kwtest.AdminPassword, "", code)))
	kwtest.RequireOAuthError(t, s.TokenRequest(t, passwordForm(kwtest.AdminEmail, kwtest.AdminPassword, "", code)), http.StatusBadRequest, "invalid_grant")

	// A code in the URL is refused, as a password there is.
	r = s.Do(t, http.MethodPost, "/oauth/token?otp="+now(), strings.NewReader(passwordForm(kwtest.AdminEmail, kwtest.AdminPassword, "", "").Encode()),
		kwtest.Header("Content-Type", "application/x-www-form-urlencoded"))
	kwtest.RequireOAuthError(t, r, http.StatusBadRequest, "invalid_request")

	// A recovery code works once, typed in any case.
	kwtest.RequireToken(t, s.TokenRequest(t, passwordForm(kwtest.AdminEmail, kwtest.AdminPassword, "", strings.ToUpper(codes[0]))))
	kwtest.RequireOAuthError(t, s.TokenRequest(t, passwordForm(kwtest.AdminEmail, kwtest.AdminPassword, "", codes[0])), http.StatusBadRequest, "invalid_grant")

	// The instance audit trail has the failures and the spent recovery code, and no code.
	events, _, err := s.Srv.Store().AuditPage(t.Context(), "", keyward.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, e := range events {
		counts[e.Action]++
		if strings.Contains(e.Detail+e.Target, codes[0]) || strings.Contains(e.Detail, code) {
			t.Errorf("a code in the audit trail: %+v", e)
		}
	}
	if counts[keyward.AuditSecondFactorFailed] < 5 || counts[keyward.AuditRecoveryCodeUsed] != 1 || counts[keyward.Audit2FAEnabled] != 1 {
		t.Errorf("audit events %v", counts)
	}
	if strings.Contains(s.Logs(), codes[0]) {
		t.Error("a recovery code in the server log")
	}
}

// TestSecondFactorGuessingThrottled: wrong codes count as failed sign-ins of the user, so the
// million codes cannot be tried faster than passwords.
func TestSecondFactorGuessingThrottled(t *testing.T) {
	s := kwtest.Start(t, func(c *server.Config) { c.FailedAttemptsPerMinute = 5 })
	secret, _ := s.EnrolTOTP(t, kwtest.AdminEmail)
	throttled := false
	for i := range 20 {
		r := s.TokenRequest(t, passwordForm(kwtest.AdminEmail, kwtest.AdminPassword, "", "00000"+string(rune('0'+i%10))), kwtest.From("203.0.113."+string(rune('1'+i%9))))
		if r.Status == http.StatusTooManyRequests {
			throttled = true
			t.Logf("throttled after %d wrong codes", i)
			break
		}
	}
	if !throttled {
		t.Fatal("20 wrong codes from several addresses were never throttled")
	}
	// While throttled, even the right code is not checked.
	r := s.TokenRequest(t, passwordForm(kwtest.AdminEmail, kwtest.AdminPassword, "", twofactor.Code(secret, twofactor.Step(s.Clock.Now()))), kwtest.From("198.51.100.7"))
	if r.Status != http.StatusTooManyRequests {
		t.Fatalf("right code while throttled: %s", r)
	}
}

// TestRequire2FA: a project that requires a second factor refuses members without one at /v1 and
// at the token endpoint, until they enrol; its keys keep working.
func TestRequire2FA(t *testing.T) {
	s := kwtest.Start(t, unthrottled)
	admin := s.AdminToken(t)
	const email, pw = "bob@example.com", "bob-password-long-enough-1"
	s.CreateUser(t, admin, email, pw)
	putMember(t, s, admin, "default", email, "containers-view", "api-keys-view")
	bob := s.Login(t, email, pw, "").AccessToken
	bobNarrowed := s.Login(t, email, pw, "default")
	key := s.CreateKey(t, admin, "default", kwtest.KeyRequest{Name: "ci", Permissions: []string{"containers-view"}})

	// Turning it on needs a second factor of one's own.
	r := s.API(t, http.MethodPatch, "/v1/projects/default", admin, map[string]any{"require_2fa": true})
	if p := kwtest.RequireProblem(t, r, http.StatusForbidden); !strings.Contains(p.Detail, "/account/2fa") {
		t.Errorf("require_2fa without a second factor: %s", r)
	}
	secret, _ := s.EnrolTOTP(t, kwtest.AdminEmail)
	r = s.API(t, http.MethodPatch, "/v1/projects/default", admin, map[string]any{"require_2fa": true})
	var p client.Project
	if r.Status != http.StatusOK {
		t.Fatalf("require_2fa: %s", r)
	}
	r.JSON(t, &p)
	if !p.Require2FA || p.Name != "default" {
		t.Fatalf("project %+v", p)
	}
	for _, body := range []string{`{}`, `{"require_2fa":null}`, `{"require_2fa":"yes"}`} {
		kwtest.RequireProblem(t, s.API(t, http.MethodPatch, "/v1/projects/default", admin, body), http.StatusBadRequest)
	}

	// Bob, without a second factor, is refused by the project, and only by it.
	r = s.API(t, http.MethodGet, "/v1/projects/default/api-keys", bob, nil)
	if p := kwtest.RequireProblem(t, r, http.StatusForbidden); !strings.Contains(p.Detail, "/account/2fa") {
		t.Errorf("member without 2FA: %s", r)
	}
	if r := s.API(t, http.MethodGet, "/v1/me", bob, nil); r.Status != http.StatusOK {
		t.Errorf("/v1/me: %s", r)
	}
	r = s.TokenRequest(t, passwordForm(email, pw, "default", ""))
	if e := kwtest.RequireOAuthError(t, r, http.StatusForbidden, "invalid_grant"); !strings.Contains(e.Description, "two-factor") {
		t.Errorf("narrowed login without 2FA: %q", e.Description)
	}
	// A token narrowed to the project no longer refreshes: its session ends.
	r = s.Refresh(t, bobNarrowed.RefreshToken)
	if e := kwtest.RequireOAuthError(t, r, http.StatusForbidden, "invalid_grant"); !strings.Contains(e.Description, "two-factor") {
		t.Errorf("refresh without 2FA: %q", e.Description)
	}
	// Keys are not people: the project's key keeps exchanging.
	s.Exchange(t, key.Secret)

	// The admin, with a second factor, is let in, and signs in narrowed to it with a code.
	if r := s.API(t, http.MethodGet, "/v1/projects/default/api-keys", admin, nil); r.Status != http.StatusOK {
		t.Errorf("admin with 2FA: %s", r)
	}
	kwtest.RequireToken(t, s.TokenRequest(t, passwordForm(kwtest.AdminEmail, kwtest.AdminPassword, "default", twofactor.Code(secret, twofactor.Step(s.Clock.Now())))))

	// Once Bob enrols, the same token is let in.
	bobSecret, _ := s.EnrolTOTP(t, email)
	if r := s.API(t, http.MethodGet, "/v1/projects/default/api-keys", bob, nil); r.Status != http.StatusOK {
		t.Fatalf("after enrolling: %s", r)
	}
	code := twofactor.Code(bobSecret, twofactor.Step(s.Clock.Now()))
	kwtest.RequireToken(t, s.TokenRequest(t, passwordForm(email, pw, "default", code)))
}

// TestTOTPSecretSealed: with a master key, the stored secret is sealed, not the secret itself.
func TestTOTPSecretSealed(t *testing.T) {
	master := kwtest.NewMasterKey()
	s := kwtest.Start(t, func(c *server.Config) { c.MasterKey = master })
	ctx := t.Context()
	u, err := s.Srv.Store().UserByEmail(ctx, kwtest.AdminEmail)
	if err != nil {
		t.Fatal(err)
	}
	key, err := keyring.ParseMasterKey(master)
	if err != nil {
		t.Fatal(err)
	}
	svc := &twofactor.Service{Store: s.Srv.Store(), MasterKey: key, Issuer: "keyward", Now: s.Clock.Now, Rand: rand.Reader}
	e, err := svc.Begin(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := s.Srv.Store().TOTP(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(e.Secret)
	if !stored.Sealed || bytes.Contains(stored.Secret, raw) {
		t.Fatalf("stored secret not sealed: %+v", stored)
	}
	// Another master key cannot open it.
	other, err := keyring.ParseMasterKey(kwtest.NewMasterKey())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (&twofactor.Service{Store: s.Srv.Store(), MasterKey: other, Issuer: "keyward", Now: s.Clock.Now, Rand: rand.Reader}).Begin(ctx, u); err == nil {
		t.Fatal("a secret sealed with one master key opened with another")
	}
}

// TestUserListShowsSecondFactors: the administrator's user list says who signs in with a second
// factor, what one checks before requiring it of a project.
func TestUserListShowsSecondFactors(t *testing.T) {
	s := kwtest.Start(t)
	admin := s.AdminToken(t)
	s.CreateUser(t, admin, "plain@keyward.test", "plain password 12345")
	s.EnrolTOTP(t, kwtest.AdminEmail)
	var page struct {
		Data []struct {
			Email        string `json:"email"`
			SecondFactor *bool  `json:"second_factor"`
		} `json:"data"`
	}
	s.API(t, http.MethodGet, "/v1/users", admin, nil).JSON(t, &page)
	got := map[string]bool{}
	for _, u := range page.Data {
		if u.SecondFactor == nil {
			t.Fatalf("user %s is listed without second_factor", u.Email)
		}
		got[u.Email] = *u.SecondFactor
	}
	if !got[kwtest.AdminEmail] || got["plain@keyward.test"] {
		t.Errorf("second factors listed: %v, want the admin's only", got)
	}
}

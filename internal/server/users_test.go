package server_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/keyward/keyward/internal/kwtest"
)

// TestDisabledUserStops: an administrator disables a member through PATCH /v1/users/{id}. Their
// token goes inactive at introspection and is refused by the API, their refresh token is spent,
// their key no longer exchanges (invalid_client), and they cannot log in; enabling them again lets
// them log in but brings back neither the key nor the old sessions.
func TestDisabledUserStops(t *testing.T) {
	for _, engine := range []struct {
		name string
		opts []kwtest.Option
	}{{"sqlite", nil}, {"postgres", []kwtest.Option{kwtest.OnPostgres(t)}}} {
		t.Run(engine.name, func(t *testing.T) {
			s := kwtest.Start(t, append(engine.opts, unthrottled)...)
			admin := s.AdminToken(t)
			const email, pw = "una@keyward.test", "una-has-a-long-enough-password-1"
			una := s.CreateUser(t, admin, email, pw)
			putMember(t, s, admin, "default", email, "containers-view", "api-keys-manage")
			login := s.Login(t, email, pw, "default")
			k := s.CreateKey(t, login.AccessToken, "default", kwtest.KeyRequest{Name: "una-ci", Permissions: []string{"containers-view"}})
			exchanged := s.Exchange(t, k.Secret)
			for _, tok := range []string{login.AccessToken, exchanged.AccessToken} {
				kwtest.RequireActive(t, s.Introspect(t, tok, kwtest.Bearer(admin)))
			}

			patch := func(disabled bool) {
				t.Helper()
				if r := s.API(t, http.MethodPatch, "/v1/users/"+una.ID, admin, map[string]any{"disabled": disabled}); r.Status != http.StatusOK {
					t.Fatalf("PATCH disabled=%v: %s", disabled, r)
				}
			}
			stopped := func(when string) {
				t.Helper()
				for name, tok := range map[string]string{"her login": login.AccessToken, "her key's token": exchanged.AccessToken} {
					kwtest.RequireInactive(t, s.Introspect(t, tok, kwtest.Bearer(admin)))
					if r := s.API(t, http.MethodGet, "/v1/me", tok, nil); r.Status != http.StatusUnauthorized {
						t.Errorf("%s: %s at /v1/me: %s", when, name, r)
					}
				}
				kwtest.RequireOAuthError(t, s.Refresh(t, login.RefreshToken), http.StatusBadRequest, "invalid_grant")
				r := s.TokenRequest(t, url.Values{"grant_type": {"client_credentials"}}, kwtest.Basic(k.ID, k.Secret))
				kwtest.RequireOAuthError(t, r, http.StatusUnauthorized, "invalid_client")
			}

			patch(true)
			stopped("disabled")
			r := s.TokenRequest(t, url.Values{"grant_type": {"password"}, "username": {email}, "password": {pw}})
			kwtest.RequireOAuthError(t, r, http.StatusBadRequest, "invalid_grant")

			patch(false)
			stopped("enabled again")
			again := s.Login(t, email, pw, "default")
			kwtest.RequireActive(t, s.Introspect(t, again.AccessToken, kwtest.Bearer(admin)))
		})
	}
}

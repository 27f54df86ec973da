package server_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/kwtest"
	"github.com/keyward/keyward/internal/server"
	"github.com/keyward/keyward/revocation"
)

func putMember(t *testing.T, s *kwtest.Server, bearer, project, user string, perms ...string) {
	t.Helper()
	r := s.API(t, http.MethodPut, "/v1/projects/"+project+"/members/"+url.PathEscape(user), bearer, map[string]any{"permissions": perms})
	if r.Status != http.StatusOK && r.Status != http.StatusCreated && r.Status != http.StatusNoContent {
		t.Fatalf("put member %s: %s", user, r)
	}
}

// TestSessionsFollowTheirCredential: a session lives only as long as its credential allows
// (SPEC §4: a refresh re-checks the credential and re-reads its permissions).
func TestSessionsFollowTheirCredential(t *testing.T) {
	s := kwtest.Start(t, unthrottled)
	admin := s.AdminToken(t)
	const pw = "a-member-password-long-enough-3"

	t.Run("a refresh from outside the key's networks is refused and ends the session", func(t *testing.T) {
		t.Parallel()
		k := s.CreateKey(t, admin, "default", kwtest.KeyRequest{Name: "fenced", Permissions: []string{"images-view"}, IPs: []string{"203.0.113.0/24"}})
		tok := s.Exchange(t, k.Secret, kwtest.From("203.0.113.5"))
		kwtest.RequireOAuthError(t, s.Refresh(t, tok.RefreshToken, kwtest.From("198.51.100.1")), http.StatusBadRequest, "unauthorized_client")
		kwtest.RequireOAuthError(t, s.Refresh(t, tok.RefreshToken, kwtest.From("203.0.113.5")), http.StatusBadRequest, "invalid_grant")
		kwtest.RequireInactive(t, s.Introspect(t, tok.AccessToken, kwtest.Bearer(admin)))
		s.Exchange(t, k.Secret, kwtest.From("203.0.113.6"))
	})

	t.Run("a member's tokens follow the membership: widening on refresh, a reduction or removal ends them", func(t *testing.T) {
		t.Parallel()
		const email = "carol@keyward.test"
		s.CreateUser(t, admin, email, pw)
		putMember(t, s, admin, "default", email, "images-view")
		tok := s.Login(t, email, pw, "default")
		if tok.Scope != "images-view" {
			t.Fatalf("scope %q, want the membership's permissions", tok.Scope)
		}
		putMember(t, s, admin, "default", email, "images-view", "dns-view")
		wider := kwtest.RequireToken(t, s.Refresh(t, tok.RefreshToken))
		if wider.Scope != "images-view dns-view" {
			t.Errorf("after the permissions grew, the refreshed token has scope %q", wider.Scope)
		}
		putMember(t, s, admin, "default", email, "images-view")
		kwtest.RequireOAuthError(t, s.Refresh(t, wider.RefreshToken), http.StatusBadRequest, "invalid_grant")
		kwtest.RequireInactive(t, s.Introspect(t, wider.AccessToken, kwtest.Bearer(admin)))
		next := s.Login(t, email, pw, "default")
		_, c := kwtest.DecodeJWT(t, next.AccessToken)
		if next.Scope != "images-view" || c["scope"] != "images-view" {
			t.Errorf("after the permissions shrank, a new token has scope %q / %v", next.Scope, c["scope"])
		}
		r := s.API(t, http.MethodDelete, "/v1/projects/default/members/"+url.PathEscape(email), admin, nil)
		if r.Status != http.StatusNoContent {
			t.Fatalf("remove member: %s", r)
		}
		kwtest.RequireOAuthError(t, s.Refresh(t, next.RefreshToken), http.StatusBadRequest, "invalid_grant")
		kwtest.RequireInactive(t, s.Introspect(t, next.AccessToken, kwtest.Bearer(admin)))
	})

	t.Run("disabling a user ends the user's sessions and logins", func(t *testing.T) {
		t.Parallel()
		const email = "dave@keyward.test"
		u := s.CreateUser(t, admin, email, pw)
		putMember(t, s, admin, "default", email, "images-view")
		plain := s.Login(t, email, pw, "")
		narrowed := s.Login(t, email, pw, "default")
		if err := s.Srv.Store().SetUserDisabled(context.Background(), u.ID, true, s.Clock.Now()); err != nil {
			t.Fatal(err)
		}
		for _, tok := range []*kwtest.Token{plain, narrowed} {
			kwtest.RequireOAuthError(t, s.Refresh(t, tok.RefreshToken), http.StatusBadRequest, "invalid_grant")
			kwtest.RequireInactive(t, s.Introspect(t, tok.AccessToken, kwtest.Bearer(admin)))
			kwtest.RequireProblem(t, s.API(t, http.MethodGet, "/v1/me", tok.AccessToken, nil), http.StatusUnauthorized)
		}
		r := s.TokenRequest(t, url.Values{"grant_type": {"password"}, "username": {email}, "password": {pw}})
		kwtest.RequireOAuthError(t, r, http.StatusBadRequest, "invalid_grant")
	})

	t.Run("a member may introspect the project's tokens and a stranger may not", func(t *testing.T) {
		t.Parallel()
		s.CreateUser(t, admin, "erin@keyward.test", pw)
		s.CreateUser(t, admin, "frank@keyward.test", pw)
		putMember(t, s, admin, "default", "erin@keyward.test", "images-view")
		k := s.CreateKey(t, admin, "default", kwtest.KeyRequest{Name: "watched", Permissions: []string{"images-view"}})
		tok := s.Exchange(t, k.Secret)
		member := s.Login(t, "erin@keyward.test", pw, "").AccessToken
		stranger := s.Login(t, "frank@keyward.test", pw, "").AccessToken
		kwtest.RequireActive(t, s.Introspect(t, tok.AccessToken, kwtest.Bearer(member)))
		kwtest.RequireInactive(t, s.Introspect(t, tok.AccessToken, kwtest.Bearer(stranger)))
		// Everyone may introspect their own token.
		kwtest.RequireActive(t, s.Introspect(t, stranger, kwtest.Bearer(stranger)))
	})

	t.Run("key creation, deletion and failed exchanges are audited in the key's project", func(t *testing.T) {
		t.Parallel()
		k := s.CreateKey(t, admin, "default", kwtest.KeyRequest{Name: "audited", Permissions: []string{"images-view"}})
		wrong := kwtest.WrongSecret(t, k.Secret)
		r := s.TokenRequest(t, url.Values{"grant_type": {"client_credentials"}}, kwtest.Basic(k.ID, wrong), kwtest.From("198.51.100.23"))
		kwtest.RequireOAuthError(t, r, http.StatusUnauthorized, "invalid_client")
		s.DeleteKey(t, admin, "default", k.ID)
		want := map[string]bool{keyward.AuditKeyCreated: false, keyward.AuditExchangeFailed: false, keyward.AuditKeyDeleted: false}
		for _, e := range s.Audit(t, admin, "default") {
			if _, ok := want[e.Action]; ok && strings.Contains(e.Target, k.ID) {
				want[e.Action] = true
				if e.Action == keyward.AuditExchangeFailed && e.IP != "198.51.100.23" {
					t.Errorf("failed exchange audited with address %q, want the client's", e.IP)
				}
			}
			if strings.Contains(e.Detail, wrong) || strings.Contains(e.Detail, k.Secret) {
				t.Errorf("an audit event contains a secret: %+v", e)
			}
		}
		for action, seen := range want {
			if !seen {
				t.Errorf("no %s event for key %s", action, k.ID)
			}
		}
	})

	t.Run("the revocation feed lists a deleted key and a revoked session", func(t *testing.T) {
		t.Parallel()
		k := s.CreateKey(t, admin, "default", kwtest.KeyRequest{Name: "in-the-feed", Permissions: []string{"images-view"}})
		tok := s.Exchange(t, k.Secret)
		_, c := kwtest.DecodeJWT(t, tok.AccessToken)
		s.DeleteKey(t, admin, "default", k.ID)
		var page struct {
			Data []struct {
				Type string `json:"type"`
				ID   string `json:"id"`
			} `json:"data"`
		}
		s.Do(t, http.MethodGet, "/v1/revocations", nil).JSON(t, &page)
		sid, _ := c["sid"].(string)
		var key, session bool
		for _, e := range page.Data {
			key = key || e.Type == keyward.RevokedKey && e.ID == revocation.Name(keyward.RevokedKey, k.ID)
			session = session || e.Type == keyward.RevokedSession && e.ID == revocation.Name(keyward.RevokedSession, sid)
		}
		if !key || !session {
			t.Errorf("feed has the key: %t, its session: %t", key, session)
		}
	})
}

// TestClientAddress: X-Forwarded-For and Forwarded count only from trusted proxies, and then the
// right-most untrusted hop is the client (SPEC §5).
func TestClientAddress(t *testing.T) {
	trusting := kwtest.Start(t, unthrottled)
	direct := kwtest.Start(t, unthrottled, kwtest.WithConfig(func(c *server.Config) { c.TrustedProxies = nil }))
	fenced := func(s *kwtest.Server) *kwtest.Key {
		return s.CreateKey(t, s.AdminToken(t), "default", kwtest.KeyRequest{Name: "fenced", Permissions: []string{"images-view"},
			IPs: []string{"203.0.113.0/24"}})
	}
	kt, kd := fenced(trusting), fenced(direct)
	cases := []struct {
		name string
		s    *kwtest.Server
		k    *kwtest.Key
		hdr  []kwtest.RequestOption
		ok   bool
	}{
		{"trusted proxy, allowed client", trusting, kt, []kwtest.RequestOption{kwtest.From("203.0.113.5")}, true},
		{"trusted proxy, client behind another trusted hop", trusting, kt, []kwtest.RequestOption{kwtest.From("203.0.113.5, 127.0.0.2")}, true},
		{"trusted proxy, spoofed left-most hop", trusting, kt, []kwtest.RequestOption{kwtest.From("203.0.113.5, 198.51.100.7")}, false},
		{"trusted proxy, right-most untrusted hop counts", trusting, kt, []kwtest.RequestOption{kwtest.From("198.51.100.7, 203.0.113.5")}, true},
		{"trusted proxy, two header lines", trusting, kt, []kwtest.RequestOption{kwtest.From("203.0.113.5"), kwtest.From("198.51.100.7")}, false},
		{"trusted proxy, Forwarded", trusting, kt, []kwtest.RequestOption{kwtest.Header("Forwarded", "for=203.0.113.5")}, true},
		{"trusted proxy, no header: the proxy itself", trusting, kt, nil, false},
		{"untrusted peer, X-Forwarded-For ignored", direct, kd, []kwtest.RequestOption{kwtest.From("203.0.113.5")}, false},
		{"untrusted peer, Forwarded ignored", direct, kd, []kwtest.RequestOption{kwtest.Header("Forwarded", "for=203.0.113.5")}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts := append([]kwtest.RequestOption{kwtest.Basic(tc.k.ID, tc.k.Secret)}, tc.hdr...)
			r := tc.s.TokenRequest(t, url.Values{"grant_type": {"client_credentials"}}, opts...)
			if tc.ok {
				kwtest.RequireToken(t, r)
			} else {
				kwtest.RequireOAuthError(t, r, http.StatusBadRequest, "unauthorized_client")
			}
		})
	}
	if got := direct.Config.TrustedProxies; len(got) != 0 {
		t.Fatalf("the direct server trusts %v", got)
	}
}

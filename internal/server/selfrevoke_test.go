package server_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/keyward/keyward/internal/kwtest"
)

// revokeKey posts an API key to /oauth/revoke as its holder would, with no other credential.
func revokeKey(t *testing.T, s *kwtest.Server, key string, opts ...kwtest.RequestOption) *kwtest.Response {
	t.Helper()
	return s.PostForm(t, "/oauth/revoke", url.Values{"token": {key}, "token_type_hint": {"api_key"}}.Encode(), opts...)
}

// requireLeaked checks that the key is disabled as leaked: it no longer exchanges, its sessions
// neither refresh nor introspect, the API shows it disabled with reason leaked, and the audit log
// has one api_key.leaked event for it.
func requireLeaked(t *testing.T, s *kwtest.Server, admin string, k *kwtest.Key, tok *kwtest.Token) []kwtest.AuditEvent {
	t.Helper()
	kwtest.RequireOAuthError(t, s.TokenRequest(t, url.Values{"grant_type": {"client_credentials"}}, kwtest.Basic(k.ID, k.Secret)),
		http.StatusUnauthorized, "invalid_client")
	if tok != nil {
		kwtest.RequireOAuthError(t, s.Refresh(t, tok.RefreshToken), http.StatusBadRequest, "invalid_grant")
		kwtest.RequireInactive(t, s.Introspect(t, tok.AccessToken, kwtest.Bearer(admin)))
	}
	var got kwtest.Key
	s.API(t, http.MethodGet, "/v1/projects/default/api-keys/"+k.ID, admin, nil).JSON(t, &got)
	if got.State != "disabled" || got.DisabledReason != "leaked" || got.DisabledAt == nil {
		t.Fatalf("leaked key on the wire: state %q, reason %q, disabled_at %v", got.State, got.DisabledReason, got.DisabledAt)
	}
	var leaked []kwtest.AuditEvent
	for _, e := range s.Audit(t, admin, "default") {
		if e.Action == "api_key.leaked" && e.Target == "key:"+k.ID {
			leaked = append(leaked, e)
		}
	}
	if len(leaked) != 1 {
		t.Fatalf("%d api_key.leaked events, want 1", len(leaked))
	}
	return leaked
}

// TestSelfRevokeKey: whoever holds a key kills it at /oauth/revoke with nothing else; a wrong or
// unknown key gets the same 200 and changes nothing; a roll enables the key again.
func TestSelfRevokeKey(t *testing.T) {
	s := kwtest.Start(t, unthrottled)
	admin := s.AdminToken(t)
	k := s.CreateKey(t, admin, "default", kwtest.KeyRequest{Name: "leaky", Permissions: []string{"images-view"}})
	var fresh kwtest.Key
	s.API(t, http.MethodGet, "/v1/projects/default/api-keys/"+k.ID, admin, nil).JSON(t, &fresh)
	if fresh.State != "active" || fresh.DisabledReason != "" {
		t.Fatalf("new key: state %q, reason %q", fresh.State, fresh.DisabledReason)
	}
	tok := s.Exchange(t, k.Secret)

	for _, guess := range []string{kwtest.WrongSecret(t, k.Secret), kwtest.UnknownKey(t), "kw_short", k.Secret[:len(k.Secret)-1] + "x"} {
		if r := revokeKey(t, s, guess); r.Status != http.StatusOK {
			t.Fatalf("revoking a wrong key: %s", r)
		}
	}
	tok = kwtest.RequireToken(t, s.Refresh(t, tok.RefreshToken))

	r := revokeKey(t, s, k.Secret)
	if r.Status != http.StatusOK {
		t.Fatalf("self-revocation: %s", r)
	}
	kwtest.RequireNoStore(t, r)
	events := requireLeaked(t, s, admin, k, tok)
	if events[0].Detail == "" || events[0].IP == "" {
		t.Errorf("leak event %+v says neither how nor from where", events[0])
	}
	// Again, without the hint: recognised by its shape, and nothing more happens.
	if r := s.Revoke(t, k.Secret); r.Status != http.StatusOK {
		t.Fatalf("second revocation: %s", r)
	}
	requireLeaked(t, s, admin, k, nil)

	// The hint is not trusted: a refresh token sent as an API key is still revoked.
	other := s.CreateKey(t, admin, "default", kwtest.KeyRequest{Name: "other", Permissions: []string{"images-view"}})
	otherTok := s.Exchange(t, other.Secret)
	if r := revokeKey(t, s, otherTok.RefreshToken); r.Status != http.StatusOK {
		t.Fatalf("a refresh token hinted as a key: %s", r)
	}
	kwtest.RequireOAuthError(t, s.Refresh(t, otherTok.RefreshToken), http.StatusBadRequest, "invalid_grant")
	s.Exchange(t, other.Secret)

	// A roll gives it a working secret at once; the leaked one never exchanges again.
	r = s.API(t, http.MethodPost, rollPath(k.ID), admin, map[string]any{"grace": "1h"})
	var rolled kwtest.Key
	r.JSON(t, &rolled)
	if r.Status != http.StatusCreated || rolled.State != "active" || rolled.DisabledReason != "" {
		t.Fatalf("roll of a leaked key: %s", r)
	}
	s.Exchange(t, rolled.Secret)
	kwtest.RequireOAuthError(t, s.TokenRequest(t, url.Values{"grant_type": {"client_credentials"}}, kwtest.Basic(k.ID, k.Secret)),
		http.StatusUnauthorized, "invalid_client")
}

// TestSelfRevokeThrottled: wrong keys posted for revocation count as failed attempts, so an
// address guessing is throttled; the right key from that address still kills the key.
func TestSelfRevokeThrottled(t *testing.T) {
	s := kwtest.Start(t)
	admin := s.AdminToken(t)
	k := s.CreateKey(t, admin, "default", kwtest.KeyRequest{Name: "leaky", Permissions: []string{"images-view"}})
	from := kwtest.From("198.51.100.7")
	throttledAt := 0
	for i := range 30 {
		r := revokeKey(t, s, kwtest.WrongSecret(t, k.Secret), from)
		if r.Status == http.StatusTooManyRequests {
			throttledAt = i + 1
			break
		}
		if r.Status != http.StatusOK {
			t.Fatalf("guess %d: %s", i, r)
		}
	}
	t.Logf("throttled after %d wrong keys", throttledAt)
	if throttledAt == 0 {
		t.Fatal("30 wrong keys from one address were never throttled")
	}
	if r := revokeKey(t, s, k.Secret, from); r.Status != http.StatusOK {
		t.Fatalf("the right key from a throttled address: %s", r)
	}
	requireLeaked(t, s, admin, k, nil)
}

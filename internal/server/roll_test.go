package server_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/kwtest"
)

func rollPath(id string) string { return "/v1/projects/default/api-keys/" + id + "/roll" }

// TestRollKey moves the server's clock through a roll's grace: both secrets exchange within it;
// after it only the new one does, and the sessions of the old secret are refused at refresh and
// revoked.
func TestRollKey(t *testing.T) {
	s := kwtest.Start(t, unthrottled)
	admin := s.AdminToken(t)
	k := s.CreateKey(t, admin, "default", kwtest.KeyRequest{Name: "rolled", Permissions: []string{"images-view"}})
	before := s.Exchange(t, k.Secret)

	r := s.API(t, http.MethodPost, rollPath(k.ID), admin, map[string]any{"grace": "2s"})
	if r.Status != http.StatusCreated {
		t.Fatalf("roll: %s", r)
	}
	var rolled kwtest.Key
	r.JSON(t, &rolled)
	graceEnds := s.Clock.Now().Add(2 * time.Second)
	if rolled.ID != k.ID || rolled.Name != k.Name || rolled.Secret == "" || rolled.Secret == k.Secret ||
		kwtest.KeyID(t, rolled.Secret) != k.ID || rolled.PreviousExpiresAt == nil || !rolled.PreviousExpiresAt.Equal(graceEnds) {
		t.Fatalf("rolled key %+v", rolled)
	}

	// Within the grace both secrets exchange, and the old secret's sessions refresh.
	during := s.Exchange(t, k.Secret)
	fresh := s.Exchange(t, rolled.Secret)
	refreshed := kwtest.RequireToken(t, s.Refresh(t, before.RefreshToken))

	s.Clock.Advance(3 * time.Second)
	r = s.TokenRequest(t, url.Values{"grant_type": {"client_credentials"}}, kwtest.Basic(k.ID, k.Secret))
	kwtest.RequireOAuthError(t, r, http.StatusUnauthorized, "invalid_client")
	s.Exchange(t, rolled.Secret)
	for _, old := range []*kwtest.Token{refreshed, during} {
		kwtest.RequireOAuthError(t, s.Refresh(t, old.RefreshToken), http.StatusBadRequest, "invalid_grant")
		kwtest.RequireInactive(t, s.Introspect(t, old.AccessToken, kwtest.Bearer(admin)))
	}
	kwtest.RequireToken(t, s.Refresh(t, fresh.RefreshToken))

	var found bool
	for _, e := range s.Audit(t, admin, "default") {
		if strings.Contains(e.Detail, rolled.Secret) || strings.Contains(e.Detail, k.Secret) {
			t.Errorf("audit event %+v holds a secret", e)
		}
		found = found || e.Action == "api_key.rolled" && e.Target == "key:"+k.ID && strings.Contains(e.Detail, "grace=2s")
	}
	if !found {
		t.Error("no api_key.rolled event")
	}
}

// TestRollKeyGrace: the grace defaults to an hour and is a duration from 0 to 24 h.
func TestRollKeyGrace(t *testing.T) {
	s := kwtest.Start(t, unthrottled)
	admin := s.AdminToken(t)
	k := s.CreateKey(t, admin, "default", kwtest.KeyRequest{Name: "rolled", Permissions: []string{"images-view"}})
	for _, grace := range []any{"25h", "-1s", "soon", "", 3600} {
		if grace == "" {
			continue
		}
		kwtest.RequireProblem(t, s.API(t, http.MethodPost, rollPath(k.ID), admin, map[string]any{"grace": grace}), http.StatusBadRequest)
	}
	r := s.API(t, http.MethodPost, rollPath(k.ID), admin, map[string]any{})
	var rolled kwtest.Key
	r.JSON(t, &rolled)
	if r.Status != http.StatusCreated || !rolled.PreviousExpiresAt.Equal(s.Clock.Now().Add(time.Hour)) {
		t.Fatalf("roll with the default grace: %s", r)
	}
	// No grace: the previous secret stops at once, and its sessions with it.
	tok := s.Exchange(t, rolled.Secret)
	r = s.API(t, http.MethodPost, rollPath(k.ID), admin, map[string]any{"grace": "0s"})
	var again kwtest.Key
	r.JSON(t, &again)
	if r.Status != http.StatusCreated {
		t.Fatalf("roll without grace: %s", r)
	}
	kwtest.RequireOAuthError(t, s.TokenRequest(t, url.Values{"grant_type": {"client_credentials"}}, kwtest.Basic(k.ID, rolled.Secret)),
		http.StatusUnauthorized, "invalid_client")
	kwtest.RequireInactive(t, s.Introspect(t, tok.AccessToken, kwtest.Bearer(admin)))
	s.Exchange(t, again.Secret)
	kwtest.RequireProblem(t, s.API(t, http.MethodPost, rollPath("kw0000000000000000"), admin, map[string]any{}), http.StatusNotFound)
}

// TestRollKeySelf: a key holding api-keys-roll-self rolls itself and no other key; a key with
// neither that nor api-keys-manage rolls nothing.
func TestRollKeySelf(t *testing.T) {
	s := kwtest.Start(t, unthrottled)
	admin := s.AdminToken(t)
	self := s.CreateKey(t, admin, "default", kwtest.KeyRequest{Name: "self", Permissions: []string{"images-view", "api-keys-roll-self"}})
	plain := s.CreateKey(t, admin, "default", kwtest.KeyRequest{Name: "plain", Permissions: []string{"images-view"}})
	selfTok := s.Exchange(t, self.Secret).AccessToken
	kwtest.RequireProblem(t, s.API(t, http.MethodPost, rollPath(plain.ID), selfTok, map[string]any{}), http.StatusForbidden)
	plainTok := s.Exchange(t, plain.Secret).AccessToken
	kwtest.RequireProblem(t, s.API(t, http.MethodPost, rollPath(plain.ID), plainTok, map[string]any{}), http.StatusForbidden)

	r := s.API(t, http.MethodPost, rollPath(self.ID), selfTok, map[string]any{"grace": "1m"})
	var rolled kwtest.Key
	r.JSON(t, &rolled)
	if r.Status != http.StatusCreated || rolled.Secret == "" {
		t.Fatalf("self roll: %s", r)
	}
	s.Exchange(t, rolled.Secret)
}

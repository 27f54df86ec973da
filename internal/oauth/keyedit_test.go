package oauth

import (
	"context"
	"net/http"
	"net/netip"
	"net/url"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/apikey"
)

// TestKeyCacheLearnsOfEdits: the key cache never lets an exchange or a refresh use a key as it
// was before an edit, whether the edit widens or narrows it.
func TestKeyCacheLearnsOfEdits(t *testing.T) {
	e := newGrantEnv(t)
	id, err := apikey.Parse(e.secret)
	if err != nil {
		t.Fatal(err)
	}
	exchange := func() (int, map[string]any) {
		status, body, _ := e.post(url.Values{"grant_type": {"client_credentials"}}, e.secret)
		return status, body
	}
	refresh := func(rt string) (int, map[string]any) {
		status, body, _ := e.post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, e.secret)
		return status, body
	}
	edit := func(change keyward.APIKeyChange) {
		t.Helper()
		if _, err := e.audit.Store.UpdateAPIKey(context.Background(), e.project.ID, id, change, e.srv.Now()); err != nil {
			t.Fatal(err)
		}
	}
	status, first := exchange() // the key is cached from here on
	if status != http.StatusOK || first["scope"] != "images-view dns-view" {
		t.Fatalf("exchange: %d %v", status, first)
	}

	// The key's owner gains containers-view, so that the key may hold it (a key never holds more
	// than its owner).
	now := e.srv.Now()
	if err := e.audit.Store.PutMember(context.Background(), &keyward.Member{ProjectID: e.project.ID, UserID: e.user.ID,
		Permissions: []string{"images-view", "dns-view", "containers-view"}, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}

	// Widened: the refresh carries the new permission, and so does a new exchange.
	edit(keyward.APIKeyChange{Permissions: &[]string{"images-view", "dns-view", "containers-view"}})
	status, refreshed := refresh(first["refresh_token"].(string))
	if status != http.StatusOK || refreshed["scope"] != "containers-view images-view dns-view" {
		t.Fatalf("refresh after widening: %d %v", status, refreshed)
	}
	status, widened := exchange()
	if status != http.StatusOK || widened["scope"] != "containers-view images-view dns-view" {
		t.Fatalf("exchange after widening: %d %v", status, widened)
	}

	// Narrowed: the session's refresh is refused, a new exchange carries the narrower rights.
	edit(keyward.APIKeyChange{Permissions: &[]string{"images-view"}})
	if status, body := refresh(widened["refresh_token"].(string)); status != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Fatalf("refresh after narrowing: %d %v", status, body)
	}
	if status, body := exchange(); status != http.StatusOK || body["scope"] != "images-view" {
		t.Fatalf("exchange after narrowing: %d %v", status, body)
	}

	// A network that no longer holds the client's address refuses the exchange at once.
	edit(keyward.APIKeyChange{IPs: &[]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	if status, body := exchange(); status == http.StatusOK {
		t.Fatalf("exchange from outside the key's new network: %d %v", status, body)
	}
}

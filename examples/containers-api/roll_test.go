package main

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/keyward/keyward/client"
)

// TestRolledKey rolls a key the way an unattended program does, against real processes: the key
// rolls itself (api-keys-roll-self) with a 2 s grace; during the grace both secrets exchange and
// the old secret's token is served by the API; once the grace is over only the new secret
// exchanges, and the API refuses the old secret's token.
func TestRolledKey(t *testing.T) {
	kw := startKeyward(t)
	api := startAPI(t, kw.URL)
	ctx := context.Background()
	p := kw.Default.ID
	key := kw.createKey(t, p, "self-rolling", nil, "containers-view", "api-keys-roll-self")
	exchange := func(secret string) (*client.TokenResponse, error) {
		return client.Exchange(ctx, client.Config{Server: kw.URL, Key: secret})
	}
	old, err := exchange(key.Secret)
	if err != nil {
		t.Fatal(err)
	}
	self := client.New(kw.URL, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: old.AccessToken}))
	rolled, err := self.RollKey(ctx, p, key.ID, 2*time.Second)
	if err != nil {
		t.Fatalf("the key rolls itself: %v", err)
	}
	graceEnds := time.Now().Add(2 * time.Second)
	if rolled.ID != key.ID || rolled.Secret == "" || rolled.Secret == key.Secret {
		t.Fatalf("rolled key: id %s (was %s), new secret set %v", rolled.ID, key.ID, rolled.Secret != "")
	}
	list := func(tok string) apiResponse {
		return apiCall{method: "GET", url: containersURL(api, p), token: tok}.do(t)
	}

	// During the grace: both secrets exchange, and the old secret's token works.
	if _, err := exchange(key.Secret); err != nil && time.Now().Before(graceEnds) {
		t.Fatalf("the previous secret during the grace: %v", err)
	}
	fresh, err := exchange(rolled.Secret)
	if err != nil {
		t.Fatalf("the new secret: %v", err)
	}
	if r := list(old.AccessToken); r.status != http.StatusOK && time.Now().Before(graceEnds) {
		t.Fatalf("the old secret's token during the grace: %d %s", r.status, r.body)
	}

	// After it: only the new secret exchanges, and the API refuses the old secret's token.
	time.Sleep(time.Until(graceEnds))
	_, err = exchange(key.Secret)
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_client" {
		t.Fatalf("the previous secret after the grace: %v, want invalid_client", err)
	}
	for {
		r := list(old.AccessToken)
		if r.status == http.StatusUnauthorized && strings.Contains(r.challenge, "revoked") {
			t.Logf("the old secret's token was refused %v after the grace ended", time.Since(graceEnds).Round(time.Millisecond))
			break
		}
		// The grace is ended within a second and the feed polled every 500 ms; a few seconds
		// bound a loaded machine.
		if time.Since(graceEnds) > 4*time.Second {
			t.Fatalf("the old secret's token still answers %d %v after the grace ended", r.status, time.Since(graceEnds))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if r := list(fresh.AccessToken); r.status != http.StatusOK {
		t.Fatalf("the new secret's token after the grace: %d %s", r.status, r.body)
	}
}

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

// TestOwnerBoundsKeys is the story of a member who leaves a key behind, told against real
// processes: Eve creates a key that may manage containers and keys; once the admin reduces her,
// the key's old token is refused by the API and its new tokens hold only what she still holds;
// once the admin removes her, the key no longer exchanges, its last token is refused, and it
// cannot mint keys.
func TestOwnerBoundsKeys(t *testing.T) {
	kw := startKeyward(t)
	api := startAPI(t, kw.URL)
	ctx := context.Background()
	p := kw.Default.ID

	// The admin adds Eve to the project through /v1.
	const eveEmail, evePassword = "eve@example.com", "correct horse battery staple eve"
	eve, err := kw.Admin.CreateUser(ctx, client.CreateUserRequest{Email: eveEmail, Password: evePassword})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kw.Admin.PutMember(ctx, p, eve.ID, client.PutMemberRequest{Permissions: []string{"containers-view", "containers-manage", "api-keys-view", "api-keys-manage"}}); err != nil {
		t.Fatal(err)
	}

	// Eve, with her own user token, creates a key.
	login, err := client.PasswordLogin(ctx, kw.URL, eveEmail, evePassword, "")
	if err != nil {
		t.Fatalf("Eve's login: %v", err)
	}
	eveClient := client.New(kw.URL, client.SessionTokenSource(ctx, client.SessionConfig{Server: kw.URL, Token: login.OAuth2()}))
	key, err := eveClient.CreateKey(ctx, p, client.CreateKeyRequest{Name: "eve-deploy",
		Permissions: []string{"containers-view", "containers-manage", "api-keys-manage"}})
	if err != nil {
		t.Fatalf("Eve creates a key: %v", err)
	}
	if key.Owner != eve.ID {
		t.Fatalf("the key's owner is %q, want Eve (%s)", key.Owner, eve.ID)
	}

	exchange := func() (*client.TokenResponse, error) {
		return client.Exchange(ctx, client.Config{Server: kw.URL, Key: key.Secret})
	}
	list := func(tok string) apiResponse {
		return apiCall{method: "GET", url: containersURL(api, p), token: tok}.do(t)
	}
	create := func(tok, name string) apiResponse {
		return apiCall{method: "POST", url: containersURL(api, p), token: tok, body: `{"name":"` + name + `"}`}.do(t)
	}
	// mintKey has a key's access token create a key on /v1 and returns the answer's status.
	mintKey := func(tok, name string) (*client.Key, int) {
		t.Helper()
		kc := client.New(kw.URL, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok}))
		minted, err := kc.CreateKey(ctx, p, client.CreateKeyRequest{Name: name, Permissions: []string{"containers-view"}})
		if err == nil {
			return minted, http.StatusCreated
		}
		var prob *client.Problem
		if !errors.As(err, &prob) {
			t.Fatalf("create key %s with the key's token: %v", name, err)
		}
		return nil, prob.Status
	}
	// refused polls the API until it refuses tok as revoked. The refusal travels by the
	// revocation feed; a few seconds bound the wait, and the time it took is logged.
	refused := func(tok, after string) {
		t.Helper()
		start := time.Now()
		for {
			r := list(tok)
			if r.status == http.StatusUnauthorized && strings.Contains(r.challenge, "revoked") {
				t.Logf("the API refused the old token %v after %s", time.Since(start).Round(time.Millisecond), after)
				return
			}
			if time.Since(start) > 3*time.Second {
				t.Fatalf("the old token still answers %d (WWW-Authenticate %q) %v after %s", r.status, r.challenge, time.Since(start), after)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	// While Eve holds everything, so does her key.
	before, err := exchange()
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if r := create(before.AccessToken, "eve-web"); r.status != http.StatusCreated {
		t.Fatalf("POST with the key's token: %d %s", r.status, r.body)
	}
	minted, status := mintKey(before.AccessToken, "minted-by-eve-deploy")
	if status != http.StatusCreated {
		t.Fatalf("the key's token creates a key: %d, want 201", status)
	}
	if minted.Owner != eve.ID {
		t.Fatalf("the minted key's owner is %q, want Eve (%s)", minted.Owner, eve.ID)
	}

	// The admin reduces Eve to containers-view.
	if _, err := kw.Admin.PutMember(ctx, p, eve.ID, client.PutMemberRequest{Permissions: []string{"containers-view"}}); err != nil {
		t.Fatal(err)
	}
	refused(before.AccessToken, "Eve was reduced")
	reduced, err := exchange()
	if err != nil {
		t.Fatalf("exchange after Eve was reduced: %v", err)
	}
	if reduced.Scope != "containers-view" {
		t.Errorf("the next token's scope is %q, want containers-view", reduced.Scope)
	}
	r := create(reduced.AccessToken, "after-reduction")
	if r.status != http.StatusForbidden || !strings.Contains(r.challenge, `error="insufficient_scope"`) {
		t.Errorf("POST with the next token: %d, WWW-Authenticate %q; want 403 insufficient_scope", r.status, r.challenge)
	}
	if r := list(reduced.AccessToken); r.status != http.StatusOK {
		t.Errorf("GET with the next token: %d %s", r.status, r.body)
	}
	if _, status := mintKey(reduced.AccessToken, "minted-after-reduction"); status != http.StatusForbidden {
		t.Errorf("the next token creates a key: %d, want 403", status)
	}

	// The admin removes Eve.
	if err := kw.Admin.RemoveMember(ctx, p, eve.ID); err != nil {
		t.Fatal(err)
	}
	for name, secret := range map[string]string{"Eve's key": key.Secret, "the key it minted": minted.Secret} {
		_, err := client.Exchange(ctx, client.Config{Server: kw.URL, Key: secret})
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) || re.ErrorCode != "invalid_client" {
			t.Errorf("exchange of %s after Eve was removed: %v; want invalid_client", name, err)
		}
	}
	refused(reduced.AccessToken, "Eve was removed")
	if _, status := mintKey(reduced.AccessToken, "minted-after-removal"); status != http.StatusUnauthorized {
		t.Errorf("the last token creates a key after Eve was removed: %d, want 401", status)
	}
	if got, err := kw.Admin.Key(ctx, p, key.ID); err != nil || got.DisabledAt == nil {
		t.Errorf("Eve's key after her removal: %+v, %v; want it disabled", got, err)
	}
}

package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/client"
)

// TestNarrowedRole narrows a role while a member and a key holding it are at work, against real
// processes: the API refuses both old tokens within a second (the feed carries the revocations),
// the program using the key through client.HTTPClient keeps reading with the role's new rights
// without noticing, and the member's next sign-in carries only what the role still holds.
func TestNarrowedRole(t *testing.T) {
	kw := startKeyward(t)
	api := startAPI(t, kw.URL)
	ctx := context.Background()
	p := kw.Default.ID

	role, err := kw.Admin.CreateRole(ctx, p, client.CreateRoleRequest{Name: "deployers", Description: "Run containers.",
		Permissions: []string{"containers-view", "containers-manage"}})
	if err != nil {
		t.Fatal(err)
	}
	const email, password = "dora@example.com", "correct horse battery staple dora"
	dora, err := kw.Admin.CreateUser(ctx, client.CreateUserRequest{Email: email, Password: password})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kw.Admin.PutMember(ctx, p, dora.ID, client.PutMemberRequest{Role: "deployers"}); err != nil {
		t.Fatal(err)
	}
	login, err := client.PasswordLogin(ctx, kw.URL, email, password, p)
	if err != nil {
		t.Fatalf("Dora's login: %v", err)
	}
	key, err := kw.Admin.CreateKey(ctx, p, client.CreateKeyRequest{Name: "deployer-bot", Role: role.Name})
	if err != nil {
		t.Fatal(err)
	}
	if key.Role == nil || *key.Role != "deployers" || len(key.Permissions) != 0 {
		t.Fatalf("key created with a role: role %v, permissions %v", key.Role, key.Permissions)
	}
	old, err := client.Exchange(ctx, client.Config{Server: kw.URL, Key: key.Secret})
	if err != nil {
		t.Fatal(err)
	}
	program := client.HTTPClient(ctx, client.TokenSource(ctx, client.Config{Server: kw.URL, Key: key.Secret}))
	programDoes := func(method, body string) int {
		t.Helper()
		req, err := http.NewRequest(method, containersURL(api, p), strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := program.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for who, tok := range map[string]string{"dora": login.AccessToken, "key": old.AccessToken} {
		r := apiCall{method: "POST", url: containersURL(api, p), token: tok, body: `{"name":"by-` + who + `"}`}.do(t)
		if r.status != http.StatusCreated {
			t.Fatalf("%s creates a container before the change: %d %s", who, r.status, r.body)
		}
	}
	if got := programDoes("POST", `{"name":"by-program"}`); got != http.StatusCreated {
		t.Fatalf("the program creates a container before the change: %d", got)
	}

	narrowed, err := kw.Admin.UpdateRole(ctx, p, "deployers", client.UpdateRoleRequest{Permissions: &[]string{"containers-view"}})
	if err != nil {
		t.Fatal(err)
	}
	if narrowed.Members != 1 || narrowed.Keys != 1 {
		t.Errorf("the role is held by %d members and %d keys, want 1 and 1", narrowed.Members, narrowed.Keys)
	}
	refusedWithin(t, containersURL(api, p), time.Now(), "the role was narrowed",
		map[string]string{"Dora's old token": login.AccessToken, "the key's old token": old.AccessToken})

	// The program exchanges again without noticing and holds the role's new rights.
	if got := programDoes("GET", ""); got != http.StatusOK {
		t.Errorf("the program reads after the change: %d, want 200", got)
	}
	if got := programDoes("POST", `{"name":"after"}`); got != http.StatusForbidden {
		t.Errorf("the program creates after the change: %d, want 403", got)
	}
	again, err := client.PasswordLogin(ctx, kw.URL, email, password, p)
	if err != nil {
		t.Fatal(err)
	}
	if again.Scope != "containers-view" {
		t.Errorf("Dora's new token has scope %q, want containers-view", again.Scope)
	}
}

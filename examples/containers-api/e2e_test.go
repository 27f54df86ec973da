package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/keyward/keyward/client"
)

// TestPlatformAPI runs keyward and the example API as processes and checks what the issue asks:
// tokens work, permissions, raw keys, projects, addresses and deletions are enforced.
func TestPlatformAPI(t *testing.T) {
	kw := startKeyward(t)
	api := startAPI(t, kw.URL)
	ctx := context.Background()
	p := kw.Default.ID
	other, err := kw.Admin.CreateProject(ctx, "other")
	if err != nil {
		t.Fatal(err)
	}
	manager := kw.createKey(t, p, "manager", nil, "containers-view", "containers-manage")
	viewer := kw.createKey(t, p, "viewer", nil, "containers-view")

	t.Run("an exchanged token lists and creates containers", func(t *testing.T) {
		hc := oauthClient(client.TokenSource(ctx, client.Config{Server: kw.URL, Key: manager.Secret}))
		resp, err := hc.Post(containersURL(api, p), "application/json", strings.NewReader(`{"name":"web-1"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("POST: %s", resp.Status)
		}
		resp, err = hc.Get(containersURL(api, p))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var list struct {
			Data []container `json:"data"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&list); err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET: %s, %v", resp.Status, err)
		}
		if len(list.Data) != 1 || list.Data[0].Name != "web-1" || list.Data[0].CreatedBy != "key:"+manager.ID {
			t.Fatalf("containers %+v", list.Data)
		}
	})

	t.Run("a view-only key gets 403 insufficient_scope on POST", func(t *testing.T) {
		tok := kw.token(t, viewer)
		if r := (apiCall{method: "GET", url: containersURL(api, p), token: tok}).do(t); r.status != 200 {
			t.Fatalf("GET with containers-view: %d %s", r.status, r.body)
		}
		r := apiCall{method: "POST", url: containersURL(api, p), token: tok, body: `{"name":"web-2"}`}.do(t)
		if r.status != http.StatusForbidden || !strings.Contains(r.challenge, `error="insufficient_scope"`) || !strings.Contains(r.challenge, `scope="containers-manage"`) {
			t.Fatalf("POST: %d, WWW-Authenticate %q", r.status, r.challenge)
		}
	})

	t.Run("a raw API key gets 401 with the exchange hint", func(t *testing.T) {
		r := apiCall{method: "GET", url: containersURL(api, p), token: viewer.Secret}.do(t)
		if r.status != http.StatusUnauthorized || !strings.Contains(r.challenge, `error="invalid_token"`) ||
			!strings.Contains(r.challenge, "Exchange it first at "+kw.URL+"/oauth/token") {
			t.Fatalf("%d, WWW-Authenticate %q", r.status, r.challenge)
		}
		if strings.Contains(r.body+r.challenge, viewer.Secret) {
			t.Error("the answer repeats the key")
		}
	})

	t.Run("a token of project P is refused on project Q's path", func(t *testing.T) {
		otherKey := kw.createKey(t, other.ID, "other-manager", nil, "containers-view", "containers-manage")
		for _, c := range []apiCall{
			{method: "GET", url: containersURL(api, other.ID), token: kw.token(t, manager)},
			{method: "POST", url: containersURL(api, other.ID), token: kw.token(t, manager), body: `{"name":"x"}`},
			{method: "GET", url: containersURL(api, p), token: kw.token(t, otherKey)},
			{method: "GET", url: containersURL(api, "default"), token: kw.token(t, manager)}, // a name, not the id
		} {
			if r := c.do(t); r.status != http.StatusForbidden {
				t.Errorf("%s %s: %d %s", c.method, c.url, r.status, r.body)
			}
		}
		if r := (apiCall{method: "GET", url: containersURL(api, other.ID), token: kw.token(t, otherKey)}).do(t); r.status != 200 {
			t.Errorf("the other project's own key: %d", r.status)
		}
	})

	t.Run("a key restricted to 127.0.0.1/32 is refused from 127.0.0.2", func(t *testing.T) {
		if ln, err := net.Listen("tcp", "127.0.0.2:0"); err != nil {
			t.Skipf("this system has no 127.0.0.2 (Linux routes all of 127/8 to loopback): %v", err)
		} else {
			ln.Close()
		}
		local := kw.createKey(t, p, "localhost-only", []string{"127.0.0.1/32"}, "containers-view")
		tok := kw.token(t, local) // exchanged from 127.0.0.1, which the key allows
		if r := (apiCall{method: "GET", url: containersURL(api, p), token: tok, from: "127.0.0.1"}).do(t); r.status != 200 {
			t.Fatalf("from 127.0.0.1: %d %s", r.status, r.body)
		}
		r := apiCall{method: "GET", url: containersURL(api, p), token: tok, from: "127.0.0.2"}.do(t)
		if r.status != http.StatusUnauthorized || !strings.Contains(r.challenge, "may not be used from your address") {
			t.Fatalf("from 127.0.0.2: %d, WWW-Authenticate %q", r.status, r.challenge)
		}
	})

	t.Run("a deleted key's token is refused within a second; other keys keep working", func(t *testing.T) {
		doomed := kw.createKey(t, p, "doomed", nil, "containers-view")
		survivor := kw.createKey(t, p, "survivor", nil, "containers-view")
		doomedTok, survivorTok := kw.token(t, doomed), kw.token(t, survivor)
		get := func(tok string) apiResponse {
			return apiCall{method: "GET", url: containersURL(api, p), token: tok}.do(t)
		}
		if get(doomedTok).status != 200 || get(survivorTok).status != 200 {
			t.Fatal("the tokens do not work before the deletion")
		}
		if err := kw.Admin.DeleteKey(ctx, p, doomed.ID); err != nil {
			t.Fatal(err)
		}
		deleted := time.Now()
		for {
			r := get(doomedTok)
			if r.status == http.StatusUnauthorized && strings.Contains(r.challenge, "revoked") {
				t.Logf("refused %v after the deletion", time.Since(deleted).Round(time.Millisecond))
				break
			}
			if time.Since(deleted) > time.Second {
				t.Fatalf("the deleted key's token still answers %d after %v", r.status, time.Since(deleted))
			}
			time.Sleep(20 * time.Millisecond)
		}
		if r := get(survivorTok); r.status != 200 {
			t.Fatalf("another key's token: %d %s", r.status, r.body)
		}
	})
}

// TestClientAcrossExpiries keeps a program working with a key while its access tokens expire and
// later its refresh token, with lifetimes of seconds configured on the server.
func TestClientAcrossExpiries(t *testing.T) {
	kw := startKeyward(t, "--access-ttl", "2s", "--refresh-grace", "2s")
	api := startAPI(t, kw.URL, "--max-staleness", "1m")
	ctx := context.Background()
	key := kw.createKey(t, kw.Default.ID, "long-running", nil, "containers-view")
	ts := client.TokenSource(ctx, client.Config{Server: kw.URL, Key: key.Secret})
	hc := oauthClient(ts)

	call := func() (sid, jti string) {
		t.Helper()
		resp, err := hc.Get(containersURL(api, kw.Default.ID))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET: %s (%s)", resp.Status, resp.Header.Get("WWW-Authenticate"))
		}
		tok, err := ts.Token()
		if err != nil {
			t.Fatal(err)
		}
		var claims struct {
			Sid string `json:"sid"`
			Jti string `json:"jti"`
		}
		decodeClaims(t, tok.AccessToken, &claims)
		return claims.Sid, claims.Jti
	}

	// A user's stored login, as the CLI keeps it: each rotation hands over the new pair.
	login, err := client.PasswordLogin(ctx, kw.URL, adminEmail, adminPassword, "")
	if err != nil {
		t.Fatal(err)
	}
	stored, rotations := login.OAuth2(), 0
	user := client.New(kw.URL, client.SessionTokenSource(ctx, client.SessionConfig{Server: kw.URL, Token: stored,
		OnRotate: func(tok *oauth2.Token) { stored, rotations = tok, rotations+1 }}))

	// Busy for 3 s: each access token (2 s) is renewed with the refresh token, in one session.
	firstSid, firstJti := call()
	tokens := map[string]bool{firstJti: true}
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		sid, jti := call()
		if sid != firstSid {
			t.Fatalf("session changed from %s to %s while the refresh token was valid", firstSid, sid)
		}
		tokens[jti] = true
		if _, err := user.Me(ctx); err != nil {
			t.Fatalf("user session: %v", err)
		}
	}
	if len(tokens) < 2 || rotations < 1 {
		t.Fatalf("%d key tokens and %d user rotations in 3 s of 2-second tokens; the sources did not renew", len(tokens), rotations)
	}
	// The next run of the program starts from the stored refresh token alone.
	nextRun := client.New(kw.URL, client.SessionTokenSource(ctx, client.SessionConfig{Server: kw.URL,
		Token: &oauth2.Token{RefreshToken: stored.RefreshToken}}))
	if _, err := nextRun.Me(ctx); err != nil {
		t.Fatalf("continuing from the stored refresh token: %v", err)
	}

	// Idle longer than a refresh token lives (2 s + 2 s): the key's source authenticates with
	// the key again; the user's says to log in again.
	time.Sleep(5 * time.Second)
	if sid, _ := call(); sid == firstSid {
		t.Fatal("the same session after the refresh token expired")
	}
	if _, err := nextRun.Me(ctx); !errors.Is(err, client.ErrLoginRequired) {
		t.Fatalf("user session after its refresh token expired: %v; want ErrLoginRequired", err)
	}
}

func decodeClaims(t testing.TB, jwt string, v any) {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT")
	}
	data, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatal(err)
	}
}

// TestManagementClientMatchesServer decodes the server's real answers into the client's types
// and encodes them again: the JSON must come back unchanged, so no field is lost or renamed.
func TestManagementClientMatchesServer(t *testing.T) {
	kw := startKeyward(t)
	ctx := context.Background()
	p := kw.Default.ID
	key := kw.createKey(t, p, "mirror", []string{"127.0.0.1", "10.0.0.0/8"}, "containers-view", "api-keys-view")
	if err := kw.Admin.DeleteKey(ctx, p, kw.createKey(t, p, "gone", nil, "containers-view").ID); err != nil {
		t.Fatal(err)
	}
	kc := client.New(kw.URL, client.TokenSource(ctx, client.Config{Server: kw.URL, Key: key.Secret}))
	if _, err := kc.Me(ctx); err != nil { // marks the key as used
		t.Fatal(err)
	}
	tok, err := client.TokenSource(ctx, client.Config{Server: kw.URL, Key: key.Secret}).Token()
	if err != nil {
		t.Fatal(err)
	}
	login, err := client.PasswordLogin(ctx, kw.URL, adminEmail, adminPassword, "")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path, token string
		into        any
	}{
		{"/v1/me", tok.AccessToken, &client.Me{}},
		{"/v1/me", login.AccessToken, &client.Me{}},
		{"/v1/permissions", "", &struct {
			Data []client.Permission `json:"data"`
		}{}},
		{"/v1/projects", login.AccessToken, &struct {
			Data []client.Project `json:"data"`
		}{}},
		{"/v1/projects/" + p, login.AccessToken, &client.Project{}},
		{"/v1/projects/" + p + "/members", login.AccessToken, &client.Page[client.Member]{}},
		{"/v1/projects/" + p + "/api-keys", login.AccessToken, &client.Page[client.Key]{}},
		{"/v1/projects/" + p + "/api-keys/" + key.ID, login.AccessToken, &client.Key{}},
		{"/v1/projects/" + p + "/audit", login.AccessToken, &client.AuditPage{}},
		{"/v1/revocations", "", &client.RevocationPage{}},
		{"/v1/projects/nope/api-keys", login.AccessToken, &client.Problem{}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			req, _ := http.NewRequest("GET", kw.URL+tt.path, nil)
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err := json.Unmarshal(raw, tt.into); err != nil {
				t.Fatalf("decode: %v\n%s", err, raw)
			}
			again, _ := json.Marshal(tt.into)
			var want, got any
			_ = json.Unmarshal(raw, &want)
			_ = json.Unmarshal(again, &got)
			if !reflect.DeepEqual(want, got) {
				t.Fatalf("the client's type changes the JSON\nserver %s\nclient %s", raw, again)
			}
		})
	}
	// A typed call's failure is a *Problem with the status.
	_, err = client.New(kw.URL, nil).Keys(ctx, p)
	var prob *client.Problem
	if !errors.As(err, &prob) || prob.Status != http.StatusUnauthorized {
		t.Errorf("keys without a token: %v", err)
	}
}

// TestEditedKey edits a key's permissions down while a program uses it: the API refuses the old
// token within a second, its refresh token is refused, and the program, through client.HTTPClient,
// keeps working with the new rights without noticing.
func TestEditedKey(t *testing.T) {
	kw := startKeyward(t)
	api := startAPI(t, kw.URL)
	ctx := context.Background()
	p := kw.Default.ID
	key := kw.createKey(t, p, "editable", nil, "containers-view", "containers-manage")
	ts := client.TokenSource(ctx, client.Config{Server: kw.URL, Key: key.Secret})
	program := client.HTTPClient(ctx, ts)
	status := func(method, body string) int {
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
	if got := status("POST", `{"name":"before"}`); got != http.StatusCreated {
		t.Fatalf("POST before the edit: %d", got)
	}
	old, err := client.Exchange(ctx, client.Config{Server: kw.URL, Key: key.Secret})
	if err != nil {
		t.Fatal(err)
	}
	post := apiCall{method: "POST", url: containersURL(api, p), token: old.AccessToken, body: `{"name":"old-token"}`}
	if r := post.do(t); r.status != http.StatusCreated {
		t.Fatalf("the old token before the edit: %d %s", r.status, r.body)
	}

	edited, err := kw.Admin.UpdateKey(ctx, p, key.ID, client.UpdateKeyRequest{Permissions: &[]string{"containers-view"}})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(edited.Permissions, []string{"containers-view"}) || edited.Secret != "" {
		t.Fatalf("edited key %+v", edited)
	}
	at := time.Now()
	for {
		r := apiCall{method: "GET", url: containersURL(api, p), token: old.AccessToken}.do(t)
		if r.status == http.StatusUnauthorized && strings.Contains(r.challenge, "revoked") {
			t.Logf("refused %v after the edit", time.Since(at).Round(time.Millisecond))
			break
		}
		if time.Since(at) > time.Second {
			t.Fatalf("the old token still answers %d after %v", r.status, time.Since(at))
		}
		time.Sleep(20 * time.Millisecond)
	}

	// The old session's refresh token is refused as well.
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {old.RefreshToken}}
	req, err := http.NewRequest("POST", kw.URL+"/oauth/token", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(key.ID, key.Secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), `"invalid_grant"`) {
		t.Fatalf("refresh after the edit: %d %s", resp.StatusCode, body)
	}

	// The program carries on with what the key holds now.
	if got := status("GET", ""); got != http.StatusOK {
		t.Fatalf("GET after the edit: %d", got)
	}
	if got := status("POST", `{"name":"after"}`); got != http.StatusForbidden {
		t.Fatalf("POST after the edit: %d, want 403", got)
	}
	tok, err := ts.Token()
	if err != nil {
		t.Fatal(err)
	}
	if scope := tok.Extra("scope"); scope != "containers-view" {
		t.Errorf("the renewed token's scope is %q", scope)
	}

	// A widening applies from the next exchange.
	if _, err := kw.Admin.UpdateKey(ctx, p, key.ID, client.UpdateKeyRequest{Permissions: &[]string{"containers-view", "containers-manage"}}); err != nil {
		t.Fatal(err)
	}
	if r := (apiCall{method: "POST", url: containersURL(api, p), token: kw.token(t, key), body: `{"name":"widened"}`}).do(t); r.status != http.StatusCreated {
		t.Fatalf("a new exchange after the widening: %d %s", r.status, r.body)
	}
}

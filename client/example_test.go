package client_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/keyward/keyward/apikey"
	"github.com/keyward/keyward/client"
)

// A program holding an API key calls the platform's API with access tokens; the key itself goes
// only to keyward's token endpoint.
func ExampleTokenSource() {
	ctx := context.Background()
	server, apiKey, platformAPI := exampleServer() // keyward's issuer URL, a key, and an API protected by it

	ts := client.TokenSource(ctx, client.Config{Server: server, Key: apiKey})
	hc := oauth2.NewClient(ctx, ts) // sends "Authorization: Bearer <access token>", renewed as needed

	resp, err := hc.Get(platformAPI + "/v1/projects/web-shop/containers")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.Status, strings.TrimSpace(string(body)))
	// Output: 200 OK {"data":[{"name":"web-1"}]}
}

// The management client lists a project's keys with the permissions of the key it runs as.
func ExampleClient_Keys() {
	ctx := context.Background()
	server, apiKey, _ := exampleServer()

	kw := client.New(server, client.TokenSource(ctx, client.Config{Server: server, Key: apiKey}))
	keys, err := kw.Keys(ctx, "web-shop")
	if err != nil {
		log.Fatal(err)
	}
	for _, k := range keys {
		fmt.Printf("%s …%s %v\n", k.Name, k.Hint, k.Permissions)
	}
	// Output: deploy-bot …Q2xm [api-keys-view containers-view]
}

// Every error answer of the management API is a *client.Problem with a sentence safe to show.
func ExampleProblem() {
	ctx := context.Background()
	server, apiKey, _ := exampleServer()
	kw := client.New(server, client.TokenSource(ctx, client.Config{Server: server, Key: apiKey}))

	err := kw.DeleteKey(ctx, "web-shop", "0000000000000000")
	var p *client.Problem
	if errors.As(err, &p) {
		fmt.Println(p.Status, p.Detail)
	}
	// Output: 403 This needs the "api-keys-manage" permission in project "web-shop".
}

// A command-line tool logs a user in once, stores the token, and continues the session later,
// storing each rotated refresh token (the previous one is spent).
func ExampleSessionTokenSource() {
	ctx := context.Background()
	server, _, _ := exampleServer()

	login, err := client.PasswordLogin(ctx, server, "ada@example.com", "correct horse battery staple", "")
	if err != nil {
		log.Fatal(err)
	}
	stored := login.OAuth2() // what `keyward login` writes to its config file (mode 0600)

	ts := client.SessionTokenSource(ctx, client.SessionConfig{
		Server: server,
		Token:  stored,
		OnRotate: func(t *oauth2.Token) {
			stored = t // write it back to the config file
		},
	})
	me, err := client.New(server, ts).Me(ctx)
	if errors.Is(err, client.ErrLoginRequired) {
		fmt.Println("Your session has ended; run `keyward login` again.")
		return
	} else if err != nil {
		log.Fatal(err)
	}
	fmt.Println(me.Subject, me.Kind)
	// Output: user:usr_ada user
}

// exampleServer returns the URLs of a stand-in for a keyward server and a platform API, enough
// for the examples, and an API key. Every example shares one, left running until the test binary
// exits.
func exampleServer() (server, key, platformAPI string) {
	exampleOnce.Do(func() { exampleURL, exampleKey = startExampleServer() })
	return exampleURL, exampleKey, exampleURL
}

var (
	exampleOnce            sync.Once
	exampleURL, exampleKey string
)

func startExampleServer() (url, key string) {
	key, _, err := apikey.New(rand.Reader)
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	var srv *httptest.Server
	writeJSON := func(w http.ResponseWriter, status int, v string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, v+"\n")
	}
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, fmt.Sprintf(`{"issuer":%q,"token_endpoint":%q}`, srv.URL, srv.URL+"/oauth/token"))
	})
	mux.HandleFunc("POST /oauth/token", func(w http.ResponseWriter, r *http.Request) {
		_, secret, _ := r.BasicAuth()
		ok := r.FormValue("grant_type") == "client_credentials" && secret == key ||
			r.FormValue("grant_type") == "password" && r.FormValue("password") == "correct horse battery staple"
		if !ok {
			writeJSON(w, 400, `{"error":"invalid_grant"}`)
			return
		}
		writeJSON(w, 200, `{"access_token":"eyJ.example.jwt","token_type":"Bearer","expires_in":7200,"refresh_token":"r1","refresh_expires_in":10800,"scope":""}`)
	})
	authed := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer eyJ.example.jwt" {
				writeJSON(w, 401, `{"type":"about:blank","title":"Unauthorized","status":401,"detail":"No token."}`)
				return
			}
			h(w, r)
		}
	}
	mux.HandleFunc("GET /v1/projects/web-shop/api-keys", authed(func(w http.ResponseWriter, r *http.Request) {
		k := client.Key{Name: "deploy-bot", Hint: "Q2xm", Permissions: []string{"api-keys-view", "containers-view"}, IPs: []string{}, CreatedAt: time.Now()}
		data, _ := json.Marshal(map[string]any{"data": []client.Key{k}})
		writeJSON(w, 200, string(data))
	}))
	mux.HandleFunc("DELETE /v1/projects/web-shop/api-keys/{id}", authed(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(403)
		io.WriteString(w, `{"type":"about:blank","title":"Forbidden","status":403,"detail":"This needs the \"api-keys-manage\" permission in project \"web-shop\"."}`)
	}))
	mux.HandleFunc("GET /v1/me", authed(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, `{"subject":"user:usr_ada","kind":"user","user":{"id":"usr_ada"},"key":null,"session":{"id":"ses_1"},"projects":[]}`)
	}))
	mux.HandleFunc("GET /v1/projects/web-shop/containers", authed(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, `{"data":[{"name":"web-1"}]}`)
	}))
	srv = httptest.NewServer(mux)
	return srv.URL, key
}

package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/keyward/keyward/client"
)

// fedServer is a keyward token endpoint for the federation grants, as the contract specifies
// them: it takes one subject token, once, and answers as RFC 8693 and RFC 7523 say.
type fedServer struct {
	*httptest.Server
	subject string

	mu   sync.Mutex
	used bool
	form url.Values
}

func newFedServer(t *testing.T) *fedServer {
	f := &fedServer{subject: "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJjaSJ9.c2lnbmF0dXJl"}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"issuer":%q,"token_endpoint":%q}`, f.URL, f.URL+"/oauth/token")
	})
	mux.HandleFunc("POST /oauth/token", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if err := r.ParseForm(); err != nil || r.Header.Get("Authorization") != "" {
			t.Errorf("token request: form error %v, authorization %q", err, r.Header.Get("Authorization"))
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		f.form = r.PostForm
		grant := r.PostForm.Get("grant_type")
		subject := r.PostForm.Get("subject_token")
		if grant == client.GrantJWTBearer {
			subject = r.PostForm.Get("assertion")
		} else if r.PostForm.Get("subject_token_type") != client.TokenTypeJWT {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":"invalid_request","error_description":"The subject_token_type parameter is missing."}`)
			return
		}
		switch {
		case subject != f.subject:
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":"invalid_grant","error_description":"The subject token's signature does not verify."}`)
			return
		case f.used:
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":"invalid_grant","error_description":"The subject token was already used."}`)
			return
		}
		f.used = true
		answer := map[string]any{"access_token": "eyJ.federated.access", "token_type": "Bearer", "expires_in": 900, "scope": r.PostForm.Get("scope")}
		if grant == client.GrantTokenExchange {
			answer["issued_token_type"] = client.TokenTypeAccessToken
		}
		_ = json.NewEncoder(w).Encode(answer)
	})
	f.Server = httptest.NewServer(mux)
	t.Cleanup(f.Close)
	return f
}

// fresh lets the subject token be exchanged again, as a new one would be.
func (f *fedServer) fresh() url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.used = false
	return f.form
}

func TestTokenFederated(t *testing.T) {
	f := newFedServer(t)
	c := newCLI(t, f.URL)
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte(f.subject+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	// A Kubernetes projected token, traded by RFC 8693 for a narrowed token of one project.
	r := c.ok("token", "--federated", "file:"+path, "--project", "web-shop", "--scope", "containers-view")
	if r.stdout != "eyJ.federated.access\n" {
		t.Errorf("want the access token alone on standard output: %s", r)
	}
	if form := f.fresh(); form.Get("grant_type") != client.GrantTokenExchange || form.Get("project") != "web-shop" || form.Get("scope") != "containers-view" {
		t.Errorf("sent %v", form)
	}

	// RFC 7523 from a variable, with the whole answer: no refresh token.
	var tok tokenOut
	r = c.run("", []string{"SUBJECT=" + f.subject}, "token", "--federated", "env:SUBJECT", "--grant", "jwt-bearer", "--json")
	decodeJSON(t, r, &tok)
	if tok.AccessToken != "eyJ.federated.access" || tok.RefreshToken != "" || tok.ExpiresIn != 900 || strings.Contains(r.stdout, "refresh") {
		t.Errorf("token --json: %s", r)
	}
	if form := f.fresh(); form.Get("assertion") != f.subject || form.Has("subject_token") {
		t.Errorf("sent %v", form)
	}

	// --server wins over KEYWARD_SERVER.
	c.ok("token", "--federated", "file:"+path, "--server", f.URL+"/")
	f.fresh()

	// The server's refusals are one line with the reason and the code.
	c.ok("token", "--federated", "file:"+path)
	c.oneLine(1, "keyward: The subject token was already used. (invalid_grant)", nil, "token", "--federated", "file:"+path)
	c.oneLine(1, "keyward: The subject token's signature does not verify. (invalid_grant)", []string{"SUBJECT=a.b.c"}, "token", "--federated", "env:SUBJECT")
	c.oneLine(1, "keyward: the subject token from the environment variable SUBJECT is not a JWT (three base64url parts joined by dots)",
		[]string{"SUBJECT=kw_not_a_jwt"}, "token", "--federated", "env:SUBJECT")
	c.oneLine(1, "keyward: the environment variable SUBJECT, which should hold the subject token, is empty or not set", nil,
		"token", "--federated", "env:SUBJECT")
	missing := filepath.Join(t.TempDir(), "nothing")
	c.oneLine(1, "keyward: reading the subject token: stat "+missing+": no such file or directory", nil, "token", "--federated", "file:"+missing)
}

func TestTokenFederatedFromGitHubActions(t *testing.T) {
	f := newFedServer(t)
	var got url.Values
	gh := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.URL.Query()
		if r.Header.Get("Authorization") != "bearer request-token" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		fmt.Fprintf(w, `{"value":%q}`, f.subject)
	}))
	defer gh.Close()
	c := newCLI(t, f.URL)
	env := []string{"ACTIONS_ID_TOKEN_REQUEST_URL=" + gh.URL + "/idtoken?api-version=2.0", "ACTIONS_ID_TOKEN_REQUEST_TOKEN=request-token"}
	if r := c.run("", env, "token", "--federated", "github-actions"); r.code != 0 || r.stdout != "eyJ.federated.access\n" {
		t.Fatalf("token --federated github-actions: %s", r)
	}
	if got.Get("audience") != f.URL || got.Get("api-version") != "2.0" {
		t.Errorf("GitHub was asked for %v; want the server's URL as the audience", got)
	}
	f.fresh()
	if r := c.run("", env, "token", "--federated", "github-actions:api://keyward"); r.code != 0 || got.Get("audience") != "api://keyward" {
		t.Errorf("token --federated github-actions:AUDIENCE asked for %v: %s", got, r)
	}
	c.oneLine(1, "keyward: ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN are not set: this is not a GitHub Actions job, or the workflow lacks `permissions: id-token: write`",
		[]string{"ACTIONS_ID_TOKEN_REQUEST_URL=", "ACTIONS_ID_TOKEN_REQUEST_TOKEN="}, "token", "--federated", "github-actions")
}

func TestTokenFederatedMistakesGetOneLine(t *testing.T) {
	c := newCLI(t, "")
	c.oneLine(2, `keyward: token: --federated "k8s:/var/run/token" is not a source: use file:PATH, env:NAME or github-actions[:AUDIENCE]`, nil,
		"token", "--federated", "k8s:/var/run/token")
	c.oneLine(2, `keyward: token: --federated "/var/run/token" is not a source: use file:PATH, env:NAME or github-actions[:AUDIENCE] (did you mean file:/var/run/token?)`, nil,
		"token", "--federated", "/var/run/token")
	c.oneLine(2, `keyward: token: --federated "github-action" is not a source: use file:PATH, env:NAME or github-actions[:AUDIENCE] (did you mean github-actions?)`, nil,
		"token", "--federated", "github-action")
	c.oneLine(2, `keyward: token: --federated "fiel:token" is not a source: use file:PATH, env:NAME or github-actions[:AUDIENCE] (did you mean file:token?)`, nil,
		"token", "--federated", "fiel:token")
	// A token pasted where its source goes is not repeated.
	c.oneLine(2, `keyward: token: --federated takes where the token is, not the token: use env:NAME with the token in a variable, or file:PATH`, nil,
		"token", "--federated", "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzZWNyZXQifQ.c2ln")
	c.oneLine(2, `keyward: token: --federated file: needs the token file's path, such as file:/var/run/secrets/tokens/keyward`, nil, "token", "--federated", "file:")
	c.oneLine(2, `keyward: token: --federated env: needs the name of the variable holding the token, such as env:KEYWARD_SUBJECT_TOKEN`, nil, "token", "--federated", "env:")
	c.oneLine(2, `keyward: token: --grant "jwt-barer": use token-exchange or jwt-bearer (did you mean jwt-bearer?)`, nil,
		"token", "--federated", "env:X", "--grant", "jwt-barer")
	c.oneLine(2, `keyward: token: --grant "client_credentials": use token-exchange or jwt-bearer`, nil,
		"token", "--federated", "env:X", "--grant", "client_credentials")
	c.oneLine(2, `keyward: token: --project goes with --federated; an API key's token is always of the key's project`, nil, "token", "--project", "web-shop")
	c.oneLine(2, `keyward: token: set KEYWARD_API_KEY to the API key to exchange, or give --federated SOURCE`, nil, "token")
	c.oneLine(2, `keyward token: unknown flag --federate (did you mean --federated?); 'keyward token -h' lists the flags`, nil, "token", "--federate", "env:X")
	c.oneLine(2, `keyward: --server: "ftp://auth.example.com" is not an http or https URL such as https://auth.example.com`, nil,
		"token", "--federated", "env:X", "--server", "ftp://auth.example.com")
}

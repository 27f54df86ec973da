package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/internal/kwtest"
	"github.com/keyward/keyward/internal/proctest"
)

// The instance admin of every keyward the tests start.
const (
	adminEmail    = kwtest.AdminEmail
	adminPassword = kwtest.AdminPassword
)

// Binaries the tests run as processes, built once: keyward from ./cmd/keyward (or the one named
// by KEYWARD_BIN, to test a build made elsewhere) and this example.
var keywardBin, apiBin string

func TestMain(m *testing.M) {
	code := func() int {
		defer proctest.Clean()
		var err error
		if apiBin, err = proctest.Build("./examples/containers-api"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if keywardBin = os.Getenv("KEYWARD_BIN"); keywardBin == "" {
			if keywardBin, err = proctest.Build("./cmd/keyward"); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
		}
		return m.Run()
	}()
	os.Exit(code)
}

// keyward is a running keyward server with an admin session.
type keyward struct {
	URL     string
	Admin   *client.Client
	Default *client.Project // the project created on first start
}

// startKeyward runs `keyward serve` with a fresh SQLite database on a port it binds itself, which
// its default issuer names.
func startKeyward(t testing.TB, args ...string) *keyward {
	t.Helper()
	s := proctest.ServeSpec(keywardBin, append([]string{"--db", "sqlite:" + filepath.Join(t.TempDir(), "keyward.db")}, args...)...)
	s.Env = []string{"KEYWARD_ADMIN_EMAIL=" + adminEmail, "KEYWARD_ADMIN_PASSWORD=" + adminPassword}
	url := "http://" + proctest.Start(t, s).Addr()
	ctx := context.Background()
	login, err := client.PasswordLogin(ctx, url, adminEmail, adminPassword, "")
	if err != nil {
		t.Fatalf("admin login: %v", err)
	}
	admin := client.New(url, client.SessionTokenSource(ctx, client.SessionConfig{Server: url, Token: login.OAuth2()}))
	project, err := admin.Project(ctx, "default")
	if err != nil {
		t.Fatalf("default project: %v", err)
	}
	return &keyward{URL: url, Admin: admin, Default: project}
}

// createKey creates an API key in project and returns it with its secret.
func (k *keyward) createKey(t testing.TB, project, name string, ips []string, perms ...string) *client.Key {
	t.Helper()
	key, err := k.Admin.CreateKey(context.Background(), project, client.CreateKeyRequest{Name: name, IPs: ips, Permissions: perms})
	if err != nil {
		t.Fatalf("create key %s: %v", name, err)
	}
	return key
}

// token exchanges a key for an access token.
func (k *keyward) token(t testing.TB, key *client.Key) string {
	t.Helper()
	resp, err := client.Exchange(context.Background(), client.Config{Server: k.URL, Key: key.Secret})
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	return resp.AccessToken
}

// startAPI runs the example API against issuer and returns its URL.
func startAPI(t testing.TB, issuer string, args ...string) string {
	t.Helper()
	p := proctest.Start(t, proctest.Spec{
		Name: "containers-api", Bin: apiBin, Args: append([]string{"--issuer", issuer}, args...),
		Ready: "containers-api listening", Health: "/healthz",
	})
	return "http://" + p.Addr()
}

// apiCall is one request to the API with a bearer token (none when empty), from the default
// local address or from the given one.
type apiCall struct {
	method, url, token, body string
	from                     string // local address to bind, such as 127.0.0.2
}

type apiResponse struct {
	status    int
	challenge string
	body      string
}

func (c apiCall) do(t testing.TB) apiResponse {
	t.Helper()
	hc := &http.Client{Timeout: 10 * time.Second}
	if c.from != "" {
		dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(c.from)}}
		hc.Transport = &http.Transport{DialContext: dialer.DialContext}
	}
	var body *strings.Reader
	if c.body != "" {
		body = strings.NewReader(c.body)
	} else {
		body = strings.NewReader("")
	}
	req, err := http.NewRequest(c.method, c.url, body)
	if err != nil {
		t.Fatal(err)
	}
	if c.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", c.method, c.url, err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	return apiResponse{status: resp.StatusCode, challenge: resp.Header.Get("WWW-Authenticate"), body: buf.String()}
}

func containersURL(api, project string) string {
	return api + "/v1/projects/" + project + "/containers"
}

// oauthClient is an HTTP client that sends the tokens of ts.
func oauthClient(ts oauth2.TokenSource) *http.Client {
	return oauth2.NewClient(context.Background(), ts)
}

// refusedWithin polls url with each token until the API refuses it as revoked, and logs how long
// that took since event.
func refusedWithin(t testing.TB, url string, since time.Time, event string, tokens map[string]string) {
	t.Helper()
	for what, tok := range tokens {
		for {
			r := apiCall{method: "GET", url: url, token: tok}.do(t)
			if r.status == http.StatusUnauthorized && strings.Contains(r.challenge, "revoked") {
				t.Logf("%s refused %v after %s", what, time.Since(since).Round(time.Millisecond), event)
				break
			}
			// The feed is polled every 500 ms; a few seconds bound a loaded machine.
			if time.Since(since) > 3*time.Second {
				t.Fatalf("%s still answers %d %v after %s", what, r.status, time.Since(since), event)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

package kwtest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/client"
)

// Client speaks keyward's HTTP contract (SPEC §4–§6) to a server at URL: an httptest server, or
// a real process started by a test.
type Client struct {
	URL  string
	HTTP *http.Client
}

// NewClient returns a client of the server at baseURL.
func NewClient(baseURL string) *Client {
	return &Client{URL: strings.TrimSuffix(baseURL, "/"), HTTP: &http.Client{Timeout: 30 * time.Second}}
}

// Response is a response read in full.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// String shows the status and body, for failure messages.
func (r *Response) String() string {
	body := r.Body
	if len(body) > 2000 {
		body = append(body[:2000:2000], "…"...)
	}
	return fmt.Sprintf("HTTP %d %s", r.Status, bytes.TrimSpace(body))
}

// JSON decodes the body into v, failing the test when it is not JSON.
func (r *Response) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("response body is not the expected JSON (%v): %s", err, r)
	}
}

// RequestOption changes a request before it is sent.
type RequestOption func(*http.Request)

// Basic sends HTTP Basic client authentication, form-URL-encoding both parts first as RFC 6749
// §2.3.1 asks (and golang.org/x/oauth2 does).
func Basic(id, secret string) RequestOption {
	return func(r *http.Request) { r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret)) }
}

// RawBasic sends payload, base64-encoded, as HTTP Basic credentials, exactly as given.
func RawBasic(payload string) RequestOption {
	return Header("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(payload)))
}

// Bearer sends an access token.
func Bearer(token string) RequestOption {
	return Header("Authorization", "Bearer "+token)
}

// From makes the request appear to come from ip: the test servers trust X-Forwarded-For from
// loopback, as a server behind a proxy configured with --trusted-proxies would.
func From(ip string) RequestOption {
	return Header("X-Forwarded-For", ip)
}

// Header adds a header value.
func Header(key, value string) RequestOption {
	return func(r *http.Request) { r.Header.Add(key, value) }
}

// Send sends a request and reads the whole response. It never fails the test, so goroutines may
// call it.
func (c *Client) Send(method, path string, body io.Reader, opts ...RequestOption) (*Response, error) {
	req, err := http.NewRequest(method, c.URL+path, body)
	if err != nil {
		return nil, err
	}
	for _, o := range opts {
		o(req)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: data}, nil
}

// Do is Send that fails the test on a transport error.
func (c *Client) Do(t testing.TB, method, path string, body io.Reader, opts ...RequestOption) *Response {
	t.Helper()
	r, err := c.Send(method, path, body, opts...)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

// PostForm posts an application/x-www-form-urlencoded body. The body is a string so that tests
// can send exactly the bytes they mean (repeated or malformed parameters included); use
// url.Values.Encode for ordinary forms.
func (c *Client) PostForm(t testing.TB, path, body string, opts ...RequestOption) *Response {
	t.Helper()
	opts = append([]RequestOption{Header("Content-Type", "application/x-www-form-urlencoded")}, opts...)
	return c.Do(t, http.MethodPost, path, strings.NewReader(body), opts...)
}

// TokenRequest posts form to /oauth/token.
func (c *Client) TokenRequest(t testing.TB, form url.Values, opts ...RequestOption) *Response {
	t.Helper()
	return c.PostForm(t, "/oauth/token", form.Encode(), opts...)
}

// Token is a successful token response, as the server encodes it.
type Token = client.TokenResponse

// RequireToken checks that r is a successful token response and decodes it.
func RequireToken(t testing.TB, r *Response) *Token {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("token request failed: %s", r)
	}
	var tok Token
	r.JSON(t, &tok)
	if tok.AccessToken == "" || tok.RefreshToken == "" {
		t.Fatalf("token response lacks a token: %s", r)
	}
	return &tok
}

// Exchange trades an API key for tokens with HTTP Basic (client_id = the key's id) and fails the
// test unless it succeeds.
func (c *Client) Exchange(t testing.TB, key string, opts ...RequestOption) *Token {
	t.Helper()
	opts = append([]RequestOption{Basic(KeyID(t, key), key)}, opts...)
	return RequireToken(t, c.TokenRequest(t, url.Values{"grant_type": {"client_credentials"}}, opts...))
}

// Refresh presents a refresh token alone.
func (c *Client) Refresh(t testing.TB, refreshToken string, opts ...RequestOption) *Response {
	t.Helper()
	return c.TokenRequest(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}}, opts...)
}

// Login uses the password grant and fails the test unless it succeeds. project, when not empty,
// narrows the token to that project.
func (c *Client) Login(t testing.TB, email, password, project string, opts ...RequestOption) *Token {
	t.Helper()
	form := url.Values{"grant_type": {"password"}, "username": {email}, "password": {password}}
	if project != "" {
		form.Set("project", project)
	}
	return RequireToken(t, c.TokenRequest(t, form, opts...))
}

// Introspect asks /oauth/introspect about token, authenticated as opts say.
func (c *Client) Introspect(t testing.TB, token string, opts ...RequestOption) *Response {
	t.Helper()
	return c.PostForm(t, "/oauth/introspect", url.Values{"token": {token}}.Encode(), opts...)
}

// Revoke posts token to /oauth/revoke (RFC 7009).
func (c *Client) Revoke(t testing.TB, token string, opts ...RequestOption) *Response {
	t.Helper()
	return c.PostForm(t, "/oauth/revoke", url.Values{"token": {token}}.Encode(), opts...)
}

// API calls the management API with a bearer token. body is sent as JSON; a string or []byte is
// sent as it is, and nil sends no body.
func (c *Client) API(t testing.TB, method, path, bearer string, body any, opts ...RequestOption) *Response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		var data []byte
		switch b := body.(type) {
		case string:
			data = []byte(b)
		case []byte:
			data = b
		default:
			var err error
			if data, err = json.Marshal(body); err != nil {
				t.Fatalf("encode request body: %v", err)
			}
		}
		rd = bytes.NewReader(data)
		opts = append([]RequestOption{Header("Content-Type", "application/json")}, opts...)
	}
	if bearer != "" {
		opts = append([]RequestOption{Bearer(bearer)}, opts...)
	}
	return c.Do(t, method, path, rd, opts...)
}

// Project is a project as /v1 shows it.
type Project = client.Project

// CreateProject creates a project as the token's user and fails the test unless it gets 201.
func (c *Client) CreateProject(t testing.TB, bearer, name string) *Project {
	t.Helper()
	r := c.API(t, http.MethodPost, "/v1/projects", bearer, map[string]string{"name": name})
	if r.Status != http.StatusCreated {
		t.Fatalf("create project %q: %s", name, r)
	}
	var p Project
	r.JSON(t, &p)
	if p.ID == "" || p.Name != name {
		t.Fatalf("create project %q answered %s", name, r)
	}
	return &p
}

// User is a user as /v1 shows it.
type User = client.User

// CreateUser creates a user with the admin's token and fails the test unless it gets 201.
func (c *Client) CreateUser(t testing.TB, adminToken, email, password string) *User {
	t.Helper()
	r := c.API(t, http.MethodPost, "/v1/users", adminToken, map[string]any{"email": email, "password": password})
	if r.Status != http.StatusCreated {
		t.Fatalf("create user %q: %s", email, r)
	}
	var u User
	r.JSON(t, &u)
	if u.ID == "" {
		t.Fatalf("create user %q answered %s", email, r)
	}
	return &u
}

// KeyRequest is the body of POST /v1/projects/{project}/api-keys.
type KeyRequest = client.CreateKeyRequest

// Key is an API key as /v1 shows it; Secret is set only in the creation response.
type Key = client.Key

// CreateKeyResponse posts req and returns the raw response.
func (c *Client) CreateKeyResponse(t testing.TB, bearer, project string, req KeyRequest) *Response {
	t.Helper()
	return c.API(t, http.MethodPost, "/v1/projects/"+url.PathEscape(project)+"/api-keys", bearer, req)
}

// CreateKey creates an API key and fails the test unless it gets 201 with the secret.
func (c *Client) CreateKey(t testing.TB, bearer, project string, req KeyRequest) *Key {
	t.Helper()
	r := c.CreateKeyResponse(t, bearer, project, req)
	if r.Status != http.StatusCreated {
		t.Fatalf("create key %q in %q: %s", req.Name, project, r)
	}
	var k Key
	r.JSON(t, &k)
	if k.ID == "" || k.Secret == "" {
		t.Fatalf("create key %q answered %s", req.Name, r)
	}
	return &k
}

// DeleteKey deletes an API key and fails the test unless it gets 204.
func (c *Client) DeleteKey(t testing.TB, bearer, project, id string) {
	t.Helper()
	r := c.API(t, http.MethodDelete, "/v1/projects/"+url.PathEscape(project)+"/api-keys/"+url.PathEscape(id), bearer, nil)
	if r.Status != http.StatusNoContent {
		t.Fatalf("delete key %s in %q: %s", id, project, r)
	}
}

// AuditEvent is one entry of a project's audit log.
type AuditEvent = client.AuditEvent

// Audit returns the newest events of a project's audit log.
func (c *Client) Audit(t testing.TB, bearer, project string) []AuditEvent {
	t.Helper()
	r := c.API(t, http.MethodGet, "/v1/projects/"+url.PathEscape(project)+"/audit", bearer, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("audit of %q: %s", project, r)
	}
	var page client.AuditPage
	r.JSON(t, &page)
	return page.Data
}

// Metadata is the RFC 8414 document.
type Metadata = client.Metadata

// Metadata fetches /.well-known/oauth-authorization-server.
func (c *Client) Metadata(t testing.TB) *Metadata {
	t.Helper()
	r := c.Do(t, http.MethodGet, "/.well-known/oauth-authorization-server", nil)
	if r.Status != http.StatusOK {
		t.Fatalf("metadata: %s", r)
	}
	var m Metadata
	r.JSON(t, &m)
	return &m
}

package testbed

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/keyward/keyward/bench/internal/load"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/internal/token"
)

// Permissions are the bench keys' permissions: what a deployment pipeline's key typically
// holds. They set the size of the scope claim, and so of every token.
var Permissions = []string{"containers-view", "containers-manage", "images-view", "images-manage"}

// Key is one API key created for the run.
type Key struct {
	ID     string
	Secret string
	Basic  string // the Authorization header value, computed once
}

// NewKey is the key id with its secret.
func NewKey(id, secret string) Key { return Key{ID: id, Secret: secret, Basic: BasicAuth(id, secret)} }

// Setup is what the scenarios share.
type Setup struct {
	Keys       []Key
	Template   token.Claims  // the claims of a real keyward token, which the ceiling imitates
	Lifetime   time.Duration // of keyward's access tokens
	TokenBytes int           // length of keyward's access token
	AdminToken string
}

// Prepare logs in as the admin, creates n API keys and takes one real token apart, so that the
// ceiling signs claims of the same shape and size.
func Prepare(ctx context.Context, kw *Keyward, n int, logf func(string, ...any)) (*Setup, error) {
	c := &http.Client{Timeout: 30 * time.Second, Transport: load.NewTransport(4, nil)}
	defer c.CloseIdleConnections()
	s := &Setup{}

	form := url.Values{"grant_type": {"password"}, "username": {kw.Email}, "password": {kw.Password}}
	status, body, err := load.Send(ctx, c, http.MethodPost, kw.Base+"/oauth/token", load.FormContentType, "", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("admin login: %w", err)
	} else if status != http.StatusOK {
		return nil, fmt.Errorf("admin login: HTTP %d: %s (a reused database needs KEYWARD_ADMIN_EMAIL and KEYWARD_ADMIN_PASSWORD of its first start)", status, load.Clip(body))
	}
	var login client.TokenResponse
	if err := json.Unmarshal(body, &login); err != nil || login.AccessToken == "" {
		return nil, fmt.Errorf("admin login: no access_token in %s", load.Clip(body))
	}
	s.AdminToken = login.AccessToken

	runID, err := RandomText(6)
	if err != nil {
		return nil, err
	}
	logf("creating %d API keys", n)
	for i := range n {
		k, err := CreateKey(ctx, c, kw.Base, s.AdminToken, fmt.Sprintf("bench-%s-%03d", runID, i))
		if err != nil {
			return nil, err
		}
		s.Keys = append(s.Keys, k)
	}

	// One real exchange: its token is the model for the ceiling's claims.
	k := s.Keys[0]
	status, body, err = load.Send(ctx, c, http.MethodPost, kw.Base+"/oauth/token", load.FormContentType, k.Basic, strings.NewReader("grant_type=client_credentials"))
	if err != nil {
		return nil, fmt.Errorf("first exchange: %w", err)
	} else if status != http.StatusOK {
		return nil, fmt.Errorf("first exchange: HTTP %d: %s", status, load.Clip(body))
	}
	tr, caller, err := CheckAnswer(body, kw.Tokens, k.ID)
	if err != nil {
		return nil, fmt.Errorf("first exchange: %w", err)
	}
	// The middleware accepted the token for kw.Base, its default audience too.
	s.Template = token.Claims{Issuer: kw.Base, Subject: caller.Subject, Audience: []string{kw.Base}, ClientID: caller.ClientID,
		Scope: caller.Permissions, SessionID: caller.SessionID, Project: caller.Project}
	s.Lifetime, s.TokenBytes = time.Duration(tr.ExpiresIn)*time.Second, len(tr.AccessToken)
	return s, nil
}

// CreateKey makes one API key of the default project with the bench's permissions.
func CreateKey(ctx context.Context, c *http.Client, base, adminToken, name string) (Key, error) {
	req, _ := json.Marshal(map[string]any{"name": name, "permissions": Permissions})
	status, body, err := load.Send(ctx, c, http.MethodPost, base+"/v1/projects/default/api-keys", "application/json", "Bearer "+adminToken, bytes.NewReader(req))
	if err != nil {
		return Key{}, fmt.Errorf("create API key: %w", err)
	} else if status != http.StatusCreated {
		return Key{}, fmt.Errorf("create API key: HTTP %d, want 201: %s", status, load.Clip(body))
	}
	var k struct {
		ID  string `json:"id"`
		Key string `json:"key"`
	}
	if err := json.Unmarshal(body, &k); err != nil || k.ID == "" || !strings.HasPrefix(k.Key, "kw_") {
		return Key{}, errors.New("create API key: no id and kw_ key in the answer")
	}
	return NewKey(k.ID, k.Key), nil
}

// LoginRequest builds the admin's password grant.
func LoginRequest(ctx context.Context, kw *Keyward) (*http.Request, error) {
	form := url.Values{"grant_type": {"password"}, "username": {kw.Email}, "password": {kw.Password}}
	return load.PostForm(ctx, kw.Base+"/oauth/token", "", form.Encode())
}

// BasicAuth is the RFC 6749 §2.3.1 header: both parts form-encoded, then base64. Key ids and keys
// are base62, so the encoding changes nothing, but the bench follows the rule anyway.
func BasicAuth(id, secret string) string {
	raw := url.QueryEscape(id) + ":" + url.QueryEscape(secret)
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(raw))
}

// RandomText returns n random base62 characters.
func RandomText(n int) (string, error) {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	out := make([]byte, 0, n)
	var b [1]byte
	for len(out) < n {
		if _, err := rand.Read(b[:]); err != nil {
			return "", err
		}
		if b[0] < 248 { // 248 = 4*62: rejecting the rest keeps every character equally likely
			out = append(out, alphabet[b[0]%62])
		}
	}
	return string(out), nil
}

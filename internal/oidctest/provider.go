// Package oidctest gives federation tests real upstream issuers: panva's oidc-provider under
// Node, a second keyward, a small issuer written here, and the hostile subject tokens an attacker
// would present.
package oidctest

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/nodetest"
)

// Provider is panva's oidc-provider, a certified OpenID provider nobody at keyward wrote, running
// under Node on a free 127.0.0.1 port. Its tokens are JWT access tokens it issues itself through
// the client_credentials grant, signed with RSAKey (RS256) or ECKey (ES256), served at its real
// discovery document and JWKS. The test holds the keys only to forge tokens from genuine ones.
type Provider struct {
	Issuer       string // http://127.0.0.1:PORT, the iss of its tokens and of its discovery document
	ClientID     string
	ClientSecret string
	RSAKey       *Key // kid "rsa-1"; signs RS256 tokens, the default
	ECKey        *Key // kid "ec-1"; signs ES256 tokens

	http *http.Client
}

// providerDir is the folder of server.mjs and its node_modules, found from this file so that
// tests in any package can start the provider.
func providerDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "provider")
}

// Start runs a provider for the test and stops it at the end. Without Node or the modules the test
// is skipped, except in CI (CI=true), where it must run.
func Start(t testing.TB) *Provider {
	t.Helper()
	nodetest.Require(t, providerDir(), "oidc-provider", "the federation tests against a real OpenID provider")
	p := &Provider{
		ClientID:     "keyward-tests",
		ClientSecret: rand.Text(),
		RSAKey:       NewKey(t, "RS256", "rsa-1"),
		ECKey:        NewKey(t, "ES256", "ec-1"),
		http:         &http.Client{Timeout: 10 * time.Second},
	}
	config, err := json.Marshal(map[string]any{
		"jwks":          map[string]any{"keys": []json.RawMessage{p.RSAKey.privateJWK(t), p.ECKey.privateJWK(t)}},
		"client_id":     p.ClientID,
		"client_secret": p.ClientSecret,
	})
	if err != nil {
		t.Fatal(err)
	}
	p.Issuer = nodetest.Serve(t, providerDir(), "server.mjs", "OpenID provider", "OIDCTEST_CONFIG="+string(config)).Addr
	return p
}

// TokenRequest says what token to ask the provider for.
type TokenRequest struct {
	Audience string         // the aud claim; required
	Claims   map[string]any // added to the token, sub included; iss, aud, exp, iat, nbf, jti are the provider's
	TTL      time.Duration  // lifetime, whole seconds; 10 minutes when zero
	Alg      string         // RS256 (the default) or ES256
	Typ      string         // the header's typ; the provider's own "at+jwt" when empty (GitHub and GitLab send "JWT")
}

// Token asks the provider over HTTP for a token for audience carrying claims (sub among them,
// when given) and fails the test unless it gets one.
func (p *Provider) Token(t testing.TB, audience string, claims map[string]any) string {
	t.Helper()
	return p.Issue(t, TokenRequest{Audience: audience, Claims: claims})
}

// Issue asks the provider over HTTP for the token req describes and fails the test unless it gets
// one. Every token has a jti of its own.
func (p *Provider) Issue(t testing.TB, req TokenRequest) string {
	t.Helper()
	token, err := p.issue(req)
	if err != nil {
		t.Fatalf("oidctest: %v", err)
	}
	return token
}

func (p *Provider) issue(req TokenRequest) (string, error) {
	if req.Audience == "" {
		return "", errors.New("a token request needs an audience")
	}
	form := url.Values{
		"grant_type": {"client_credentials"},
		// The resource indicator is what makes oidc-provider issue a JWT; audience sets its aud,
		// which may then be any string, as a Kubernetes audience is.
		"resource": {"urn:keyward:oidctest"},
		"audience": {req.Audience},
	}
	if req.Claims != nil {
		for name := range req.Claims {
			switch name {
			case "iss", "aud", "exp", "iat", "nbf", "jti", "client_id", "scope":
				return "", fmt.Errorf("claim %s is the provider's to set; forge it with Provider.Resign", name)
			}
		}
		data, err := json.Marshal(req.Claims)
		if err != nil {
			return "", err
		}
		form.Set("claims", string(data))
	}
	if req.TTL != 0 {
		form.Set("ttl", strconv.Itoa(int(req.TTL/time.Second)))
	}
	if req.Alg != "" {
		form.Set("alg", req.Alg)
	}
	if req.Typ != "" {
		form.Set("typ", req.Typ)
	}
	hr, err := http.NewRequest(http.MethodPost, p.Issuer+"/token", strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	hr.SetBasicAuth(p.ClientID, p.ClientSecret)
	resp, err := p.http.Do(hr)
	if err != nil {
		return "", fmt.Errorf("token request to the OpenID provider: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &tok) != nil || tok.AccessToken == "" {
		return "", fmt.Errorf("the OpenID provider gave no token: HTTP %d %s", resp.StatusCode, body)
	}
	return tok.AccessToken, nil
}

// Key is the provider's key that signed token, found by the kid of its header.
func (p *Provider) Key(t testing.TB, token string) *Key {
	t.Helper()
	header, _ := decode(t, token)
	for _, k := range []*Key{p.RSAKey, p.ECKey} {
		if header["kid"] == k.KID {
			return k
		}
	}
	t.Fatalf("oidctest: the provider has no key %v", header["kid"])
	return nil
}

// Resign returns token with its header and claims changed by edit and signed again with the
// provider's own key: a token the provider could have issued, but for the change.
func (p *Provider) Resign(t testing.TB, token string, edit func(header, claims map[string]any)) string {
	t.Helper()
	return Resign(t, token, p.Key(t, token), edit)
}

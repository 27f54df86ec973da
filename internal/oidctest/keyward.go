package oidctest

import (
	"testing"

	"github.com/keyward/keyward/internal/kwtest"
	"github.com/keyward/keyward/internal/server"
)

// Keyward is a second keyward acting as an upstream issuer: its access tokens are JWTs whose iss
// is its own URL, discoverable at {Issuer}/.well-known/oauth-authorization-server, whose
// jwks_uri serves its signing keys. Its clock is its own fake clock.
type Keyward struct {
	*kwtest.Server
	Issuer string // its URL, the iss of its tokens
	Key    string // an API key of its project "default" (permission api-keys-view), traded by Token
}

// StartKeyward starts a second keyward whose access tokens carry audience as aud (its own URL
// when audience is empty), and an API key to obtain them with.
func StartKeyward(t testing.TB, audience string, opts ...kwtest.Option) *Keyward {
	t.Helper()
	if audience != "" {
		opts = append(opts, kwtest.WithConfig(func(c *server.Config) { c.Audience = audience }))
	}
	s := kwtest.Start(t, opts...)
	k := s.CreateKey(t, s.AdminToken(t), "default", kwtest.KeyRequest{Name: "workload", Permissions: []string{"api-keys-view"}})
	return &Keyward{Server: s, Issuer: s.Config.Issuer, Key: k.Secret}
}

// Token trades the key for an access token (the client_credentials grant) and returns it: a
// subject token whose sub is "key:<key id>" and which names the project (claim "project").
func (k *Keyward) Token(t testing.TB) string {
	t.Helper()
	return k.Exchange(t, k.Key).AccessToken
}

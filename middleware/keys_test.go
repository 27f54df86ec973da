package middleware

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// TestUsableKeys: only public signing keys with a kid, an allowed algorithm and a type that fits
// it may verify tokens, whatever else a JWKS publishes.
func TestUsableKeys(t *testing.T) {
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	rsa1024, _ := rsa.GenerateKey(rand.Reader, 1024)
	rsa2048, _ := rsa.GenerateKey(rand.Reader, 2048)
	s := &keySet{algs: []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA, jose.RS256}}
	tests := []struct {
		name    string
		key     jose.JSONWebKey
		wantAlg string // "" means unusable
	}{
		{"ES256", jose.JSONWebKey{Key: &p256.PublicKey, KeyID: "a", Algorithm: "ES256", Use: "sig"}, "ES256"},
		{"ES256 without alg", jose.JSONWebKey{Key: &p256.PublicKey, KeyID: "a"}, "ES256"},
		{"EdDSA", jose.JSONWebKey{Key: edPub, KeyID: "a", Algorithm: "EdDSA"}, "EdDSA"},
		{"RS256", jose.JSONWebKey{Key: &rsa2048.PublicKey, KeyID: "a", Algorithm: "RS256"}, "RS256"},
		{"no kid", jose.JSONWebKey{Key: &p256.PublicKey, Algorithm: "ES256"}, ""},
		{"private key", jose.JSONWebKey{Key: p256, KeyID: "a", Algorithm: "ES256"}, ""},
		{"private Ed25519 key", jose.JSONWebKey{Key: edPriv, KeyID: "a", Algorithm: "EdDSA"}, ""},
		{"symmetric key", jose.JSONWebKey{Key: []byte("0123456789abcdef0123456789abcdef"), KeyID: "a", Algorithm: "HS256"}, ""},
		{"encryption key", jose.JSONWebKey{Key: &p256.PublicKey, KeyID: "a", Algorithm: "ES256", Use: "enc"}, ""},
		{"algorithm not allowed", jose.JSONWebKey{Key: &p384.PublicKey, KeyID: "a", Algorithm: "ES384"}, ""},
		{"P-384 key claiming ES256", jose.JSONWebKey{Key: &p384.PublicKey, KeyID: "a", Algorithm: "ES256"}, ""},
		{"EC key claiming RS256", jose.JSONWebKey{Key: &p256.PublicKey, KeyID: "a", Algorithm: "RS256"}, ""},
		{"short RSA key", jose.JSONWebKey{Key: &rsa1024.PublicKey, KeyID: "a", Algorithm: "RS256"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vk, ok := s.usable(tt.key)
			if ok != (tt.wantAlg != "") || vk.alg != tt.wantAlg {
				t.Fatalf("usable = %q, %v; want %q", vk.alg, ok, tt.wantAlg)
			}
		})
	}
}

func TestJWKSRefreshSchedule(t *testing.T) {
	is, clock := newTestIssuer(t), newTestClock()
	// Without the feed: the clock jumps by minutes here, which a feed not yet connected would
	// count as staleness and refuse every token for.
	v := newVerifier(t, is, clock, func(c *Config) { c.SkipRevocationFeed = true })
	if got := v.keys.nextRefresh(); got != 10*time.Minute {
		t.Fatalf("next refresh in %v; want the JWKS max-age (600 s)", got)
	}
	clock.Advance(10*time.Minute - 2*time.Second)
	if got := v.keys.nextRefresh(); got != 2*time.Second {
		t.Fatalf("next refresh in %v", got)
	}
	is.mu.Lock()
	is.jwksMaxAge = 120
	is.mu.Unlock()
	if err := v.keys.fetch(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := v.keys.nextRefresh(); got != 2*time.Minute {
		t.Fatalf("next refresh in %v after a fetch with max-age=120", got)
	}
	is.mu.Lock()
	is.jwksDown = true // keep the keys known, and retry soon
	is.mu.Unlock()
	if err := v.keys.fetch(t.Context()); err == nil {
		t.Fatal("fetch from a closed server succeeded")
	}
	if got := v.keys.nextRefresh(); got != retryKeysAfter {
		t.Fatalf("next refresh in %v after a failure; want %v", got, retryKeysAfter)
	}
	if _, err := v.Verify(is.mint(is.claims(clock.Now()), nil)); err != nil {
		t.Fatalf("the keys known before the failure were dropped: %v", err)
	}
}

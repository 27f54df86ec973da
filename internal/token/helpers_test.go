package token

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/fakeclock"
	"github.com/keyward/keyward/internal/keyring"
)

func newClock() *fakeclock.Clock { return fakeclock.New(time.Date(2030, 3, 1, 12, 0, 0, 0, time.UTC)) }

const (
	issuer   = "https://auth.example.com"
	audience = "https://api.example.com"
)

// fixture is a keyring with a minter and a verifier sharing one fake clock.
type fixture struct {
	clk  *fakeclock.Clock
	keys *keyring.Keyring
	m    *Minter
	v    *Verifier
}

func newFixture(t testing.TB, alg string) *fixture {
	t.Helper()
	clk := newClock()
	keys, err := keyring.New(context.Background(), keyring.NewMemoryStore(keyward.SigningKeySet{}), keyring.Config{Alg: alg, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{
		clk:  clk,
		keys: keys,
		m:    &Minter{Keys: keys, Now: clk.Now},
		v:    &Verifier{Keys: keys, Issuer: issuer, Audience: audience, Leeway: time.Minute, Now: clk.Now},
	}
}

func (f *fixture) claims() *Claims {
	now := f.clk.Now()
	return &Claims{
		Issuer:    issuer,
		Subject:   "key:AbCdEfGhIjKlMnOp",
		Audience:  []string{audience},
		Expiry:    now.Add(2 * time.Hour),
		ClientID:  "AbCdEfGhIjKlMnOp",
		Scope:     []string{"containers-view", "images-view"},
		SessionID: "ses_0123456789abcdef",
		Project:   "prj_0123456789abcdef",
		IPs:       []string{"10.0.0.0/8", "2001:db8::/32"},
	}
}

func (f *fixture) mint(t testing.TB, c *Claims) string {
	t.Helper()
	tok, err := f.m.Mint(c)
	if err != nil {
		t.Fatalf("Mint: %v", err)
	}
	return tok
}

func (f *fixture) current(t testing.TB) *keyring.Key {
	t.Helper()
	k, err := f.keys.Current()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// payload returns the claims of a valid token as a map that forgeries can change.
func (f *fixture) payload() map[string]any {
	now := f.clk.Now().Unix()
	return map[string]any{
		"iss": issuer, "sub": "user:usr_0123456789abcdef", "aud": audience,
		"exp": now + 3600, "iat": now, "jti": "0123456789abcdefghijkl",
		"client_id": "cli", "scope": "containers-view",
	}
}

// craft builds a compact JWS from any header and payload, signed with alg by key, independently
// of the code under test. alg "none" leaves the signature empty; HS256 takes a []byte key.
func craft(t testing.TB, header, payload map[string]any, alg string, key any) string {
	t.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	p, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	input := b64.EncodeToString(h) + "." + b64.EncodeToString(p)
	return input + "." + b64.EncodeToString(rawSign(t, alg, key, []byte(input)))
}

func rawSign(t testing.TB, alg string, key any, input []byte) []byte {
	t.Helper()
	d := sha256.Sum256(input)
	switch alg {
	case "none":
		return nil
	case "HS256":
		mac := hmac.New(sha256.New, key.([]byte))
		mac.Write(input)
		return mac.Sum(nil)
	case "ES256":
		r, s, err := ecdsa.Sign(rand.Reader, key.(*ecdsa.PrivateKey), d[:])
		if err != nil {
			t.Fatal(err)
		}
		out := make([]byte, 64)
		r.FillBytes(out[:32])
		s.FillBytes(out[32:])
		return out
	case "EdDSA":
		return ed25519.Sign(key.(ed25519.PrivateKey), input)
	case "RS256":
		sig, err := rsa.SignPKCS1v15(nil, key.(*rsa.PrivateKey), crypto.SHA256, d[:])
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}
	t.Fatalf("unknown alg %s", alg)
	return nil
}

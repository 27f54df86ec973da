package kwtest

import (
	"strings"
	"testing"

	"github.com/keyward/keyward/apikey"
)

// WrongSecret must forge what an attacker would: the victim's key id, a different secret, and a
// checksum good enough to get past the format check to the hash comparison.
func TestWrongSecret(t *testing.T) {
	key := UnknownKey(t)
	forged := WrongSecret(t, key)
	id, err := apikey.Parse(forged)
	if err != nil {
		t.Fatalf("forged key does not parse: %v", err)
	}
	if id != KeyID(t, key) {
		t.Errorf("forged id %s, want %s", id, KeyID(t, key))
	}
	if forged == key || strings.HasPrefix(forged, key[:len(key)-apikey.ChecksumLength]) {
		t.Errorf("forged key has the same secret")
	}
}

func TestDecodeJWT(t *testing.T) {
	h, c := DecodeJWT(t, "eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCJ9.eyJzdWIiOiJrZXk6YWJjIn0.sig")
	if h["typ"] != "at+jwt" || c["sub"] != "key:abc" {
		t.Errorf("header %v claims %v", h, c)
	}
}

// The same kit serves the PostgreSQL backend: the admin signs in and the instance answers.
func TestStartOnPostgres(t *testing.T) {
	s := Start(t, OnPostgres(t))
	if s.AdminToken(t) == "" {
		t.Fatal("no admin token")
	}
	if r := s.API(t, "GET", "/v1/me", s.AdminToken(t), nil); r.Status != 200 {
		t.Fatalf("GET /v1/me on PostgreSQL: %s", r)
	}
}

package kwtest

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"hash/crc32"
	"strings"
	"testing"

	"github.com/keyward/keyward/apikey"
)

// KeyID reads the key id off an API key.
func KeyID(t testing.TB, key string) string {
	t.Helper()
	id, err := apikey.Parse(key)
	if err != nil {
		t.Fatalf("not an API key: %v", err)
	}
	return id
}

// UnknownKey returns a well-formed key (valid checksum) that no server issued.
func UnknownKey(t testing.TB) string {
	t.Helper()
	key, _, err := apikey.New(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// WrongSecret returns a key with the same id as key but another secret and a correct checksum:
// what an attacker who knows a key id (it is shown in lists) would guess with.
func WrongSecret(t testing.TB, key string) string {
	t.Helper()
	id := KeyID(t, key)
	other := UnknownKey(t)
	secret := other[len(apikey.Prefix)+apikey.IDLength : len(apikey.Prefix)+apikey.IDLength+apikey.SecretLength]
	body := apikey.Prefix + id + secret
	n := crc32.ChecksumIEEE([]byte(body))
	sum := make([]byte, apikey.ChecksumLength)
	for i := apikey.ChecksumLength - 1; i >= 0; i-- {
		sum[i] = base62[n%62]
		n /= 62
	}
	forged := body + string(sum)
	if _, err := apikey.Parse(forged); err != nil {
		t.Fatalf("forged key does not parse: %v", err)
	}
	return forged
}

// DecodeJWT returns the header and claims of a compact JWS without verifying it, for tests that
// inspect what a token says.
func DecodeJWT(t testing.TB, raw string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %d parts", len(parts))
	}
	dec := func(s string, v any) {
		data, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatalf("JWS part is not base64url: %v", err)
		}
		if err := json.Unmarshal(data, v); err != nil {
			t.Fatalf("JWS part is not JSON: %v", err)
		}
	}
	dec(parts[0], &header)
	dec(parts[1], &claims)
	return header, claims
}

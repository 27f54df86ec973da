package oidctest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

// Key is a signing key a test holds, with the kid and alg its JWKS entry names.
type Key struct {
	KID     string
	Alg     string // RS256 or ES256
	Private crypto.Signer
}

// NewKey generates a key for alg (RS256: RSA 2048, ES256: P-256) named kid.
func NewKey(t testing.TB, alg, kid string) *Key {
	t.Helper()
	var (
		priv crypto.Signer
		err  error
	)
	switch alg {
	case "RS256":
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ES256":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		t.Fatalf("oidctest: no key for alg %q", alg)
	}
	if err != nil {
		t.Fatal(err)
	}
	return &Key{KID: kid, Alg: alg, Private: priv}
}

// Public is the key's public half.
func (k *Key) Public() crypto.PublicKey { return k.Private.Public() }

// JWK is the key's public JWKS entry.
func (k *Key) JWK() jose.JSONWebKey {
	return jose.JSONWebKey{Key: k.Public(), KeyID: k.KID, Algorithm: k.Alg, Use: "sig"}
}

// privateJWK is the key with its private parameters, for the Node provider that signs with it.
func (k *Key) privateJWK(t testing.TB) json.RawMessage {
	t.Helper()
	data, err := json.Marshal(jose.JSONWebKey{Key: k.Private, KeyID: k.KID, Algorithm: k.Alg, Use: "sig"})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// JWKS is a JSON Web Key Set of the keys' public halves, as an issuer serves it.
func JWKS(keys ...*Key) jose.JSONWebKeySet {
	set := jose.JSONWebKeySet{}
	for _, k := range keys {
		set.Keys = append(set.Keys, k.JWK())
	}
	return set
}

// Sign returns the compact JWS of claims under header, signed by k with k.Alg. The header gets
// alg and kid from k unless it sets them itself: a test may name one kid and sign with another
// key, or claim one alg and sign with this key's.
func (k *Key) Sign(t testing.TB, header, claims map[string]any) string {
	t.Helper()
	h := map[string]any{"alg": k.Alg, "kid": k.KID, "typ": "JWT"}
	for name, v := range header {
		h[name] = v
	}
	input := encodeSegment(t, h) + "." + encodeSegment(t, claims)
	digest := sha256.Sum256([]byte(input))
	var sig []byte
	switch priv := k.Private.(type) {
	case *rsa.PrivateKey:
		s, err := rsa.SignPKCS1v15(rand.Reader, priv, crypto.SHA256, digest[:])
		if err != nil {
			t.Fatal(err)
		}
		sig = s
	case *ecdsa.PrivateKey:
		r, s, err := ecdsa.Sign(rand.Reader, priv, digest[:])
		if err != nil {
			t.Fatal(err)
		}
		// JWS wants the two integers as fixed 32-byte halves, not ASN.1 (RFC 7518 §3.4).
		sig = append(fixed32(r), fixed32(s)...)
	default:
		t.Fatalf("oidctest: cannot sign with %T", priv)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func fixed32(n *big.Int) []byte {
	b := make([]byte, 32)
	return n.FillBytes(b)
}

// encodeSegment is one base64url JSON segment of a compact JWS.
func encodeSegment(t testing.TB, v any) string {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(data)
}

// decode splits a compact JWS into its header and claims without verifying it. Numbers stay
// json.Number, so that a re-signed token carries exactly the values of the original.
func decode(t testing.TB, token string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("oidctest: not a compact JWS (%d parts)", len(parts))
	}
	seg := func(s string) map[string]any {
		data, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatalf("oidctest: JWS segment is not base64url: %v", err)
		}
		dec := json.NewDecoder(strings.NewReader(string(data)))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("oidctest: JWS segment is not a JSON object: %v", err)
		}
		return m
	}
	return seg(parts[0]), seg(parts[1])
}

// hs256 is the HMAC-SHA256 JWS of claims under header with secret as the key.
func hs256(t testing.TB, header, claims map[string]any, secret []byte) string {
	t.Helper()
	input := encodeSegment(t, header) + "." + encodeSegment(t, claims)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(input))
	return input + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

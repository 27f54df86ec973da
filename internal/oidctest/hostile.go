package oidctest

import (
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// The hostile subject tokens of issue 14, each made from a genuine token so that exactly one
// thing is wrong with it. now is the verifier's time (a kwtest server's Clock.Now()), since the
// server under test may not live on the wall clock. A wrong audience, a missing claim, a replayed
// jti and an untrusted issuer need no forging: ask the provider for such a token, or send one
// twice.

// Resign returns token with its header and claims changed by edit and signed by key.
func Resign(t testing.TB, token string, key *Key, edit func(header, claims map[string]any)) string {
	t.Helper()
	header, claims := decode(t, token)
	if edit != nil {
		edit(header, claims)
	}
	return key.Sign(t, header, claims)
}

// Expired is token, signed again by key, that expired an hour before now and was issued two
// hours before.
func Expired(t testing.TB, token string, key *Key, now time.Time) string {
	t.Helper()
	return Resign(t, token, key, func(_, c map[string]any) {
		c["iat"] = now.Add(-2 * time.Hour).Unix()
		c["exp"] = now.Add(-time.Hour).Unix()
	})
}

// NotYetValid is token, signed again by key, whose nbf is an hour after now (iat is now, exp two
// hours after).
func NotYetValid(t testing.TB, token string, key *Key, now time.Time) string {
	t.Helper()
	return Resign(t, token, key, func(_, c map[string]any) {
		c["iat"] = now.Unix()
		c["nbf"] = now.Add(time.Hour).Unix()
		c["exp"] = now.Add(2 * time.Hour).Unix()
	})
}

// IssuedInFuture is token, signed again by key, whose iat is an hour after now (exp two hours
// after, no nbf): a token from an issuer whose clock is wrong, or one minted ahead to outlive a
// compromise.
func IssuedInFuture(t testing.TB, token string, key *Key, now time.Time) string {
	t.Helper()
	return Resign(t, token, key, func(_, c map[string]any) {
		delete(c, "nbf")
		c["iat"] = now.Add(time.Hour).Unix()
		c["exp"] = now.Add(2 * time.Hour).Unix()
	})
}

// WithClaims is token, signed again by key, with the given claims set (a nil value removes the
// claim): a wrong aud, another iss, or a condition's claim changed, under a valid signature.
func WithClaims(t testing.TB, token string, key *Key, set map[string]any) string {
	t.Helper()
	return Resign(t, token, key, func(_, c map[string]any) {
		for name, v := range set {
			if v == nil {
				delete(c, name)
			} else {
				c[name] = v
			}
		}
	})
}

// AlgNone is token with the header alg "none" and no signature (RFC 7519 §6, the unsecured JWT).
func AlgNone(t testing.TB, token string) string {
	t.Helper()
	header, claims := decode(t, token)
	header["alg"] = "none"
	return encodeSegment(t, header) + "." + encodeSegment(t, claims) + "."
}

// HS256 is token with the header alg "HS256" (kid kept) and an HMAC-SHA256 signature keyed with
// secret.
func HS256(t testing.TB, token string, secret []byte) string {
	t.Helper()
	header, claims := decode(t, token)
	header["alg"] = "HS256"
	return hs256(t, header, claims, secret)
}

// PublicKeyForms returns the encodings of pub that a verifier confused about algorithms might
// take as an HMAC secret, by name: "PKIX PEM", "PKIX DER", "JWK" and, for an RSA key,
// "PKCS1 PEM" and "PKCS1 DER". Anyone can fetch them from the issuer's JWKS.
func PublicKeyForms(t testing.TB, pub crypto.PublicKey) map[string][]byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	forms := map[string][]byte{
		"PKIX DER": der,
		"PKIX PEM": pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}),
	}
	if r, ok := pub.(*rsa.PublicKey); ok {
		der := x509.MarshalPKCS1PublicKey(r)
		forms["PKCS1 DER"] = der
		forms["PKCS1 PEM"] = pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: der})
	}
	jwk, err := json.Marshal(jose.JSONWebKey{Key: pub})
	if err != nil {
		t.Fatal(err)
	}
	forms["JWK"] = jwk
	return forms
}

// KeyConfusion returns token signed with HS256 keyed with each of PublicKeyForms(pub), by form:
// the algorithm-confusion attack, which a verifier that lets the token pick its algorithm
// accepts.
func KeyConfusion(t testing.TB, token string, pub crypto.PublicKey) map[string]string {
	t.Helper()
	out := map[string]string{}
	for name, secret := range PublicKeyForms(t, pub) {
		out[name] = HS256(t, token, secret)
	}
	return out
}

// SignedByOther is token signed by other, a key of another issuer, with other's kid in the header
// and the claims (iss included) unchanged: a verifier that looks keys up by kid across issuers
// accepts it.
func SignedByOther(t testing.TB, token string, other *Key) string {
	t.Helper()
	return Resign(t, token, other, func(h, _ map[string]any) {
		h["alg"], h["kid"] = other.Alg, other.KID
	})
}

// Tamper is token with a claim changed and the original signature kept.
func Tamper(t testing.TB, token, claim string, value any) string {
	t.Helper()
	_, claims := decode(t, token)
	claims[claim] = value
	parts := strings.Split(token, ".")
	return parts[0] + "." + encodeSegment(t, claims) + "." + parts[2]
}

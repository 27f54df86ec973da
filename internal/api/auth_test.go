package api

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestAuthorizationHeader(t *testing.T) {
	e := newEnv(t)
	u := e.user("ada@example.com", false)
	tok := e.userToken(u, "")
	_, secret := e.apiKey(e.project("shop", u, nil), "ci", "containers-view")

	tests := []struct {
		name   string
		header []string
		status int
		detail string // a fragment of the problem detail
	}{
		{"valid", []string{"Bearer " + tok}, http.StatusOK, ""},
		{"scheme is case-insensitive", []string{"bEaReR " + tok}, http.StatusOK, ""},
		{"missing", nil, http.StatusUnauthorized, "Authorization: Bearer"},
		{"empty", []string{""}, http.StatusUnauthorized, "Bearer"},
		{"two headers", []string{"Bearer " + tok, "Bearer " + tok}, http.StatusUnauthorized, "exactly one"},
		{"basic scheme", []string{"Basic " + base64.StdEncoding.EncodeToString([]byte("a:b"))}, http.StatusUnauthorized, "Bearer"},
		{"no token", []string{"Bearer"}, http.StatusUnauthorized, "invalid"},
		{"garbage", []string{"Bearer not a token"}, http.StatusUnauthorized, "invalid"},
		{"raw API key", []string{"Bearer " + secret}, http.StatusUnauthorized, "/oauth/token"},
		{"trailing junk", []string{"Bearer " + tok + " x"}, http.StatusUnauthorized, "invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := e.do(req{method: "GET", path: "/v1/me", header: http.Header{"Authorization": tt.header}})
			resp.expect(t, tt.status)
			if tt.status == http.StatusOK {
				return
			}
			p := resp.problem(t)
			if !strings.Contains(p.Detail, tt.detail) {
				t.Errorf("detail %q does not mention %q", p.Detail, tt.detail)
			}
			if !strings.HasPrefix(resp.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate = %q", resp.header.Get("WWW-Authenticate"))
			}
		})
	}
}

// jws assembles a compact JWS from a header, claims, and a signing function over the input.
func jws(t *testing.T, header, claims map[string]any, sign func(input []byte) []byte) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	input := enc(header) + "." + enc(claims)
	return input + "." + base64.RawURLEncoding.EncodeToString(sign([]byte(input)))
}

func es256(t *testing.T, key *ecdsa.PrivateKey) func([]byte) []byte {
	return func(input []byte) []byte {
		digest := sha256.Sum256(input)
		r, s, err := ecdsa.Sign(rand.Reader, key, digest[:])
		if err != nil {
			t.Fatal(err)
		}
		out := make([]byte, 64)
		r.FillBytes(out[:32])
		s.FillBytes(out[32:])
		return out
	}
}

func jwk(pub *ecdsa.PublicKey, kid string) map[string]any {
	// Bytes is the uncompressed point: 0x04, then x and y of 32 bytes each.
	raw, err := pub.Bytes()
	if err != nil {
		panic(err)
	}
	b := base64.RawURLEncoding.EncodeToString
	return map[string]any{"kty": "EC", "crv": "P-256", "x": b(raw[1:33]), "y": b(raw[33:]), "kid": kid, "alg": "ES256", "use": "sig"}
}

// TestForgedTokens: every classic JWT forgery is a 401 problem, never a 5xx, never a success.
func TestForgedTokens(t *testing.T) {
	e := newEnv(t)
	u := e.user("ada@example.com", true)
	good := e.userToken(u, "")
	parts := strings.Split(good, ".")
	var header, claims map[string]any
	for i, v := range []*map[string]any{&header, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatal(err)
		}
	}
	current, err := e.keys.Current()
	if err != nil {
		t.Fatal(err)
	}
	kid := current.ID
	pubDER, err := x509.MarshalPKIXPublicKey(current.Public)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	attacker, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	with := func(m map[string]any, kv ...any) map[string]any {
		out := map[string]any{}
		for k, v := range m {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i].(string)] = kv[i+1]
		}
		return out
	}
	hs256 := func(key []byte) func([]byte) []byte {
		return func(input []byte) []byte {
			m := hmac.New(sha256.New, key)
			m.Write(input)
			return m.Sum(nil)
		}
	}
	none := func([]byte) []byte { return nil }
	realSign := func(input []byte) []byte {
		digest := sha256.Sum256(input)
		sig, err := current.Signer.Sign(rand.Reader, digest[:], crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		// ecdsa.Signer gives ASN.1; JWS wants r||s.
		var parsed struct{ R, S *big.Int }
		if _, err := asn1.Unmarshal(sig, &parsed); err != nil {
			t.Fatal(err)
		}
		out := make([]byte, 64)
		parsed.R.FillBytes(out[:32])
		parsed.S.FillBytes(out[32:])
		return out
	}
	if header["alg"] != "ES256" {
		t.Fatalf("the test signs like ES256 but the keyring uses %v", header["alg"])
	}
	// The harness's own signature must pass, or the forgeries below prove nothing.
	e.do(req{method: "GET", path: "/v1/me", token: jws(t, header, claims, realSign)}).expect(t, http.StatusOK)

	tamperedSig := []byte(parts[2])
	tamperedSig[10] ^= 0x01
	forgeries := map[string]string{
		"alg none":                            jws(t, with(header, "alg", "none"), claims, none),
		"alg none, original sig kept":         jws(t, with(header, "alg", "none"), claims, none) + parts[2],
		"HS256 keyed with the public key PEM": jws(t, with(header, "alg", "HS256"), claims, hs256(pubPEM)),
		"HS256 keyed with the public key DER": jws(t, with(header, "alg", "HS256"), claims, hs256(pubDER)),
		"HS256 keyed with the JWKS":           jws(t, with(header, "alg", "HS256"), claims, hs256(e.keys.JWKS())),
		"stripped signature":                  parts[0] + "." + parts[1] + ".",
		"no signature part":                   parts[0] + "." + parts[1],
		"tampered signature":                  parts[0] + "." + parts[1] + "." + string(tamperedSig),
		"tampered claims":                     parts[0] + "." + jwsPart(t, with(claims, "scope", "everything")) + "." + parts[2],
		"attacker key, real kid":              jws(t, header, claims, es256(t, attacker)),
		"kid injection path":                  jws(t, with(header, "kid", "../../../../dev/null"), claims, es256(t, attacker)),
		"kid injection sql":                   jws(t, with(header, "kid", kid+"' OR '1'='1"), claims, realSign),
		"embedded jwk":                        jws(t, with(header, "jwk", jwk(&attacker.PublicKey, kid)), claims, es256(t, attacker)),
		"embedded jwk, new kid":               jws(t, with(header, "jwk", jwk(&attacker.PublicKey, "evil"), "kid", "evil"), claims, es256(t, attacker)),
		"jku":                                 jws(t, with(header, "jku", "https://attacker.example/jwks.json", "kid", "evil"), claims, es256(t, attacker)),
		"x5u":                                 jws(t, with(header, "x5u", "https://attacker.example/cert.pem", "kid", "evil"), claims, es256(t, attacker)),
		"unknown crit":                        jws(t, with(header, "crit", []string{"exp-policy"}, "exp-policy", 1), claims, realSign),
		"wrong typ":                           jws(t, with(header, "typ", "JWT"), claims, realSign),
		"wrong issuer":                        jws(t, header, with(claims, "iss", "https://attacker.example"), realSign),
		"wrong audience":                      jws(t, header, with(claims, "aud", []string{"https://other.example"}), realSign),
		"expired":                             jws(t, header, with(claims, "exp", e.clock.Now().Add(-time.Hour).Unix()), realSign),
		"unknown session":                     jws(t, header, with(claims, "sid", "ses_0000000000000000"), realSign),
		"subject of another credential":       jws(t, header, with(claims, "sub", "user:usr_0000000000000000"), realSign),
		"JWE-shaped":                          "eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.a.b.c.d",
		"empty parts":                         "..",
	}
	for name, forged := range forgeries {
		t.Run(name, func(t *testing.T) {
			resp := e.do(req{method: "GET", path: "/v1/me", header: http.Header{"Authorization": {"Bearer " + forged}}})
			resp.expect(t, http.StatusUnauthorized).problem(t)
		})
	}
}

func jwsPart(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

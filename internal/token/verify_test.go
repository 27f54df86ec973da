package token

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/keyward/keyward"
	"github.com/keyward/keyward/accesstoken"
	"github.com/keyward/keyward/internal/keyring"
)

func wantUnauthorized(t *testing.T, v *Verifier, tok string) {
	t.Helper()
	c, err := v.Verify(tok)
	if err == nil {
		t.Fatalf("accepted: %+v", c)
	}
	var e *keyward.Error
	if !errors.As(err, &e) || e.Code != keyward.EUNAUTHORIZED {
		t.Fatalf("error %v is not a keyward EUNAUTHORIZED error", err)
	}
	if len(tok) > 20 && strings.Contains(e.Message, tok[len(tok)-20:]) {
		t.Errorf("message %q echoes the token", e.Message)
	}
}

// TestVerifyForgeries: each case changes one thing about an otherwise valid token. The base case
// proves that what remains is accepted, so each rejection is due to its one change.
func TestVerifyForgeries(t *testing.T) {
	f := newFixture(t, keyring.ES256)
	key := f.current(t)
	ours := key.Signer.(*ecdsa.PrivateKey)
	attacker, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	attackerRSA, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, attackerEd, _ := ed25519.GenerateKey(rand.Reader)
	pubDER, _ := x509.MarshalPKIXPublicKey(key.Public)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	attackerJWK := jose.JSONWebKey{Key: &attacker.PublicKey, KeyID: key.ID, Algorithm: "ES256", Use: "sig"}

	header := func(extra ...any) map[string]any {
		h := map[string]any{"alg": "ES256", "kid": key.ID, "typ": "at+jwt"}
		for i := 0; i < len(extra); i += 2 {
			if extra[i+1] == nil {
				delete(h, extra[i].(string))
			} else {
				h[extra[i].(string)] = extra[i+1]
			}
		}
		return h
	}
	payload := func(extra ...any) map[string]any {
		p := f.payload()
		for i := 0; i < len(extra); i += 2 {
			if extra[i+1] == nil {
				delete(p, extra[i].(string))
			} else {
				p[extra[i].(string)] = extra[i+1]
			}
		}
		return p
	}
	now := f.clk.Now().Unix()
	valid := craft(t, header(), payload(), "ES256", ours)
	parts := strings.Split(valid, ".")
	if _, err := f.v.Verify(valid); err != nil {
		t.Fatalf("base case rejected: %v", err)
	}

	tampered := payload("sub", "user:usr_admin00000000000")
	tamperedJSON := craft(t, header(), tampered, "none", nil)

	for _, tc := range []struct {
		name string
		tok  string
		why  string // what the refusal must say, so each case proves its own check
	}{
		{"alg none", craft(t, header("alg", "none"), payload(), "none", nil), "algorithm"},
		{"alg none, no kid", craft(t, header("alg", "none", "kid", nil), payload(), "none", nil), "algorithm"},
		{"HS256 keyed with the public key DER", craft(t, header("alg", "HS256"), payload(), "HS256", pubDER), "algorithm"},
		{"HS256 keyed with the public key PEM", craft(t, header("alg", "HS256"), payload(), "HS256", pubPEM), "algorithm"},
		{"HS256 keyed with the JWKS", craft(t, header("alg", "HS256"), payload(), "HS256", f.keys.JWKS()), "algorithm"},
		{"stripped signature", parts[0] + "." + parts[1] + ".", "signature"},
		{"no signature segment", parts[0] + "." + parts[1], "Malformed"},
		{"tampered payload", parts[0] + "." + strings.Split(tamperedJSON, ".")[1] + "." + parts[2], "signature"},
		{"another key under our kid", craft(t, header(), payload(), "ES256", attacker), "signature"},
		{"unknown kid", craft(t, header("kid", "nope"), payload(), "ES256", attacker), "unknown key"},
		{"no kid", craft(t, header("kid", nil), payload(), "ES256", ours), "no key id"},
		{"kid path traversal", craft(t, header("kid", "../../../../dev/null"), payload(), "ES256", attacker), "unknown key"},
		{"kid SQL", craft(t, header("kid", "' OR '1'='1"), payload(), "ES256", attacker), "unknown key"},
		{"kid NUL suffix", craft(t, header("kid", key.ID+"\x00"), payload(), "ES256", ours), "unknown key"},
		{"kid case-folded", craft(t, header("kid", strings.ToLower(key.ID)), payload(), "ES256", ours), "unknown key"},
		{"kid URL", craft(t, header("kid", "https://evil.example/key.pem"), payload(), "ES256", attacker), "unknown key"},
		{"kid not a string", craft(t, header("kid", 7), payload(), "ES256", ours), "Malformed"},
		{"embedded jwk of the signer", craft(t, header("jwk", attackerJWK), payload(), "ES256", attacker), "signature"},
		{"embedded jwk, no kid", craft(t, header("kid", nil, "jwk", attackerJWK), payload(), "ES256", attacker), "no key id"},
		{"jku to the attacker's JWKS", craft(t, header("jku", "https://evil.example/jwks.json"), payload(), "ES256", attacker), "signature"},
		{"x5u to the attacker's cert", craft(t, header("x5u", "https://evil.example/cert.pem"), payload(), "ES256", attacker), "signature"},
		{"RS256 under an ES256 kid", craft(t, header("alg", "RS256"), payload(), "RS256", attackerRSA), "does not match"},
		{"EdDSA under an ES256 kid", craft(t, header("alg", "EdDSA"), payload(), "EdDSA", attackerEd), "does not match"},
		{"ES384", craft(t, header("alg", "ES384"), payload(), "ES256", ours), "algorithm"},
		{"typ JWT", craft(t, header("typ", "JWT"), payload(), "ES256", ours), "typ"},
		{"no typ", craft(t, header("typ", nil), payload(), "ES256", ours), "typ"},
		{"typ with suffix", craft(t, header("typ", "at+jwt2"), payload(), "ES256", ours), "typ"},
		{"typ not a string", craft(t, header("typ", []string{"at+jwt"}), payload(), "ES256", ours), "typ"},
		{"crit", craft(t, header("crit", []string{"exp"}), payload(), "ES256", ours), "critical"},
		{"crit empty", craft(t, header("crit", []string{}), payload(), "ES256", ours), "critical"},
		{"crit b64", craft(t, header("crit", []string{"b64"}, "b64", false), payload(), "ES256", ours), "critical"},
		{"b64 without crit", craft(t, header("b64", false), payload(), "ES256", ours), "unsupported headers"},
		{"expired", craft(t, header(), payload("iat", now-7200, "exp", now-61), "ES256", ours), "expired"},
		{"no exp", craft(t, header(), payload("exp", nil), "ES256", ours), "required"},
		{"exp a string", craft(t, header(), payload("exp", "never"), "ES256", ours), "claims"},
		{"no iat", craft(t, header(), payload("iat", nil), "ES256", ours), "required"},
		{"iat in the future", craft(t, header(), payload("iat", now+120), "ES256", ours), "future"},
		{"nbf in the future", craft(t, header(), payload("nbf", now+120), "ES256", ours), "not valid yet"},
		{"wrong issuer", craft(t, header(), payload("iss", "https://evil.example"), "ES256", ours), "issuer"},
		{"issuer with trailing slash", craft(t, header(), payload("iss", issuer+"/"), "ES256", ours), "issuer"},
		{"no issuer", craft(t, header(), payload("iss", nil), "ES256", ours), "issuer"},
		{"wrong audience", craft(t, header(), payload("aud", "https://other.example"), "ES256", ours), "audience"},
		{"audience list without ours", craft(t, header(), payload("aud", []string{"a", "b"}), "ES256", ours), "audience"},
		{"no audience", craft(t, header(), payload("aud", nil), "ES256", ours), "audience"},
		{"no sub", craft(t, header(), payload("sub", nil), "ES256", ours), "required"},
		{"no jti", craft(t, header(), payload("jti", nil), "ES256", ours), "required"},
		{"subject of another kind", craft(t, header(), payload("sub", "svc:x"), "ES256", ours), "neither a key nor a user"},
		{"user subject without id", craft(t, header(), payload("sub", "user:"), "ES256", ours), "neither a key nor a user"},
		{"key subject, another client_id", craft(t, header(), payload("sub", "key:AbCdEfGhIjKlMnOp"), "ES256", ours), "client_id does not match"},
		{"malformed ips", craft(t, header(), payload("ips", []string{"10.0.0.0/8", "not-an-ip"}), "ES256", ours), "network restriction is malformed"},
		{"payload not an object", signBytes(t, parts[0], []byte(`["x"]`), ours), "claims"},
		{"JSON serialization", `{"protected":"` + parts[0] + `","payload":"` + parts[1] + `","signature":"` + parts[2] + `"}`, "Malformed"},
		{"four segments", valid + "." + parts[2], "Malformed"},
		{"padded base64", valid + "==", "Malformed"},
		{"leading space", " " + valid, "Malformed"},
		{"standard base64 alphabet", valid[:len(valid)-2] + "+" + valid[len(valid)-1:], "Malformed"},
		{"non-canonical trailing bits", nonCanonical(valid), "Malformed"},
		{"oversized", craft(t, header(), payload("pad", strings.Repeat("x", accesstoken.MaxLength)), "ES256", ours), "Malformed"},
		{"empty", "", "Malformed"},
		{"dots only", "..", "Malformed"},
		{"empty header", "." + parts[1] + "." + parts[2], "Malformed"},
		{"empty payload", parts[0] + ".." + parts[2], "Malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantUnauthorized(t, f.v, tc.tok)
			if _, err := f.v.Verify(tc.tok); !strings.Contains(keyward.ErrorMessage(err), tc.why) {
				t.Errorf("refused with %q, want it to be about %q", keyward.ErrorMessage(err), tc.why)
			}
		})
	}
}

// signBytes signs an arbitrary payload under an existing header segment.
func signBytes(t *testing.T, header string, payload []byte, key *ecdsa.PrivateKey) string {
	input := header + "." + b64.EncodeToString(payload)
	return input + "." + b64.EncodeToString(rawSign(t, "ES256", key, []byte(input)))
}

// nonCanonical flips unused bits in the last character of the signature segment: the decoded
// bytes are the same, so only a strict parser notices.
func nonCanonical(tok string) string {
	sig := tok[strings.LastIndexByte(tok, '.')+1:]
	if len(sig)%4 == 0 {
		panic("signature segment has no unused bits")
	}
	last := strings.IndexByte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", sig[len(sig)-1])
	return tok[:len(tok)-1] + string("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[last|1])
}

func TestNonCanonicalHelperChangesNothingDecoded(t *testing.T) {
	f := newFixture(t, keyring.ES256)
	tok := f.mint(t, f.claims())
	a, _ := base64.RawURLEncoding.DecodeString(tok[strings.LastIndexByte(tok, '.')+1:])
	nc := nonCanonical(tok)
	b, err := base64.RawURLEncoding.DecodeString(nc[strings.LastIndexByte(nc, '.')+1:])
	if err != nil || string(a) != string(b) || nc == tok {
		t.Fatal("helper does not produce a non-canonical encoding of the same signature")
	}
}

// TestVerifyAccepts covers what a strict verifier must still let through.
func TestVerifyAccepts(t *testing.T) {
	f := newFixture(t, keyring.ES256)
	key := f.current(t)
	ours := key.Signer.(*ecdsa.PrivateKey)
	now := f.clk.Now().Unix()
	for _, tc := range []struct {
		name    string
		header  map[string]any
		payload map[string]any
	}{
		{"typ upper case", map[string]any{"typ": "AT+JWT"}, nil},
		{"typ with media type prefix", map[string]any{"typ": "application/at+jwt"}, nil},
		{"jku is ignored, not followed", map[string]any{"jku": "https://evil.example/jwks.json"}, nil},
		{"expired within the leeway", nil, map[string]any{"exp": now - 30}},
		{"issued slightly in the future", nil, map[string]any{"iat": now + 30}},
		{"audience in a list", nil, map[string]any{"aud": []string{"other", audience}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := map[string]any{"alg": "ES256", "kid": key.ID, "typ": "at+jwt"}
			for k, v := range tc.header {
				h[k] = v
			}
			p := f.payload()
			for k, v := range tc.payload {
				p[k] = v
			}
			if _, err := f.v.Verify(craft(t, h, p, "ES256", ours)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestVerifyExpiryAndKeyLifetime(t *testing.T) {
	f := newFixture(t, keyring.ES256)
	tok := f.mint(t, f.claims())
	f.clk.Advance(2*time.Hour + 59*time.Second)
	if _, err := f.v.Verify(tok); err != nil {
		t.Fatalf("rejected within the leeway: %v", err)
	}
	f.clk.Advance(time.Second)
	wantUnauthorized(t, f.v, tok)

	// A token signed by a key that has left the JWKS is refused even if its claims still
	// look valid: verification agrees with what resource servers can see.
	old := f.current(t)
	f.clk.Advance(keyring.DefaultRotation)
	if err := f.keys.Maintain(t.Context()); err != nil {
		t.Fatal(err)
	}
	f.clk.Advance(24 * time.Hour)
	if err := f.keys.Maintain(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.keys.Lookup(old.ID); ok {
		t.Fatal("old key still published")
	}
	p := f.payload()
	wantUnauthorized(t, f.v, craft(t, map[string]any{"alg": "ES256", "kid": old.ID, "typ": "at+jwt"}, p, "ES256", old.Signer))
}

func TestVerifierNeedsConfiguration(t *testing.T) {
	f := newFixture(t, keyring.ES256)
	tok := f.mint(t, f.claims())
	for _, v := range []*Verifier{
		{Keys: f.keys, Audience: audience},
		{Keys: f.keys, Issuer: issuer},
	} {
		if _, err := v.Verify(tok); err == nil || keyward.ErrorCode(err) == keyward.EUNAUTHORIZED {
			t.Errorf("misconfigured verifier: %v, want an internal error", err)
		}
	}
}

// FuzzVerify feeds arbitrary strings to Verify. Whatever it accepts must be one of the tokens
// the test signed; whatever it refuses must be refused with EUNAUTHORIZED.
func FuzzVerify(fz *testing.F) {
	f := newFixture(fz, keyring.ES256)
	key := f.current(fz)
	ours := key.Signer.(*ecdsa.PrivateKey)
	signed := map[string]bool{}
	c := f.claims()
	good := f.mint(fz, c)
	signed[c.ID] = true
	fz.Add(good)
	p := f.payload()
	signed[p["jti"].(string)] = true
	h := map[string]any{"alg": "ES256", "kid": key.ID, "typ": "at+jwt"}
	fz.Add(craft(fz, h, p, "ES256", ours))
	fz.Add(craft(fz, map[string]any{"alg": "none", "kid": key.ID, "typ": "at+jwt"}, p, "none", nil))
	fz.Add(craft(fz, map[string]any{"alg": "HS256", "kid": key.ID, "typ": "at+jwt"}, p, "HS256", []byte("secret")))
	fz.Add(craft(fz, map[string]any{"alg": "ES256", "kid": key.ID, "typ": "at+jwt", "crit": []string{"b64"}, "b64": false}, p, "ES256", ours))
	fz.Add(strings.Split(good, ".")[0] + "..")
	fz.Add("eyJ.eyJ.")
	fz.Fuzz(func(t *testing.T, raw string) {
		got, err := f.v.Verify(raw)
		if err != nil {
			if keyward.ErrorCode(err) != keyward.EUNAUTHORIZED {
				t.Fatalf("error %v is not EUNAUTHORIZED", err)
			}
			return
		}
		if !signed[got.ID] {
			t.Fatalf("accepted a token nobody signed: %+v", got)
		}
	})
}

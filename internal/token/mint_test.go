package token

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/json"
	"math/big"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	gjwt "github.com/golang-jwt/jwt/v5"
	"github.com/keyward/keyward/internal/keyring"
)

// TestMintedTokensVerifyElsewhere proves the hand-written serialization with two independent
// JOSE libraries, for every algorithm, using only the published JWKS on the go-jose side.
func TestMintedTokensVerifyElsewhere(t *testing.T) {
	for _, alg := range []string{keyring.ES256, keyring.EdDSA, keyring.RS256} {
		t.Run(alg, func(t *testing.T) {
			f := newFixture(t, alg)
			c := f.claims()
			tok := f.mint(t, c)
			key := f.current(t)

			// go-jose, with the key found in the JWKS by kid.
			var jwks jose.JSONWebKeySet
			if err := json.Unmarshal(f.keys.JWKS(), &jwks); err != nil {
				t.Fatal(err)
			}
			parsed, err := josejwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
			if err != nil {
				t.Fatalf("go-jose parse: %v", err)
			}
			h := parsed.Headers[0]
			if h.KeyID != key.ID || h.Algorithm != alg || h.ExtraHeaders[jose.HeaderType] != "at+jwt" {
				t.Errorf("header = kid %q alg %q typ %v", h.KeyID, h.Algorithm, h.ExtraHeaders[jose.HeaderType])
			}
			var std josejwt.Claims
			if err := parsed.Claims(jwks, &std); err != nil {
				t.Fatalf("go-jose verify against the JWKS: %v", err)
			}
			if err := std.ValidateWithLeeway(josejwt.Expected{Issuer: issuer, AnyAudience: []string{audience}, Time: f.clk.Now()}, 0); err != nil {
				t.Errorf("go-jose claim validation: %v", err)
			}

			// golang-jwt, with its own parser and claim checks.
			got, err := gjwt.Parse(tok, func(*gjwt.Token) (any, error) { return key.Public, nil },
				gjwt.WithValidMethods([]string{alg}), gjwt.WithIssuer(issuer), gjwt.WithAudience(audience),
				gjwt.WithExpirationRequired(), gjwt.WithIssuedAt(), gjwt.WithTimeFunc(f.clk.Now))
			if err != nil {
				t.Fatalf("golang-jwt: %v", err)
			}
			if got.Header["typ"] != "at+jwt" || got.Header["kid"] != key.ID {
				t.Errorf("golang-jwt header = %v", got.Header)
			}
			mc := got.Claims.(gjwt.MapClaims)
			if mc["sub"] != c.Subject || mc["scope"] != "containers-view images-view" || mc["jti"] != c.ID {
				t.Errorf("golang-jwt claims = %v", mc)
			}

			// And keyward's own verifier returns what was minted.
			back, err := f.v.Verify(tok)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			want := *c
			want.Expiry, want.IssuedAt = c.Expiry.Truncate(time.Second), c.IssuedAt.Truncate(time.Second)
			if !reflect.DeepEqual(back, &want) {
				t.Errorf("Verify returned\n%+v\nwant\n%+v", back, &want)
			}
		})
	}
}

// TestPayload pins the wire names and shapes of RFC 9068 and SPEC §4.
func TestPayload(t *testing.T) {
	f := newFixture(t, keyring.ES256)
	decode := func(tok string) map[string]any {
		t.Helper()
		p, err := b64.DecodeString(strings.Split(tok, ".")[1])
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(p, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	for _, tc := range []struct {
		name  string
		edit  func(*Claims)
		check func(t *testing.T, m map[string]any)
	}{
		{"one audience is a string", func(*Claims) {}, func(t *testing.T, m map[string]any) {
			if m["aud"] != audience {
				t.Errorf("aud = %#v", m["aud"])
			}
		}},
		{"several audiences are an array", func(c *Claims) { c.Audience = []string{"a", "b"} }, func(t *testing.T, m map[string]any) {
			if !reflect.DeepEqual(m["aud"], []any{"a", "b"}) {
				t.Errorf("aud = %#v", m["aud"])
			}
		}},
		{"full key token", func(*Claims) {}, func(t *testing.T, m map[string]any) {
			want := []string{"aud", "client_id", "exp", "iat", "ips", "iss", "jti", "project", "scope", "sid", "sub"}
			if got := keysOf(m); !reflect.DeepEqual(got, want) {
				t.Errorf("claims = %v, want %v", got, want)
			}
			if !reflect.DeepEqual(m["ips"], []any{"10.0.0.0/8", "2001:db8::/32"}) || m["scope"] != "containers-view images-view" {
				t.Errorf("ips = %#v, scope = %#v", m["ips"], m["scope"])
			}
		}},
		{"user token without project omits empty claims", func(c *Claims) {
			c.Subject, c.Project, c.IPs, c.Scope, c.ClientID = "user:usr_x", "", nil, nil, ""
		}, func(t *testing.T, m map[string]any) {
			if got, want := keysOf(m), []string{"aud", "exp", "iat", "iss", "jti", "sid", "sub"}; !reflect.DeepEqual(got, want) {
				t.Errorf("claims = %v, want %v", got, want)
			}
		}},
		{"times are whole seconds", func(c *Claims) { c.IssuedAt = f.clk.Now().Add(500 * time.Millisecond) }, func(t *testing.T, m map[string]any) {
			if m["iat"] != float64(f.clk.Now().Unix()) || m["exp"] != float64(f.clk.Now().Add(2*time.Hour).Unix()) {
				t.Errorf("iat = %v, exp = %v", m["iat"], m["exp"])
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := f.claims()
			tc.edit(c)
			tc.check(t, decode(f.mint(t, c)))
		})
	}
}

func keysOf(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestMintFillsJTIAndIssuedAt(t *testing.T) {
	f := newFixture(t, keyring.ES256)
	a, b := f.claims(), f.claims()
	f.mint(t, a)
	f.mint(t, b)
	if len(a.ID) != jtiChars || a.ID == b.ID {
		t.Errorf("jti %q and %q: want distinct %d-character ids", a.ID, b.ID, jtiChars)
	}
	if !a.IssuedAt.Equal(f.clk.Now()) {
		t.Errorf("iat = %s, want now", a.IssuedAt)
	}
	c := f.claims()
	c.ID = "given"
	f.mint(t, c)
	if c.ID != "given" {
		t.Error("Mint replaced a jti the caller chose")
	}
}

func TestMintRefusesBadClaims(t *testing.T) {
	f := newFixture(t, keyring.ES256)
	for _, tc := range []struct {
		name string
		edit func(*Claims)
	}{
		{"no issuer", func(c *Claims) { c.Issuer = "" }},
		{"no subject", func(c *Claims) { c.Subject = "" }},
		{"no audience", func(c *Claims) { c.Audience = nil }},
		{"no expiry", func(c *Claims) { c.Expiry = time.Time{} }},
		{"expires before issue", func(c *Claims) { c.IssuedAt = c.Expiry.Add(time.Second) }},
		{"outlives the keys' token TTL", func(c *Claims) { c.Expiry = f.clk.Now().Add(f.keys.TokenTTL() + time.Second) }},
		{"scope with a space", func(c *Claims) { c.Scope = []string{"a b"} }},
		{"empty scope value", func(c *Claims) { c.Scope = []string{""} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := f.claims()
			tc.edit(c)
			if tok, err := f.m.Mint(c); err == nil {
				t.Errorf("Mint accepted the claims: %s", tok)
			}
		})
	}
}

// TestMintFollowsRotation: once the successor activates, new tokens carry its kid (the cached
// header is not reused) and tokens of the previous key keep verifying.
func TestMintFollowsRotation(t *testing.T) {
	f := newFixture(t, keyring.ES256)
	oldKid := f.current(t).ID
	f.clk.Advance(keyring.DefaultRotation - time.Hour)
	if err := f.keys.Maintain(t.Context()); err != nil {
		t.Fatal(err)
	}
	f.clk.Advance(time.Hour - time.Minute)
	old := f.mint(t, f.claims()) // among the last tokens of the old key
	f.clk.Advance(time.Minute)
	tok := f.mint(t, f.claims())
	p, err := josejwt.ParseSigned(tok, allowedAlgs)
	if err != nil {
		t.Fatal(err)
	}
	if kid := p.Headers[0].KeyID; kid == oldKid || kid != f.current(t).ID {
		t.Errorf("token after rotation has kid %s (old %s, current %s)", kid, oldKid, f.current(t).ID)
	}
	f.clk.Advance(time.Hour)
	for _, tok := range []string{old, tok} {
		if _, err := f.v.Verify(tok); err != nil {
			t.Errorf("token across the rotation: %v", err)
		}
	}
}

func TestRawECDSA(t *testing.T) {
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for i := range 300 {
		d := sha256.Sum256([]byte{byte(i), byte(i >> 8)})
		der, err := ecdsa.SignASN1(rand.Reader, priv, d[:])
		if err != nil {
			t.Fatal(err)
		}
		var rs struct{ R, S *big.Int }
		if _, err := asn1.Unmarshal(der, &rs); err != nil {
			t.Fatal(err)
		}
		want := make([]byte, 64)
		rs.R.FillBytes(want[:32])
		rs.S.FillBytes(want[32:])
		got, err := rawECDSA(der)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("rawECDSA(%x) = %x, %v; want %x", der, got, err, want)
		}
	}
	for _, der := range [][]byte{
		nil,
		{0x30, 0x00},
		{0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01},                        // truncated
		{0x30, 0x06, 0x02, 0x01, 0x81, 0x02, 0x01, 0x01},                  // negative r
		{0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x01},                  // r = 0
		{0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01, 0x00},            // trailing byte
		{0x31, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01},                  // not a SEQUENCE
		append([]byte{0x30, 0x25, 0x02, 0x21, 0x01}, make([]byte, 34)...), // 33-byte r
	} {
		if got, err := rawECDSA(der); err == nil {
			t.Errorf("rawECDSA(%x) = %x, want an error", der, got)
		}
	}
}

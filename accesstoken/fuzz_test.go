package accesstoken_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/keyward/keyward/accesstoken"
)

// refusals are every reason Verify may give for a token it refuses.
var refusals = []error{
	accesstoken.ErrTooLong, accesstoken.ErrMalformed, accesstoken.ErrAlgorithm, accesstoken.ErrType,
	accesstoken.ErrCritical, accesstoken.ErrUnsupportedHeader, accesstoken.ErrNoKeyID,
	accesstoken.ErrUnknownKey, accesstoken.ErrKeyAlgorithm, accesstoken.ErrSignature,
	accesstoken.ErrMalformedClaims, accesstoken.ErrIssuer, accesstoken.ErrAudience,
	accesstoken.ErrExpired, accesstoken.ErrNotYetValid, accesstoken.ErrIssuedInFuture,
	accesstoken.ErrMissingClaim, accesstoken.ErrSubject, accesstoken.ErrClientID, accesstoken.ErrNetworks,
}

// FuzzVerify feeds Verify arbitrary strings next to one genuine token. Whatever the input, Verify
// must not panic, must refuse with one of its reasons, and must accept nothing but the genuine
// token: any other accepted string would be a forgery or a second spelling of it.
func FuzzVerify(f *testing.F) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: priv},
		(&jose.SignerOptions{}).WithType(accesstoken.Type).WithHeader("kid", "k1"))
	if err != nil {
		f.Fatal(err)
	}
	issued := time.Date(2030, 3, 1, 12, 0, 0, 0, time.UTC)
	payload, _ := json.Marshal(accesstoken.Claims{
		Issuer: "https://auth.example.com", Subject: "key:AbCdEfGhIjKlMnOp", ClientID: "AbCdEfGhIjKlMnOp",
		Audience: jwt.Audience{"https://auth.example.com"}, ID: "0123456789abcdefghijkl",
		IssuedAt: jwt.NewNumericDate(issued), Expiry: jwt.NewNumericDate(issued.Add(time.Hour)),
		Scope: "containers-view", IPs: []string{"10.0.0.0/8", "2001:db8::/32"},
	})
	jws, err := signer.Sign(payload)
	if err != nil {
		f.Fatal(err)
	}
	genuine, _ := jws.CompactSerialize()
	opts := accesstoken.Options{
		Algorithms: []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA, jose.RS256},
		Key: func(kid string, alg jose.SignatureAlgorithm) (crypto.PublicKey, bool) {
			if kid != "k1" {
				return nil, false
			}
			return &priv.PublicKey, alg == jose.ES256
		},
		Issuer: "https://auth.example.com", Audience: "https://auth.example.com",
		Time: issued.Add(time.Minute),
	}
	if _, err := accesstoken.Verify(genuine, opts); err != nil {
		f.Fatalf("the genuine token: %v", err)
	}
	parts := strings.Split(genuine, ".")
	f.Add(genuine)
	f.Add(parts[0] + "." + parts[1] + ".")
	f.Add(parts[0] + "." + parts[1] + "." + parts[2] + "=")
	f.Add(parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])-1] + "B")
	f.Add("eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0." + parts[1] + ".")
	f.Add(strings.Repeat("a", accesstoken.MaxLength+1))
	f.Fuzz(func(t *testing.T, raw string) {
		tok, err := accesstoken.Verify(raw, opts)
		if err == nil {
			if raw != genuine {
				t.Fatalf("accepted a token that was never issued: %q", raw)
			}
			if tok.KeyID != "AbCdEfGhIjKlMnOp" || len(tok.Networks) != 2 {
				t.Fatalf("the genuine token read back wrong: %+v", tok)
			}
			return
		}
		for _, r := range refusals {
			if errors.Is(err, r) {
				return
			}
		}
		t.Fatalf("refused with an error that is none of the reasons: %v", err)
	})
}

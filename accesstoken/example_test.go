package accesstoken_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/keyward/keyward/accesstoken"
)

func Example() {
	// The issuer's side: sign the wire claims with typ at+jwt and a kid.
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: priv},
		(&jose.SignerOptions{}).WithType(accesstoken.Type).WithHeader("kid", "k1"))
	issued := time.Date(2030, 3, 1, 12, 0, 0, 0, time.UTC)
	payload, _ := json.Marshal(accesstoken.Claims{
		Issuer: "https://auth.example.com", Subject: "key:AbCdEfGhIjKlMnOp", ClientID: "AbCdEfGhIjKlMnOp",
		Audience: jwt.Audience{"https://auth.example.com"}, ID: "0123456789abcdefghijkl",
		IssuedAt: jwt.NewNumericDate(issued), Expiry: jwt.NewNumericDate(issued.Add(time.Hour)),
		Scope: "containers-view", IPs: []string{"10.0.0.0/8"},
	})
	jws, _ := signer.Sign(payload)
	raw, _ := jws.CompactSerialize()

	// The verifier's side: keys come only from the issuer's JWKS, looked up by kid.
	opts := accesstoken.Options{
		Algorithms: []jose.SignatureAlgorithm{jose.ES256},
		Key: func(kid string, alg jose.SignatureAlgorithm) (crypto.PublicKey, bool) {
			if kid != "k1" {
				return nil, false
			}
			return &priv.PublicKey, alg == jose.ES256
		},
		Issuer:   "https://auth.example.com",
		Audience: "https://auth.example.com",
		Leeway:   30 * time.Second,
		Time:     issued.Add(time.Minute),
	}
	tok, err := accesstoken.Verify(raw, opts)
	if err != nil {
		panic(err)
	}
	fmt.Println(tok.KeyID, tok.Claims.Scope, tok.Networks)

	opts.Time = issued.Add(2 * time.Hour)
	_, err = accesstoken.Verify(raw, opts)
	fmt.Println(errors.Is(err, accesstoken.ErrExpired))
	// Output:
	// AbCdEfGhIjKlMnOp containers-view [10.0.0.0/8]
	// true
}

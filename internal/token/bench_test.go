package token

import (
	"testing"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"github.com/keyward/keyward/internal/keyring"
)

func benchmarkMint(b *testing.B, alg string) {
	f := newFixture(b, alg)
	c := f.claims()
	b.ReportAllocs()
	for b.Loop() {
		c.ID = "" // a fresh jti each time, as in production
		if _, err := f.m.Mint(c); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMintES256(b *testing.B) { benchmarkMint(b, keyring.ES256) }
func BenchmarkMintEdDSA(b *testing.B) { benchmarkMint(b, keyring.EdDSA) }
func BenchmarkMintRS256(b *testing.B) { benchmarkMint(b, keyring.RS256) }

// BenchmarkGoJoseSignES256 is the baseline Mint is measured against: go-jose's generic signer
// and JWT builder with the same key, header and claims.
func BenchmarkGoJoseSignES256(b *testing.B) {
	f := newFixture(b, keyring.ES256)
	key := f.current(b)
	c := f.claims()
	f.mint(b, c)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: key.Signer, KeyID: key.ID}},
		(&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := josejwt.Signed(signer).Claims(c).Serialize(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyES256(b *testing.B) {
	f := newFixture(b, keyring.ES256)
	tok := f.mint(b, f.claims())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.v.Verify(tok); err != nil {
			b.Fatal(err)
		}
	}
}

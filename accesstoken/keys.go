package accesstoken

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"slices"
	"strings"

	jose "github.com/go-jose/go-jose/v4"
)

// minRSABits refuses RSA keys too short to be safe.
const minRSABits = 2048

// PublicKey reports whether a key of a published JWKS may verify signatures, and with which
// algorithm: a valid public signing key with a kid, whose algorithm (its alg, or the one its
// type implies) is in algs and fits the key. Private and symmetric keys are never used, whatever
// the JWKS says.
func PublicKey(k jose.JSONWebKey, algs []jose.SignatureAlgorithm) (jose.SignatureAlgorithm, bool) {
	if k.KeyID == "" || !k.Valid() || !k.IsPublic() || (k.Use != "" && k.Use != "sig") {
		return "", false
	}
	alg := k.Algorithm
	if alg == "" {
		alg = defaultAlg(k.Key)
	}
	if !slices.Contains(algs, jose.SignatureAlgorithm(alg)) || !Asymmetric(jose.SignatureAlgorithm(alg)) || !fits(alg, k.Key) {
		return "", false
	}
	return jose.SignatureAlgorithm(alg), true
}

// defaultAlg is the algorithm of a key published without "alg".
func defaultAlg(key any) string {
	switch k := key.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return "ES256"
		case elliptic.P384():
			return "ES384"
		case elliptic.P521():
			return "ES512"
		}
	case ed25519.PublicKey:
		return "EdDSA"
	case *rsa.PublicKey:
		return "RS256"
	}
	return ""
}

// fits reports whether alg can be used with key, so that a token cannot pick an algorithm its
// key was never meant for.
func fits(alg string, key any) bool {
	switch k := key.(type) {
	case *ecdsa.PublicKey:
		return alg == defaultAlg(k)
	case ed25519.PublicKey:
		return alg == "EdDSA"
	case *rsa.PublicKey:
		return (strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS")) && k.N.BitLen() >= minRSABits
	}
	return false
}

// KeyFits reports whether alg is an asymmetric algorithm that key can verify: its curve, or an
// RSA key long enough to be safe. Anything that checks a signature by a key it did not choose
// (a JWKS, a DPoP proof's jwk) asks this, so that a signer cannot pick a weaker reading.
func KeyFits(alg jose.SignatureAlgorithm, key any) bool {
	return Asymmetric(alg) && fits(string(alg), key)
}

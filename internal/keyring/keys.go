package keyring

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"fmt"

	"github.com/keyward/keyward"
)

// Signing algorithms, as they appear in the JWS alg header.
const (
	ES256 = "ES256"
	EdDSA = "EdDSA"
	RS256 = "RS256"
)

// MinRSABits is the smallest RSA modulus accepted, for generated and stored keys alike.
const MinRSABits = 2048

// kidLength is the number of base62 characters in a key id (about 95 bits): enough that two
// instances never pick the same one, and URL-safe so it can appear in a JWS header unescaped.
const kidLength = 16

// Key is a signing key ready for use. It is shared between goroutines and must not be modified.
type Key struct {
	ID     string // the JWS kid
	Alg    string // ES256, EdDSA or RS256
	Signer crypto.Signer
	Public crypto.PublicKey
}

// validAlg reports whether alg is one the keyring can generate and load.
func validAlg(alg string) bool {
	return alg == ES256 || alg == EdDSA || alg == RS256
}

// generateKey makes a new private key for alg, returned as PKCS #8 DER. Key generation always
// draws from the system's secure source: the injected reader only feeds identifiers and nonces,
// because a predictable private key is never acceptable, not even in a test build.
func generateKey(alg string) ([]byte, error) {
	var priv any
	var err error
	switch alg {
	case ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case RS256:
		priv, err = rsa.GenerateKey(rand.Reader, MinRSABits)
	default:
		return nil, fmt.Errorf("unsupported signing algorithm %q", alg)
	}
	if err != nil {
		return nil, fmt.Errorf("generate %s key: %w", alg, err)
	}
	return x509.MarshalPKCS8PrivateKey(priv)
}

// decodeKey turns a stored key into a usable one. Every defect is an error: a key that cannot be
// read must stop the server rather than be replaced, or tokens signed by other instances would
// stop verifying.
func decodeKey(sk *keyward.SigningKey, master []byte) (*Key, error) {
	if sk.ID == "" {
		return nil, fmt.Errorf("signing key without an id")
	}
	der := sk.Private
	if sk.Sealed {
		if master == nil {
			return nil, fmt.Errorf("signing key %s is sealed and no master key is configured (KEYWARD_MASTER_KEY)", sk.ID)
		}
		var err error
		if der, err = Open(master, sk.ID, sk.Private); err != nil {
			return nil, fmt.Errorf("signing key %s does not open with the configured master key (wrong key or corrupted data)", sk.ID)
		}
	}
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("signing key %s is not a PKCS #8 private key: %w", sk.ID, err)
	}
	k := &Key{ID: sk.ID, Alg: sk.Alg}
	switch p := parsed.(type) {
	case *ecdsa.PrivateKey:
		if sk.Alg != ES256 || p.Curve != elliptic.P256() {
			return nil, fmt.Errorf("signing key %s: %s key on curve %s does not match", sk.ID, sk.Alg, p.Curve.Params().Name)
		}
		k.Signer, k.Public = p, &p.PublicKey
	case ed25519.PrivateKey:
		if sk.Alg != EdDSA {
			return nil, fmt.Errorf("signing key %s: an Ed25519 key cannot be used for %s", sk.ID, sk.Alg)
		}
		k.Signer, k.Public = p, p.Public()
	case *rsa.PrivateKey:
		if sk.Alg != RS256 {
			return nil, fmt.Errorf("signing key %s: an RSA key cannot be used for %s", sk.ID, sk.Alg)
		}
		if p.N.BitLen() < MinRSABits {
			return nil, fmt.Errorf("signing key %s: RSA key of %d bits is below the %d-bit minimum", sk.ID, p.N.BitLen(), MinRSABits)
		}
		k.Signer, k.Public = p, &p.PublicKey
	default:
		return nil, fmt.Errorf("signing key %s: unsupported key type %T", sk.ID, parsed)
	}
	return k, nil
}

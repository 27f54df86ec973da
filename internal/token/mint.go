package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/accesstoken"
	"github.com/keyward/keyward/internal/keyring"
)

// TypeAccessToken is the JWS typ of keyward's access tokens (RFC 9068 §2.1).
const TypeAccessToken = accesstoken.Type

// jtiChars random base62 characters make a jti of about 131 bits.
const jtiChars = 22

var b64 = base64.RawURLEncoding

// Minter signs access tokens with the keyring's current key. It writes the JWS compact
// serialization itself: the header segment is computed once per key and the claims are
// marshalled once, which keeps the token endpoint's hot path to one signature.
//
// A Minter must not be copied after first use.
type Minter struct {
	Keys *keyring.Keyring
	Now  func() time.Time
	Rand io.Reader // jti; signatures always draw from crypto/rand

	prepared atomic.Pointer[preparedKey]
}

// preparedKey is what minting needs of one signing key.
type preparedKey struct {
	key    *keyring.Key
	header string // base64url of the JOSE header, then "."
	sigLen int
	sign   func(input []byte) ([]byte, error)
}

// Mint signs c and returns the token. It fills in c.ID (a random jti) and c.IssuedAt (now) when
// they are empty. The token must not outlive the keyring's TokenTTL, or the key that signed it
// could leave the JWKS before it expires.
func (m *Minter) Mint(c *Claims) (string, error) {
	key, err := m.Keys.Current()
	if err != nil {
		return "", err
	}
	p, err := m.prepare(key)
	if err != nil {
		return "", err
	}
	now := time.Now
	if m.Now != nil {
		now = m.Now
	}
	t := now()
	if c.ID == "" {
		r := m.Rand
		if r == nil {
			r = rand.Reader
		}
		if c.ID, err = keyward.RandomBase62(r, jtiChars); err != nil {
			return "", err
		}
	}
	if c.IssuedAt.IsZero() {
		c.IssuedAt = t
	}
	if err := m.check(c, t); err != nil {
		return "", err
	}
	payload, err := c.MarshalJSON()
	if err != nil {
		return "", err
	}

	n := len(p.header) + b64.EncodedLen(len(payload))
	buf := make([]byte, 0, n+1+b64.EncodedLen(p.sigLen))
	buf = append(buf, p.header...)
	buf = b64.AppendEncode(buf, payload)
	sig, err := p.sign(buf)
	if err != nil {
		return "", fmt.Errorf("sign access token: %w", err)
	}
	buf = append(buf, '.')
	buf = b64.AppendEncode(buf, sig)
	return string(buf), nil
}

// check refuses claims no verifier should have to accept; every failure is a bug in the caller.
func (m *Minter) check(c *Claims, now time.Time) error {
	switch {
	case c.Issuer == "" || c.Subject == "" || len(c.Audience) == 0:
		return errors.New("token: access token needs iss, sub and aud")
	case !c.Expiry.After(c.IssuedAt):
		return errors.New("token: access token expires before it is issued")
	case c.Expiry.Sub(now) > m.Keys.TokenTTL():
		return fmt.Errorf("token: access token lifetime %s exceeds the signing keys' token TTL %s",
			c.Expiry.Sub(now).Round(time.Second), m.Keys.TokenTTL())
	}
	for _, s := range c.Scope {
		if s == "" || strings.ContainsAny(s, " \t\r\n") {
			return fmt.Errorf("token: scope value %q cannot be space-separated", s)
		}
	}
	return nil
}

// prepare returns the cached header and signer for key, computing them when the key changed.
func (m *Minter) prepare(key *keyring.Key) (*preparedKey, error) {
	if p := m.prepared.Load(); p != nil && p.key == key {
		return p, nil
	}
	header, err := json.Marshal(struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
		Typ string `json:"typ"`
	}{key.Alg, key.ID, TypeAccessToken})
	if err != nil {
		return nil, err
	}
	p := &preparedKey{key: key, header: b64.EncodeToString(header) + "."}
	if p.sign, p.sigLen, err = signerFor(key); err != nil {
		return nil, err
	}
	m.prepared.Store(p)
	return p, nil
}

// signerFor returns a function producing the JWS signature (RFC 7518 §3) over the signing input.
// The keyring's own key types take direct paths; any other crypto.Signer (a KMS, say) goes
// through its Sign method.
func signerFor(key *keyring.Key) (func([]byte) ([]byte, error), int, error) {
	switch key.Alg {
	case keyring.ES256:
		// ASN.1 signatures, converted without big.Int: SignASN1 is the allocation-light path.
		if priv, ok := key.Signer.(*ecdsa.PrivateKey); ok {
			return func(in []byte) ([]byte, error) {
				d := sha256.Sum256(in)
				der, err := ecdsa.SignASN1(rand.Reader, priv, d[:])
				if err != nil {
					return nil, err
				}
				return rawECDSA(der)
			}, 64, nil
		}
		return func(in []byte) ([]byte, error) {
			d := sha256.Sum256(in)
			der, err := key.Signer.Sign(rand.Reader, d[:], crypto.SHA256)
			if err != nil {
				return nil, err
			}
			return rawECDSA(der)
		}, 64, nil
	case keyring.EdDSA:
		if priv, ok := key.Signer.(ed25519.PrivateKey); ok {
			return func(in []byte) ([]byte, error) { return ed25519.Sign(priv, in), nil }, ed25519.SignatureSize, nil
		}
		return func(in []byte) ([]byte, error) {
			return key.Signer.Sign(rand.Reader, in, crypto.Hash(0))
		}, ed25519.SignatureSize, nil
	case keyring.RS256:
		pub, ok := key.Public.(*rsa.PublicKey)
		if !ok {
			return nil, 0, fmt.Errorf("token: RS256 key %s has a %T public key", key.ID, key.Public)
		}
		return func(in []byte) ([]byte, error) {
			d := sha256.Sum256(in)
			if priv, ok := key.Signer.(*rsa.PrivateKey); ok {
				return rsa.SignPKCS1v15(nil, priv, crypto.SHA256, d[:])
			}
			return key.Signer.Sign(rand.Reader, d[:], crypto.SHA256)
		}, pub.Size(), nil
	}
	return nil, 0, fmt.Errorf("token: unsupported signing algorithm %q", key.Alg)
}

var errMalformedECDSA = errors.New("malformed ECDSA signature")

// rawECDSA converts a DER ECDSA P-256 signature, SEQUENCE { INTEGER r, INTEGER s }, to the JWS
// form (RFC 7518 §3.4): r and s as 32-byte big-endian numbers.
func rawECDSA(der []byte) ([]byte, error) {
	bad := errMalformedECDSA
	if len(der) < 2 || der[0] != 0x30 || int(der[1]) != len(der)-2 || der[1] >= 0x80 {
		return nil, bad
	}
	out := make([]byte, 64)
	rest := der[2:]
	for i := range 2 {
		if len(rest) < 2 || rest[0] != 0x02 || int(rest[1]) > len(rest)-2 {
			return nil, bad
		}
		n := rest[2 : 2+int(rest[1])]
		rest = rest[2+int(rest[1]):]
		if len(n) == 0 || n[0]&0x80 != 0 { // empty or negative
			return nil, bad
		}
		if n[0] == 0 { // the sign byte of a positive integer
			n = n[1:]
		}
		if len(n) == 0 || len(n) > 32 {
			return nil, bad
		}
		copy(out[32*i+32-len(n):32*i+32], n)
	}
	if len(rest) != 0 {
		return nil, bad
	}
	return out, nil
}

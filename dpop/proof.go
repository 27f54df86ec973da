package dpop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"net/url"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// ProofOption sets an optional part of a proof NewProof builds.
type ProofOption func(*proofOptions)

type proofOptions struct {
	token, nonce string
	now          time.Time
	rand         io.Reader
}

// WithAccessToken binds the proof to the access token it is sent with (ath).
func WithAccessToken(token string) ProofOption { return func(o *proofOptions) { o.token = token } }

// WithNonce carries the server's DPoP-Nonce.
func WithNonce(nonce string) ProofOption { return func(o *proofOptions) { o.nonce = nonce } }

// WithTime sets iat; the default is time.Now().
func WithTime(t time.Time) ProofOption { return func(o *proofOptions) { o.now = t } }

// WithRand sets the source of the jti and of signatures; the default is crypto/rand.
func WithRand(r io.Reader) ProofOption { return func(o *proofOptions) { o.rand = r } }

// NewProof builds a proof for a request with method to rawURL (its query and fragment are
// dropped), signed by key with a fresh jti: ES256 for a P-256 key, EdDSA for Ed25519, RS256 for
// RSA. Any crypto.Signer works, including one whose private key never leaves hardware.
func NewProof(key crypto.Signer, method, rawURL string, opts ...ProofOption) (string, error) {
	o := proofOptions{rand: rand.Reader}
	for _, f := range opts {
		f(&o)
	}
	if o.now.IsZero() {
		o.now = time.Now()
	}
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return "", errors.New("dpop: the URL of a proof must be absolute")
	}
	u.RawQuery, u.Fragment, u.ForceQuery = "", "", false
	alg, err := algOf(key.Public())
	if err != nil {
		return "", err
	}
	jwk, err := json.Marshal(jose.JSONWebKey{Key: key.Public()})
	if err != nil {
		return "", err
	}
	jti := make([]byte, 16)
	if _, err := io.ReadFull(o.rand, jti); err != nil {
		return "", err
	}
	h, err := json.Marshal(map[string]any{"typ": Type, "alg": alg, "jwk": json.RawMessage(jwk)})
	if err != nil {
		return "", err
	}
	c := struct {
		JTI   string `json:"jti"`
		HTM   string `json:"htm"`
		HTU   string `json:"htu"`
		IAT   int64  `json:"iat"`
		ATH   string `json:"ath,omitempty"`
		Nonce string `json:"nonce,omitempty"`
	}{JTI: base64.RawURLEncoding.EncodeToString(jti), HTM: method, HTU: u.String(), IAT: o.now.Unix(), Nonce: o.nonce}
	if o.token != "" {
		c.ATH = TokenHash(o.token)
	}
	p, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(p)
	sig, err := sign(key, alg, o.rand, []byte(input))
	if err != nil {
		return "", err
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// algOf is the algorithm NewProof signs with for a public key.
func algOf(pub crypto.PublicKey) (string, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() {
			return "ES256", nil
		}
	case ed25519.PublicKey:
		return "EdDSA", nil
	case *rsa.PublicKey:
		return "RS256", nil
	}
	return "", errors.New("dpop: the key must be ECDSA P-256, Ed25519 or RSA")
}

// sign signs a JWS signing input with key as alg, converting ECDSA's ASN.1 signature to JWS's
// fixed-size r||s (RFC 7518 §3.4).
func sign(key crypto.Signer, alg string, r io.Reader, input []byte) ([]byte, error) {
	if alg == "EdDSA" {
		return key.Sign(r, input, crypto.Hash(0))
	}
	sum := sha256.Sum256(input)
	sig, err := key.Sign(r, sum[:], crypto.SHA256)
	if err != nil || alg != "ES256" {
		return sig, err
	}
	var rs struct{ R, S *big.Int }
	if _, err := asn1.Unmarshal(sig, &rs); err != nil {
		return nil, err
	}
	out := make([]byte, 64)
	rs.R.FillBytes(out[:32])
	rs.S.FillBytes(out[32:])
	return out, nil
}

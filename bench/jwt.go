package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"
)

// tokenResponse is the RFC 6749 §5.1 answer of the token endpoint.
type tokenResponse struct {
	AccessToken      string `json:"access_token"`
	TokenType        string `json:"token_type"`
	ExpiresIn        int64  `json:"expires_in"`
	RefreshToken     string `json:"refresh_token"`
	RefreshExpiresIn int64  `json:"refresh_expires_in"`
	Scope            string `json:"scope"`
}

// accessClaims are the claims of a keyward access token (RFC 9068 plus sid, project and ips).
// The ceiling marshals this same struct, so its tokens have keyward's shape.
type accessClaims struct {
	Issuer    string          `json:"iss"`
	Subject   string          `json:"sub"`
	Audience  json.RawMessage `json:"aud"` // a string or an array, kept as keyward wrote it
	Expiry    int64           `json:"exp"`
	IssuedAt  int64           `json:"iat"`
	NotBefore int64           `json:"nbf,omitempty"`
	ID        string          `json:"jti"`
	ClientID  string          `json:"client_id"`
	Scope     string          `json:"scope"`
	SessionID string          `json:"sid"`
	Project   string          `json:"project,omitempty"`
	IPs       []string        `json:"ips,omitempty"`
}

type jwtHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Typ string `json:"typ"`
}

// es256Signer signs JWTs with crypto/ecdsa directly: no JOSE library, the header encoded once.
// It is the least work that still produces a valid, verifiable access token.
type es256Signer struct {
	key    *ecdsa.PrivateKey
	header []byte // base64url of the header JSON
}

func newES256Signer(key *ecdsa.PrivateKey, kid string) (*es256Signer, error) {
	h, err := json.Marshal(jwtHeader{Alg: "ES256", Kid: kid, Typ: "at+jwt"})
	if err != nil {
		return nil, err
	}
	return &es256Signer{key: key, header: base64.RawURLEncoding.AppendEncode(nil, h)}, nil
}

func (s *es256Signer) sign(c *accessClaims) (string, error) {
	payload, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	buf := make([]byte, 0, len(s.header)+1+enc.EncodedLen(len(payload))+1+enc.EncodedLen(64))
	buf = append(buf, s.header...)
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, payload)
	digest := sha256.Sum256(buf)
	der, err := ecdsa.SignASN1(rand.Reader, s.key, digest[:])
	if err != nil {
		return "", err
	}
	var sig [64]byte
	if err := derToRaw(der, sig[:]); err != nil {
		return "", err
	}
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, sig[:])
	return string(buf), nil
}

var errBadSignatureDER = errors.New("malformed ECDSA signature")

// derToRaw turns an ASN.1 ECDSA-Sig-Value into the fixed-size r||s that JWS wants (RFC 7518
// §3.4), writing into out, whose length is twice the curve size.
func derToRaw(der, out []byte) error {
	size := len(out) / 2
	if len(der) < 2 || der[0] != 0x30 || der[1] >= 0x80 || int(der[1]) != len(der)-2 {
		return errBadSignatureDER
	}
	rest := der[2:]
	for i := range 2 {
		if len(rest) < 2 || rest[0] != 0x02 || rest[1] >= 0x80 || int(rest[1]) > len(rest)-2 || rest[1] == 0 {
			return errBadSignatureDER
		}
		n := int(rest[1])
		v := rest[2 : 2+n]
		rest = rest[2+n:]
		if v[0]&0x80 != 0 {
			return errBadSignatureDER // negative
		}
		v = bytes.TrimLeft(v, "\x00")
		if len(v) > size {
			return errBadSignatureDER
		}
		dst := out[i*size : (i+1)*size]
		clear(dst)
		copy(dst[size-len(v):], v)
	}
	if len(rest) != 0 {
		return errBadSignatureDER
	}
	return nil
}

// parseJWKS returns the P-256 keys of an RFC 7517 key set by kid.
func parseJWKS(data []byte) (map[string]*ecdsa.PublicKey, error) {
	var set struct {
		Keys []struct {
			Kty, Crv, Kid, X, Y string
		} `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("JWKS: %w", err)
	}
	keys := map[string]*ecdsa.PublicKey{}
	for _, k := range set.Keys {
		if k.Kty != "EC" || k.Crv != "P-256" {
			continue
		}
		x, errX := base64.RawURLEncoding.DecodeString(k.X)
		y, errY := base64.RawURLEncoding.DecodeString(k.Y)
		if errX != nil || errY != nil || len(x) != 32 || len(y) != 32 {
			return nil, fmt.Errorf("JWKS: key %q has malformed coordinates", k.Kid)
		}
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), slices.Concat([]byte{4}, x, y))
		if err != nil {
			return nil, fmt.Errorf("JWKS: key %q: %w", k.Kid, err)
		}
		keys[k.Kid] = pub
	}
	if len(keys) == 0 {
		return nil, errors.New("JWKS: no P-256 key (the bench expects keyward's default ES256)")
	}
	return keys, nil
}

// verifyES256 checks a compact JWS signed with ES256 by one of keys and returns its header and
// claims. It is strict: three parts, unpadded base64url, alg ES256, a known kid, a 64-byte
// signature.
func verifyES256(raw string, keys map[string]*ecdsa.PublicKey) (*jwtHeader, *accessClaims, error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, nil, errors.New("not a compact JWS")
	}
	enc := base64.RawURLEncoding.Strict()
	hb, err := enc.DecodeString(parts[0])
	if err != nil {
		return nil, nil, errors.New("malformed JWS header")
	}
	var h jwtHeader
	if err := json.Unmarshal(hb, &h); err != nil {
		return nil, nil, errors.New("malformed JWS header")
	}
	if h.Alg != "ES256" {
		return nil, nil, fmt.Errorf("alg %q, want ES256", h.Alg)
	}
	pub, ok := keys[h.Kid]
	if !ok {
		return nil, nil, fmt.Errorf("unknown kid %q", h.Kid)
	}
	sig, err := enc.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		return nil, nil, errors.New("malformed ES256 signature")
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	if !ecdsa.Verify(pub, digest[:], r, s) {
		return nil, nil, errors.New("bad signature")
	}
	pb, err := enc.DecodeString(parts[1])
	if err != nil {
		return nil, nil, errors.New("malformed JWS payload")
	}
	var c accessClaims
	if err := json.Unmarshal(pb, &c); err != nil {
		return nil, nil, fmt.Errorf("malformed claims: %w", err)
	}
	return &h, &c, nil
}

// checkKeywardAnswer proves that a token endpoint answer is a real token pair for the key keyID:
// a Bearer access token signed by a key of the JWKS, typed at+jwt, naming the key, current, with
// the bench's permissions, and a refresh token of at least 256 bits.
func checkKeywardAnswer(body []byte, jwks map[string]*ecdsa.PublicKey, keyID string, now time.Time) (*tokenResponse, *accessClaims, *jwtHeader, error) {
	var tr tokenResponse
	if err := json.Unmarshal(body, &tr); err != nil {
		return nil, nil, nil, fmt.Errorf("answer is not JSON: %w", err)
	}
	if tr.AccessToken == "" {
		return nil, nil, nil, errNoToken
	}
	h, c, err := verifyES256(tr.AccessToken, jwks)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("access token: %w", err)
	}
	switch {
	case !strings.EqualFold(tr.TokenType, "Bearer"):
		return nil, nil, nil, fmt.Errorf("token_type %q, want Bearer", tr.TokenType)
	case tr.ExpiresIn <= 0 || tr.RefreshExpiresIn <= 0:
		return nil, nil, nil, errors.New("expires_in and refresh_expires_in must be positive")
	case len(tr.RefreshToken) < 43: // 256 bits in base64url or base62
		return nil, nil, nil, fmt.Errorf("refresh token of %d characters is too short", len(tr.RefreshToken))
	case h.Typ != "at+jwt":
		return nil, nil, nil, fmt.Errorf("typ %q, want at+jwt", h.Typ)
	case c.Subject != "key:"+keyID || c.ClientID != keyID:
		return nil, nil, nil, fmt.Errorf("sub %q and client_id %q do not name key %s", c.Subject, c.ClientID, keyID)
	case c.Expiry <= now.Unix():
		return nil, nil, nil, errors.New("the access token is already expired")
	case c.SessionID == "" || c.ID == "" || c.Issuer == "" || len(c.Audience) == 0:
		return nil, nil, nil, errors.New("the access token lacks sid, jti, iss or aud")
	case !sameSet(strings.Fields(c.Scope), benchPermissions) || !sameSet(strings.Fields(tr.Scope), benchPermissions):
		return nil, nil, nil, fmt.Errorf("scope %q, want the key's permissions %v", c.Scope, benchPermissions)
	}
	if fast, ok := refreshTokenOf(body); !ok || fast != tr.RefreshToken {
		return nil, nil, nil, errors.New("the refresh token cannot be read off the answer without a JSON decoder")
	}
	return &tr, c, h, nil
}

var refreshTokenField = []byte(`"refresh_token":"`)

// refreshTokenOf reads the refresh token out of a token answer without decoding the JSON, which
// would cost the load generator as much CPU as a small part of the server's work. The first answer
// of a scenario is checked against a full decode.
func refreshTokenOf(body []byte) (string, bool) {
	i := bytes.Index(body, refreshTokenField)
	if i < 0 {
		return "", false
	}
	rest := body[i+len(refreshTokenField):]
	j := bytes.IndexByte(rest, '"')
	if j <= 0 || bytes.IndexByte(rest[:j], '\\') >= 0 {
		return "", false
	}
	return string(rest[:j]), true
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

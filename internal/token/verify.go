package token

import (
	"errors"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/keyring"
)

// MaxTokenLength bounds what Verify parses. keyward's tokens are far shorter, even with a long
// list of scopes and networks.
const MaxTokenLength = 8 << 10

// allowedAlgs is the algorithm allow-list; a token must also use its key's own algorithm.
var allowedAlgs = []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA, jose.RS256}

// Verifier checks keyward's own access tokens (for the management API and introspection). Keys
// are resolved only through the keyring by kid; jwk, jku, x5u and x5c headers are ignored.
type Verifier struct {
	Keys     *keyring.Keyring
	Issuer   string
	Audience string        // the token's aud must contain it
	Leeway   time.Duration // clock skew tolerated on exp, iat and nbf
	Now      func() time.Time
}

// inClaims is the decoded payload. Dates are go-jose NumericDates so fractional and
// out-of-range values are handled by the library that checks them elsewhere.
type inClaims struct {
	Issuer    string           `json:"iss"`
	Subject   string           `json:"sub"`
	Audience  jwt.Audience     `json:"aud"`
	Expiry    *jwt.NumericDate `json:"exp"`
	IssuedAt  *jwt.NumericDate `json:"iat"`
	NotBefore *jwt.NumericDate `json:"nbf"`
	ID        string           `json:"jti"`
	ClientID  string           `json:"client_id"`
	Scope     string           `json:"scope"`
	SessionID string           `json:"sid"`
	Project   string           `json:"project"`
	IPs       []string         `json:"ips"`
}

func invalid(msg string) error { return &keyward.Error{Code: keyward.EUNAUTHORIZED, Message: msg} }

// Verify checks raw and returns its claims. Every failure is an *keyward.Error with code
// EUNAUTHORIZED and a message safe to show the caller.
func (v *Verifier) Verify(raw string) (*Claims, error) {
	if v.Keys == nil || v.Issuer == "" || v.Audience == "" {
		return nil, errors.New("token: verifier needs keys, an issuer and an audience")
	}
	if !wellFormed(raw) {
		return nil, invalid("Malformed access token.")
	}
	tok, err := jwt.ParseSigned(raw, allowedAlgs)
	if err != nil {
		var alg *jose.ErrUnexpectedSignatureAlgorithm
		if errors.As(err, &alg) {
			return nil, invalid("Access token uses a signing algorithm that is not allowed.")
		}
		return nil, invalid("Malformed access token.")
	}
	if len(tok.Headers) != 1 {
		return nil, invalid("Malformed access token.")
	}
	h := tok.Headers[0]
	typ, _ := h.ExtraHeaders[jose.HeaderType].(string)
	if !strings.EqualFold(typ, TypeAccessToken) && !strings.EqualFold(typ, "application/"+TypeAccessToken) {
		return nil, invalid("Not an access token (typ must be at+jwt).")
	}
	// No extension is understood, so any crit is unsupported (RFC 7515 §4.1.11). b64 is refused
	// too: go-jose honours it even without crit, and it changes what the signature covers.
	if _, ok := h.ExtraHeaders["crit"]; ok {
		return nil, invalid("Access token has unsupported critical headers.")
	}
	if _, ok := h.ExtraHeaders["b64"]; ok {
		return nil, invalid("Access token has unsupported headers.")
	}
	if h.KeyID == "" {
		return nil, invalid("Access token has no key id.")
	}
	key, ok := v.Keys.Lookup(h.KeyID)
	if !ok {
		return nil, invalid("Access token is signed by an unknown key.")
	}
	if h.Algorithm != key.Alg {
		return nil, invalid("Access token algorithm does not match its key.")
	}
	var c inClaims
	if err := tok.Claims(key.Public, &c); err != nil {
		if errors.Is(err, jose.ErrCryptoFailure) {
			return nil, invalid("Access token signature is invalid.")
		}
		return nil, invalid("Malformed access token claims.")
	}
	return v.check(&c)
}

func (v *Verifier) check(c *inClaims) (*Claims, error) {
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	t := now()
	leeway := max(v.Leeway, 0)
	switch {
	case c.Issuer != v.Issuer:
		return nil, invalid("Access token is from another issuer.")
	case !slices.Contains(c.Audience, v.Audience):
		return nil, invalid("Access token is meant for another audience.")
	case c.Expiry == nil || c.IssuedAt == nil || c.Subject == "" || c.ID == "":
		return nil, invalid("Access token lacks required claims.")
	case !t.Before(c.Expiry.Time().Add(leeway)):
		return nil, invalid("Access token expired.")
	case c.IssuedAt.Time().After(t.Add(leeway)):
		return nil, invalid("Access token is issued in the future.")
	case c.NotBefore != nil && c.NotBefore.Time().After(t.Add(leeway)):
		return nil, invalid("Access token is not valid yet.")
	}
	out := &Claims{
		Issuer:    c.Issuer,
		Subject:   c.Subject,
		Audience:  []string(c.Audience),
		Expiry:    c.Expiry.Time().UTC(),
		IssuedAt:  c.IssuedAt.Time().UTC(),
		ID:        c.ID,
		ClientID:  c.ClientID,
		Scope:     strings.Fields(c.Scope),
		SessionID: c.SessionID,
		Project:   c.Project,
		IPs:       c.IPs,
	}
	return out, nil
}

// wellFormed checks the compact serialization strictly before any JSON is parsed: bounded size,
// three segments, and canonical unpadded base64url, so that no two strings verify as the same
// token and oversized input costs nothing.
func wellFormed(raw string) bool {
	if len(raw) == 0 || len(raw) > MaxTokenLength {
		return false
	}
	header, rest, _ := strings.Cut(raw, ".")
	payload, sig, ok := strings.Cut(rest, ".")
	// Only the signature may be empty here; Verify then fails it as an invalid signature.
	return ok && header != "" && payload != "" &&
		canonicalSegment(header) && canonicalSegment(payload) && canonicalSegment(sig)
}

func isB64URL(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

// canonicalSegment reports whether seg is empty or unpadded base64url whose unused trailing bits
// are zero. A dot in seg (a fourth segment) fails the alphabet check.
func canonicalSegment(seg string) bool {
	for i := 0; i < len(seg); i++ {
		if !isB64URL(seg[i]) {
			return false
		}
	}
	if seg == "" {
		return true
	}
	var unused uint
	switch len(seg) % 4 {
	case 1:
		return false
	case 2:
		unused = 4
	case 3:
		unused = 2
	default:
		return true
	}
	return b64Value(seg[len(seg)-1])&(1<<unused-1) == 0
}

func b64Value(c byte) byte {
	switch {
	case 'A' <= c && c <= 'Z':
		return c - 'A'
	case 'a' <= c && c <= 'z':
		return c - 'a' + 26
	case '0' <= c && c <= '9':
		return c - '0' + 52
	case c == '-':
		return 62
	}
	return 63
}

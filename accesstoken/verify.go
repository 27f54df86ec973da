package accesstoken

import (
	"crypto"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/keyward/keyward/clientip"
)

// Reasons Verify refuses a token, for errors.Is. Each names what is wrong with the token, never
// its content, so callers can map them to messages safe to show whoever sent it. The time and
// iss/aud errors are go-jose's own, since its validation finds them.
var (
	ErrTooLong           = errors.New("accesstoken: token too long")
	ErrMalformed         = errors.New("accesstoken: not a compact JWS in canonical base64url")
	ErrAlgorithm         = errors.New("accesstoken: signature algorithm not allowed")
	ErrType              = errors.New("accesstoken: not an access token (typ must be at+jwt)")
	ErrCritical          = errors.New("accesstoken: critical header not understood")
	ErrUnsupportedHeader = errors.New("accesstoken: unsupported header")
	ErrNoKeyID           = errors.New("accesstoken: no kid")
	ErrUnknownKey        = errors.New("accesstoken: unknown signing key")
	ErrKeyAlgorithm      = errors.New("accesstoken: algorithm does not match the key")
	ErrSignature         = errors.New("accesstoken: invalid signature")
	ErrMalformedClaims   = errors.New("accesstoken: malformed claims")
	ErrIssuer            = jwt.ErrInvalidIssuer
	ErrAudience          = jwt.ErrInvalidAudience
	ErrExpired           = jwt.ErrExpired
	ErrNotYetValid       = jwt.ErrNotValidYet
	ErrIssuedInFuture    = jwt.ErrIssuedInTheFuture
	ErrMissingClaim      = errors.New("accesstoken: required claim missing")
	ErrSubject           = errors.New("accesstoken: subject is neither a key, a user nor a federation rule")
	ErrClientID          = errors.New("accesstoken: client_id does not match the key subject")
	ErrNetworks          = errors.New("accesstoken: malformed network restriction")
)

// Options say what Verify trusts. Issuer, Audience, Algorithms and Key are required: an empty
// one would silently skip its check, so Verify refuses to run without it.
type Options struct {
	// Algorithms is the allow-list; only asymmetric algorithms (see Asymmetric) may be in it.
	Algorithms []jose.SignatureAlgorithm
	// Key returns the public key named kid, or nil when there is none, and whether that key may
	// verify alg. Keys come only from here: jwk, jku, x5u and x5c headers are never read.
	Key func(kid string, alg jose.SignatureAlgorithm) (crypto.PublicKey, bool)
	// Issuer must equal iss; Audience must be one of aud.
	Issuer, Audience string
	// Leeway is the clock skew tolerated on exp, nbf and iat; negative means none.
	Leeway time.Duration
	// Time is the verification time; zero means now.
	Time time.Time
}

// Token is a verified access token.
type Token struct {
	Claims   Claims
	KeyID    string         // for a subject "key:<id>"
	UserID   string         // for a subject "user:<id>"
	RuleID   string         // for a subject "federated:<rule id>"
	Networks []netip.Prefix // Claims.IPs parsed; nil means any address
}

// asymmetric lists the algorithms an allow-list may name: signatures with a public key, so that
// nothing published in a JWKS can forge a token. HS256 and "none" are never accepted.
var asymmetric = []jose.SignatureAlgorithm{
	jose.ES256, jose.ES384, jose.ES512, jose.EdDSA,
	jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
}

// Asymmetric reports whether alg is a public-key signature algorithm Options.Algorithms may name.
func Asymmetric(alg jose.SignatureAlgorithm) bool { return slices.Contains(asymmetric, alg) }

// Verify checks raw strictly and returns its claims. A token keyward's server refuses is refused
// here too, with the same error, wherever Verify runs. Refusals wrap one of the Err values;
// any other error is a misconfiguration of opts.
func Verify(raw string, opts Options) (*Token, error) {
	if opts.Key == nil || opts.Issuer == "" || opts.Audience == "" || len(opts.Algorithms) == 0 {
		return nil, errors.New("accesstoken: Options need Algorithms, Key, Issuer and Audience")
	}
	for _, a := range opts.Algorithms {
		if !Asymmetric(a) {
			return nil, fmt.Errorf("accesstoken: algorithm %q is not an asymmetric signature", a)
		}
	}
	var c Claims
	if err := verifySigned(raw, opts.Algorithms, opts.Key, true, &c); err != nil {
		return nil, err
	}
	return check(&c, &opts)
}

// VerifySignature checks raw as Verify does up to its signature, and decodes its payload into
// dst: the size bound, canonical base64url, the algorithm allow-list (asymmetric algorithms
// only), no crit or b64 header, a kid that key knows and that may sign with the algorithm, and
// the signature. It checks no typ and no claim: it is for JWTs that are not keyward's access
// tokens, such as the identity tokens workload federation trades, whose claims the caller
// checks. Refusals wrap the same Err values as Verify's.
func VerifySignature(raw string, algs []jose.SignatureAlgorithm, key func(kid string, alg jose.SignatureAlgorithm) (crypto.PublicKey, bool), dst any) error {
	if key == nil || len(algs) == 0 {
		return errors.New("accesstoken: VerifySignature needs algorithms and a key")
	}
	for _, a := range algs {
		if !Asymmetric(a) {
			return fmt.Errorf("accesstoken: algorithm %q is not an asymmetric signature", a)
		}
	}
	return verifySigned(raw, algs, key, false, dst)
}

// verifySigned is the signature half of Verify; typed requires the access-token typ.
func verifySigned(raw string, algs []jose.SignatureAlgorithm, keyOf func(kid string, alg jose.SignatureAlgorithm) (crypto.PublicKey, bool), typed bool, dst any) error {
	if len(raw) > MaxLength {
		return ErrTooLong
	}
	if !wellFormed(raw) {
		return ErrMalformed
	}
	tok, err := jwt.ParseSigned(raw, algs)
	if err != nil {
		if _, ok := errors.AsType[*jose.ErrUnexpectedSignatureAlgorithm](err); ok {
			return ErrAlgorithm
		}
		return ErrMalformed
	}
	if len(tok.Headers) != 1 {
		return ErrMalformed
	}
	h := tok.Headers[0]
	typ, _ := h.ExtraHeaders[jose.HeaderType].(string)
	if typed && !strings.EqualFold(typ, Type) && !strings.EqualFold(typ, "application/"+Type) {
		return ErrType
	}
	// No JWS extension is understood, so any crit is unsupported (RFC 7515 §4.1.11). b64 is
	// refused too: go-jose honours it even without crit, and it changes what the signature covers.
	if _, ok := h.ExtraHeaders["crit"]; ok {
		return ErrCritical
	}
	if _, ok := h.ExtraHeaders["b64"]; ok {
		return ErrUnsupportedHeader
	}
	if h.KeyID == "" {
		return ErrNoKeyID
	}
	key, ok := keyOf(h.KeyID, jose.SignatureAlgorithm(h.Algorithm))
	switch {
	case key == nil:
		return ErrUnknownKey
	case !ok:
		return ErrKeyAlgorithm
	}
	if err := tok.Claims(key, dst); err != nil {
		if errors.Is(err, jose.ErrCryptoFailure) {
			return ErrSignature
		}
		return ErrMalformedClaims
	}
	return nil
}

// check validates the claims of a token whose signature holds.
func check(c *Claims, opts *Options) (*Token, error) {
	now := opts.Time
	if now.IsZero() {
		now = time.Now()
	}
	leeway := max(opts.Leeway, 0)
	std := jwt.Claims{Issuer: c.Issuer, Audience: c.Audience, Expiry: c.Expiry, NotBefore: c.NotBefore, IssuedAt: c.IssuedAt}
	if err := std.ValidateWithLeeway(jwt.Expected{Issuer: opts.Issuer, AnyAudience: jwt.Audience{opts.Audience}, Time: now}, leeway); err != nil {
		return nil, err
	}
	// go-jose still accepts the instant exp+leeway; RFC 7519 §4.1.4 wants now before it.
	if c.Expiry != nil && !now.Before(c.Expiry.Time().Add(leeway)) {
		return nil, ErrExpired
	}
	for _, m := range []struct {
		name    string
		missing bool
	}{{"exp", c.Expiry == nil}, {"iat", c.IssuedAt == nil}, {"sub", c.Subject == ""}, {"jti", c.ID == ""}} {
		if m.missing {
			return nil, fmt.Errorf("%w: %s", ErrMissingClaim, m.name)
		}
	}
	t := &Token{Claims: *c}
	if id, ok := strings.CutPrefix(c.Subject, SubjectKey); ok && id != "" {
		// A key's token is the key's own client; another client_id means it was not minted for
		// this key.
		if c.ClientID != id {
			return nil, ErrClientID
		}
		t.KeyID = id
	} else if id, ok := strings.CutPrefix(c.Subject, SubjectUser); ok && id != "" {
		t.UserID = id
	} else if id, ok := strings.CutPrefix(c.Subject, SubjectFederated); ok && id != "" && c.FederationRule == id {
		t.RuleID = id
	} else {
		return nil, ErrSubject
	}
	if len(c.IPs) > 0 {
		nets, err := clientip.ParseNetworks(c.IPs)
		if err != nil {
			// A restriction that cannot be read must never become no restriction.
			return nil, fmt.Errorf("%w: %v", ErrNetworks, err)
		}
		t.Networks = nets
	}
	return t, nil
}

// wellFormed checks the compact serialization before any JSON is parsed: three segments of
// canonical unpadded base64url, so that no two strings verify as the same token (which a cache
// keyed by the token's hash relies on) and odd input costs nothing.
func wellFormed(raw string) bool {
	header, rest, _ := strings.Cut(raw, ".")
	payload, sig, ok := strings.Cut(rest, ".")
	// Only the signature may be empty here; it then fails as an invalid signature.
	return ok && header != "" && payload != "" &&
		canonicalSegment(header) && canonicalSegment(payload) && canonicalSegment(sig)
}

// canonicalSegment reports whether seg is empty or unpadded base64url whose unused trailing bits
// are zero. A dot in seg (a fourth segment) fails the alphabet check.
func canonicalSegment(seg string) bool {
	for i := 0; i < len(seg); i++ {
		if b64Value(seg[i]) < 0 {
			return false
		}
	}
	var unused uint
	switch len(seg) % 4 {
	case 0:
		return true
	case 1:
		return false
	case 2:
		unused = 4
	case 3:
		unused = 2
	}
	return b64Value(seg[len(seg)-1])&(1<<unused-1) == 0
}

// b64Value is the value of a base64url character, or -1.
func b64Value(c byte) int {
	switch {
	case 'A' <= c && c <= 'Z':
		return int(c - 'A')
	case 'a' <= c && c <= 'z':
		return int(c-'a') + 26
	case '0' <= c && c <= '9':
		return int(c-'0') + 52
	case c == '-':
		return 62
	case c == '_':
		return 63
	}
	return -1
}

// Canonical reports whether raw is a compact JWS of three segments of canonical unpadded
// base64url, the form Verify accepts: other JWTs keyward checks (DPoP proofs) are held to it too,
// so that none has a second spelling.
func Canonical(raw string) bool { return wellFormed(raw) }

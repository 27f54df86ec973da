package token

import (
	"crypto"
	"errors"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/keyward/keyward"
	"github.com/keyward/keyward/accesstoken"
	"github.com/keyward/keyward/internal/keyring"
)

// allowedAlgs is the algorithm allow-list; a token must also use its key's own algorithm.
var allowedAlgs = []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA, jose.RS256}

// Verifier checks keyward's own access tokens (for the management API and introspection) with
// accesstoken.Verify, the check resource servers run too. Keys are resolved only through the
// keyring by kid.
type Verifier struct {
	Keys     *keyring.Keyring
	Issuer   string
	Audience string        // the token's aud must contain it
	Leeway   time.Duration // clock skew tolerated on exp, iat and nbf
	Now      func() time.Time
}

// Verify checks raw and returns its claims. Every refusal is an *keyward.Error with code
// EUNAUTHORIZED and a message safe to show the caller (see Unauthorized).
func (v *Verifier) Verify(raw string) (*Claims, error) {
	if v.Keys == nil || v.Issuer == "" || v.Audience == "" {
		return nil, errors.New("token: verifier needs keys, an issuer and an audience")
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	t, err := accesstoken.Verify(raw, accesstoken.Options{
		Algorithms: allowedAlgs,
		Key: func(kid string, alg jose.SignatureAlgorithm) (crypto.PublicKey, bool) {
			k, ok := v.Keys.Lookup(kid)
			if !ok {
				return nil, false
			}
			return k.Public, k.Alg == string(alg)
		},
		Issuer:   v.Issuer,
		Audience: v.Audience,
		Leeway:   v.Leeway,
		Time:     now(),
	})
	if err != nil {
		return nil, Unauthorized(err)
	}
	return fromWire(&t.Claims), nil
}

// refusals are the messages shown for accesstoken's refusals, first match wins.
var refusals = []struct {
	err error
	msg string
}{
	{accesstoken.ErrTooLong, "Malformed access token."},
	{accesstoken.ErrMalformed, "Malformed access token."},
	{accesstoken.ErrAlgorithm, "Access token uses a signing algorithm that is not allowed."},
	{accesstoken.ErrType, "Not an access token (typ must be at+jwt)."},
	{accesstoken.ErrCritical, "Access token has unsupported critical headers."},
	{accesstoken.ErrUnsupportedHeader, "Access token has unsupported headers."},
	{accesstoken.ErrNoKeyID, "Access token has no key id."},
	{accesstoken.ErrUnknownKey, "Access token is signed by an unknown key."},
	{accesstoken.ErrKeyAlgorithm, "Access token algorithm does not match its key."},
	{accesstoken.ErrSignature, "Access token signature is invalid."},
	{accesstoken.ErrMalformedClaims, "Malformed access token claims."},
	{accesstoken.ErrIssuer, "Access token is from another issuer."},
	{accesstoken.ErrAudience, "Access token is meant for another audience."},
	{accesstoken.ErrMissingClaim, "Access token lacks required claims."},
	{accesstoken.ErrExpired, "Access token expired."},
	{accesstoken.ErrIssuedInFuture, "Access token is issued in the future."},
	{accesstoken.ErrNotYetValid, "Access token is not valid yet."},
	{accesstoken.ErrSubject, "Access token subject is neither a key nor a user."},
	{accesstoken.ErrClientID, "Access token client_id does not match its subject."},
	{accesstoken.ErrNetworks, "Access token network restriction is malformed."},
}

// Unauthorized maps a refusal of accesstoken.Verify to the *keyward.Error EUNAUTHORIZED the
// server shows; any other error (a misconfiguration) passes through as an internal error.
func Unauthorized(err error) error {
	for _, r := range refusals {
		if errors.Is(err, r.err) {
			return &keyward.Error{Code: keyward.EUNAUTHORIZED, Message: r.msg}
		}
	}
	return err
}

package federation

import (
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/keyward/keyward"
	"github.com/keyward/keyward/accesstoken"
)

// Why Verify refuses a subject token. Each names the check that failed, so the operator of the
// workload can fix it, and nothing about the project's rules.
var (
	ErrMalformed      = errors.New("the subject token is not a well-formed signed JWT")
	ErrUnknownIssuer  = errors.New("the subject token's issuer is not trusted")
	ErrSignature      = errors.New("the subject token's signature does not verify with its issuer's keys")
	ErrExpired        = errors.New("the subject token has expired")
	ErrNoExpiry       = errors.New("the subject token has no exp")
	ErrNotYetValid    = errors.New("the subject token is not valid yet (nbf)")
	ErrIssuedInFuture = errors.New("the subject token was issued in the future (iat)")
	ErrAudience       = errors.New("the subject token's audience is not one the issuer is trusted for")
	ErrNoSubject      = errors.New("the subject token has no sub")
	ErrReplayed       = errors.New("the subject token was already used (jti)")
	ErrNoMatchingRule = errors.New("no rule lets this subject token in")
)

// Leeway is the clock skew tolerated on exp, nbf and iat.
const Leeway = 30 * time.Second

// Token is a verified identity token.
type Token struct {
	Issuer, Subject, JTI string
	Expiry               time.Time
	Claims               map[string]json.RawMessage
}

// Peek reads the iss of a token not verified yet, to find the issuers to verify it with. It
// trusts nothing it reads: Verify checks the signed payload says the same.
func Peek(raw string) (string, error) {
	if len(raw) > accesstoken.MaxLength {
		return "", ErrMalformed
	}
	claims, err := unverifiedClaims(raw)
	if err != nil {
		return "", err
	}
	var iss string
	if err := json.Unmarshal(claims["iss"], &iss); err != nil || iss == "" {
		return "", ErrMalformed
	}
	return iss, nil
}

func peekKID(raw string) string {
	header, _, _ := strings.Cut(raw, ".")
	b, err := base64.RawURLEncoding.DecodeString(header)
	if err != nil {
		return ""
	}
	var h struct {
		KID string `json:"kid"`
	}
	if json.Unmarshal(b, &h) != nil {
		return ""
	}
	return h.KID
}

// Verify checks raw, whose iss is the URL of issuers (one per project trusting it), and returns
// it with the issuers it satisfies: whose keys verify its signature and whose audiences it names.
// The keys of each distinct key source are tried; *Unavailable when none could be fetched.
func (k *Keys) Verify(ctx context.Context, raw string, issuers []*keyward.FederationIssuer, now time.Time) (*Token, []*keyward.FederationIssuer, error) {
	if len(issuers) == 0 {
		return nil, nil, ErrUnknownIssuer
	}
	kid := peekKID(raw)
	var (
		tok      *Token
		verified []*keyward.FederationIssuer
		firstErr error
		tried    = map[source]error{}
	)
	for _, i := range issuers {
		src := source{i.Issuer, i.JWKSURI}
		err, done := tried[src]
		if !done {
			var t *Token
			t, err = k.verifyWith(ctx, raw, src, kid)
			tried[src] = err
			if err == nil {
				tok = t
			}
		}
		if err != nil {
			if firstErr == nil || errors.As(firstErr, new(*Unavailable)) && !errors.As(err, new(*Unavailable)) {
				firstErr = err
			}
			continue
		}
		verified = append(verified, i)
	}
	if len(verified) == 0 {
		return nil, nil, firstErr
	}
	if err := checkTimes(tok, now); err != nil {
		return nil, nil, err
	}
	aud, err := audiences(tok.Claims["aud"])
	if err != nil {
		return nil, nil, err
	}
	var out []*keyward.FederationIssuer
	for _, i := range verified {
		if slices.ContainsFunc(aud, func(a string) bool { return slices.Contains(i.Audiences, a) }) {
			out = append(out, i)
		}
	}
	if len(out) == 0 {
		return nil, nil, ErrAudience
	}
	return tok, out, nil
}

// verifyWith checks raw's signature with the keys of src and reads its claims.
func (k *Keys) verifyWith(ctx context.Context, raw string, src source, kid string) (*Token, error) {
	var key crypto.PublicKey
	var alg jose.SignatureAlgorithm
	if kid != "" {
		var err error
		if key, alg, err = k.Key(ctx, src.issuer, src.jwksURI, kid); err != nil {
			return nil, err
		}
	}
	var claims map[string]json.RawMessage
	err := accesstoken.VerifySignature(raw, Algorithms, func(id string, a jose.SignatureAlgorithm) (crypto.PublicKey, bool) {
		if key == nil || id != kid {
			return nil, false
		}
		return key, a == alg
	}, &claims)
	switch {
	case errors.Is(err, accesstoken.ErrTooLong), errors.Is(err, accesstoken.ErrMalformed), errors.Is(err, accesstoken.ErrMalformedClaims):
		return nil, ErrMalformed
	case errors.Is(err, accesstoken.ErrAlgorithm):
		return nil, fmt.Errorf("%w (the algorithm is not an allowed asymmetric one)", ErrSignature)
	case errors.Is(err, accesstoken.ErrNoKeyID), errors.Is(err, accesstoken.ErrUnknownKey):
		return nil, fmt.Errorf("%w (the issuer has no key with its kid)", ErrSignature)
	case errors.Is(err, accesstoken.ErrKeyAlgorithm):
		return nil, fmt.Errorf("%w (its algorithm is not its key's)", ErrSignature)
	case err != nil:
		return nil, ErrSignature
	}
	t := &Token{Claims: claims}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"iss", &t.Issuer}, {"sub", &t.Subject}, {"jti", &t.JTI}} {
		if raw, ok := claims[f.name]; ok && json.Unmarshal(raw, f.dst) != nil {
			return nil, ErrMalformed
		}
	}
	if t.Issuer != src.issuer {
		return nil, ErrUnknownIssuer // the signed iss is not the one peeked
	}
	if t.Subject == "" {
		return nil, ErrNoSubject
	}
	return t, nil
}

// checkTimes checks exp (required), nbf and iat with Leeway.
func checkTimes(t *Token, now time.Time) error {
	date := func(name string) (time.Time, bool, error) {
		raw, ok := t.Claims[name]
		if !ok {
			return time.Time{}, false, nil
		}
		var d jwt.NumericDate
		if err := json.Unmarshal(raw, &d); err != nil {
			return time.Time{}, false, ErrMalformed
		}
		return d.Time(), true, nil
	}
	exp, ok, err := date("exp")
	if err != nil {
		return err
	} else if !ok {
		return ErrNoExpiry
	} else if !now.Before(exp.Add(Leeway)) {
		return ErrExpired
	}
	t.Expiry = exp
	if nbf, ok, err := date("nbf"); err != nil {
		return err
	} else if ok && now.Add(Leeway).Before(nbf) {
		return ErrNotYetValid
	}
	if iat, ok, err := date("iat"); err != nil {
		return err
	} else if ok && now.Add(Leeway).Before(iat) {
		return ErrIssuedInFuture
	}
	return nil
}

// audiences reads aud: a string or an array of strings.
func audiences(raw json.RawMessage) ([]string, error) {
	if raw == nil {
		return nil, ErrAudience
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, ErrMalformed
	}
	return many, nil
}

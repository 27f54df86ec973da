package federation

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/keyward/keyward"
)

// Explanation says what the token endpoint would make of a subject token for one project, for
// the operator who pastes it: whether the token itself passes, and for each rule of its issuer,
// which conditions it misses. Nothing is spent: its jti stays usable.
type Explanation struct {
	Issuer  *keyward.FederationIssuer // the project's issuer of the token's iss; nil: none
	Refused error                     // why the token itself is refused; nil: it passes
	// Claims are the token's claims as JSON text, by name; read unverified when Refused.
	Claims []Claim
	Rules  []Verdict // the rules of Issuer
}

// Claim is one claim of a token.
type Claim struct{ Name, Value string }

// Verdict is what one rule makes of the token's claims: no mismatch, it matches.
type Verdict struct {
	Rule       *keyward.FederationRule
	Mismatches []Mismatch
}

// Explain checks raw as the token endpoint would against a project's issuers and rules.
func (k *Keys) Explain(ctx context.Context, raw string, issuers []*keyward.FederationIssuer, rules []*keyward.FederationRule, now time.Time) *Explanation {
	e := &Explanation{}
	claims, err := unverifiedClaims(raw)
	if err != nil {
		e.Refused = ErrMalformed
		return e
	}
	e.Claims = claimList(claims)
	iss, err := Peek(raw)
	if err != nil {
		e.Refused = err
		return e
	}
	for _, i := range issuers {
		if i.Issuer == iss {
			e.Issuer = i
		}
	}
	if e.Issuer == nil {
		e.Refused = ErrUnknownIssuer
		return e
	}
	if tok, _, err := k.Verify(ctx, raw, []*keyward.FederationIssuer{e.Issuer}, now); err != nil {
		e.Refused = err
	} else {
		claims = tok.Claims
	}
	for _, r := range rules {
		if r.IssuerID == e.Issuer.ID {
			e.Rules = append(e.Rules, Verdict{Rule: r, Mismatches: Match(r.Conditions, claims)})
		}
	}
	return e
}

// Matched lists the rules that match.
func (e *Explanation) Matched() []*keyward.FederationRule {
	var out []*keyward.FederationRule
	for _, v := range e.Rules {
		if len(v.Mismatches) == 0 {
			out = append(out, v.Rule)
		}
	}
	return out
}

func unverifiedClaims(raw string) (map[string]json.RawMessage, error) {
	parts := strings.Split(raw, ".")
	if len(raw) > 16<<10 || len(parts) != 3 {
		return nil, ErrMalformed
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, ErrMalformed
	}
	var claims map[string]json.RawMessage
	if err := json.Unmarshal(payload, &claims); err != nil {
		return nil, ErrMalformed
	}
	return claims, nil
}

func claimList(claims map[string]json.RawMessage) []Claim {
	out := make([]Claim, 0, len(claims))
	for name, v := range claims {
		text, ok := claimText(v)
		if !ok {
			text = string(v)
		}
		out = append(out, Claim{name, text})
	}
	slices.SortFunc(out, func(a, b Claim) int { return strings.Compare(a.Name, b.Name) })
	return out
}

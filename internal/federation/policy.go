package federation

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Preset is a kind of issuer keyward knows: it fills in the issuer URL where there is one and
// names the claims every rule on it must pin to an exact value.
type Preset struct {
	Name   string
	Issuer string // "" when each installation has its own (a Kubernetes cluster)
	// Shared: the issuer vouches for every user of a public service, so a rule that pins
	// nothing of the caller's own would let strangers in.
	Shared bool
	Pinned []string
}

// Presets are the known kinds of issuer, by name.
var Presets = map[string]Preset{
	"github-actions": {Name: "github-actions", Issuer: "https://token.actions.githubusercontent.com", Shared: true,
		Pinned: []string{"repository_owner_id", "repository_id"}},
	"gitlab-ci":  {Name: "gitlab-ci", Issuer: "https://gitlab.com", Shared: true, Pinned: []string{"namespace_id", "project_id"}},
	"kubernetes": {Name: "kubernetes", Pinned: []string{"sub"}},
}

// PresetOf returns the preset that governs an issuer: the one it names, or the one whose public
// issuer URL it uses without naming it, so that nobody escapes the pinning by leaving it out.
func PresetOf(issuerURL, preset string) (Preset, bool) {
	if p, ok := Presets[preset]; ok {
		return p, true
	}
	for _, p := range Presets {
		if p.Issuer != "" && p.Issuer == issuerURL {
			return p, true
		}
	}
	return Preset{}, false
}

// CheckRuleConditions enforces what a rule's conditions must be on an issuer governed by p
// (ok false: none): every pinned claim has an exact value, and a shared issuer needs at least
// one condition.
func CheckRuleConditions(conds map[string]string, p Preset, ok bool) error {
	if !ok {
		return nil
	}
	for _, claim := range p.Pinned {
		v, set := conds[claim]
		if !set || strings.ContainsAny(v, "*?") {
			return fmt.Errorf("rules on a %s issuer must pin these claims to exact values: %s", p.Name, strings.Join(p.Pinned, ", "))
		}
	}
	if p.Shared && len(conds) == 0 {
		return fmt.Errorf("the %s issuer vouches for everyone who uses it: a rule needs conditions", p.Name)
	}
	return nil
}

// Bounds of what an operator writes.
const (
	MaxConditions   = 20
	maxClaimName    = 100
	maxConditionLen = 500
	MaxAudiences    = 10
	maxAudience     = 200
	maxURL          = 500
)

// CheckConditions checks the syntax of a rule's conditions: claim names and values of printable
// text, a value being exact or a glob (see Glob).
func CheckConditions(conds map[string]string) error {
	if len(conds) > MaxConditions {
		return fmt.Errorf("a rule has at most %d conditions", MaxConditions)
	}
	for claim, v := range conds {
		if claim == "" || len(claim) > maxClaimName || !printable(claim) {
			return fmt.Errorf("a claim name is 1 to %d printable characters", maxClaimName)
		}
		if v == "" || len(v) > maxConditionLen || !printable(v) {
			return fmt.Errorf("the condition on %q must be 1 to %d printable characters", claim, maxConditionLen)
		}
	}
	return nil
}

// CheckAudiences checks the audiences a trusted issuer's tokens must name one of.
func CheckAudiences(auds []string) error {
	if len(auds) == 0 || len(auds) > MaxAudiences {
		return fmt.Errorf("give 1 to %d audiences", MaxAudiences)
	}
	for _, a := range auds {
		if a == "" || len(a) > maxAudience || !printable(a) || strings.ContainsAny(a, " \t") {
			return fmt.Errorf("an audience is 1 to %d printable characters without spaces", maxAudience)
		}
	}
	return nil
}

func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return false
		}
	}
	return true
}

// CheckURL accepts the URL of an issuer or of a key set: https with a host, no user, query or
// fragment. allowInsecure admits http to a loopback address as well (tests, a local issuer):
// without it nothing keyward fetches travels in clear or is aimed at the machine itself by
// whoever may write a project's federation settings.
func CheckURL(raw string, allowInsecure bool) error {
	if len(raw) > maxURL {
		return fmt.Errorf("the URL is longer than %d characters", maxURL)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" || strings.HasSuffix(raw, "?") || strings.HasSuffix(raw, "#") {
		return fmt.Errorf("%q is not an absolute URL without user, query or fragment", raw)
	}
	switch {
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && allowInsecure && loopback(u.Hostname()):
		return nil
	case u.Scheme == "http" && allowInsecure:
		return fmt.Errorf("%q: plain http is allowed only to a loopback address", raw)
	}
	return fmt.Errorf("%q must use https", raw)
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Why a rule does not match a token; Explain returns them, the token endpoint never shows them.
type Mismatch struct {
	Claim  string
	Reason string // "missing", "differs", "not a string or number"
}

// Match reports which conditions of a rule claims fail; none: the rule matches. A value is
// compared with its claim's JSON text for a number or a boolean and the string itself for a
// string; anything else never matches.
func Match(conds map[string]string, claims map[string]json.RawMessage) []Mismatch {
	var out []Mismatch
	names := make([]string, 0, len(conds))
	for c := range conds {
		names = append(names, c)
	}
	slices.Sort(names)
	for _, name := range names {
		raw, ok := claims[name]
		if !ok {
			out = append(out, Mismatch{name, "missing"})
			continue
		}
		v, ok := claimText(raw)
		if !ok {
			out = append(out, Mismatch{name, "not a string, number or boolean"})
			continue
		}
		if !Glob(conds[name], v) {
			out = append(out, Mismatch{name, "differs"})
		}
	}
	return out
}

// claimText is the text a condition is compared with.
func claimText(raw json.RawMessage) (string, bool) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, true
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		return n.String(), true
	}
	var b bool
	if err := json.Unmarshal(raw, &b); err == nil {
		return strconv.FormatBool(b), true
	}
	return "", false
}

// Glob reports whether s matches pattern, in which * stands for any run of characters (slashes
// too: a GitHub sub "repo:octo/app:*" covers every ref) and ? for any one; every other character
// stands for itself. It runs in O(len(pattern)·len(s)) at worst, however the pattern is made.
func Glob(pattern, s string) bool {
	p, t := []rune(pattern), []rune(s)
	pi, ti := 0, 0
	star, mark := -1, 0
	for ti < len(t) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == t[ti]):
			pi++
			ti++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, ti
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			ti = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

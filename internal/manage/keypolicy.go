package manage

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/keyward/keyward"
)

// MaxKeyLifetime bounds a project's maximum key lifetime: far above any sensible rotation, far
// below where adding it to a time overflows.
const MaxKeyLifetime = 100 * 365 * 24 * time.Hour

// KeyPolicyInput is a project's key policy as a caller sets it: whole, what is left out off.
type KeyPolicyInput struct {
	RequireExpiry bool
	// MaxLifetime is a Go duration ("2160h"); "0" or "" is none.
	MaxLifetime string
	RequireIPs  bool
}

// ParseMaxLifetime reads a maximum key lifetime: a Go duration from one hour to MaxKeyLifetime,
// or "0" or "" for none. Its errors are *FieldError of "max_lifetime".
func ParseMaxLifetime(s string) (time.Duration, error) {
	if s == "" || s == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < time.Hour || d > MaxKeyLifetime {
		return 0, fieldErr("max_lifetime", keyward.EINVALID,
			"The maximum lifetime must be a duration from 1h to %s, such as 2160h for 90 days, or 0 for none.", keyward.FormatLifetime(MaxKeyLifetime))
	}
	return d, nil
}

// SetKeyPolicy replaces what the project requires of its keys. It needs what renaming needs
// (MayRename), as the project's other settings do. Keys already issued keep working: the policy
// reaches each at its next change of expiry or networks, and at its next roll.
func (a *Access) SetKeyPolicy(ctx context.Context, in KeyPolicyInput) (*keyward.Project, error) {
	if err := a.MayRename(); err != nil {
		return nil, err
	}
	d, err := ParseMaxLifetime(in.MaxLifetime)
	if err != nil {
		return nil, err
	}
	p := keyward.KeyPolicy{RequireExpiry: in.RequireExpiry, MaxLifetime: d, RequireIPs: in.RequireIPs}
	if p == a.Project.KeyPolicy {
		return a.Project, nil
	}
	s := a.svc
	project, err := s.Store.SetProjectKeyPolicy(ctx, a.Project.ID, p)
	if err != nil {
		return nil, err
	}
	a.Project = project
	s.audit(ctx, a.caller, &keyward.AuditEvent{
		ProjectID: project.ID, At: s.Now(), Action: keyward.AuditProjectKeyPolicySet, Target: "project:" + project.ID,
		Detail: keyward.FormatKeyPolicy(p),
	})
	return project, nil
}

// Which rules of a key policy a check applies.
const (
	policyExpiry = 1 << iota
	policyIPs
	policyAll = policyExpiry | policyIPs
)

// checkKeyPolicy is the one check of a project's key policy: the key with networks ips and
// expiry expires, set at now, must meet the rules in which. Its errors are *FieldError of
// "expires_at" or "ips", one clear sentence each, shown as they are by the API, the CLI and the
// dashboard.
func checkKeyPolicy(p keyward.KeyPolicy, which int, ips []netip.Prefix, expires *time.Time, now time.Time) error {
	if which&policyExpiry != 0 {
		switch {
		case p.MaxLifetime > 0 && (expires == nil || expires.Sub(now) > p.MaxLifetime):
			return fieldErr("expires_at", keyward.EINVALID, "This project requires API keys to expire within %s.", DescribeLifetime(p.MaxLifetime))
		case p.RequireExpiry && expires == nil:
			return fieldErr("expires_at", keyward.EINVALID, "This project requires API keys to expire: give an expiry.")
		}
	}
	if which&policyIPs != 0 && p.RequireIPs && len(ips) == 0 {
		return fieldErr("ips", keyward.EINVALID, "This project requires API keys to be restricted to IP addresses: give at least one address or network.")
	}
	return nil
}

// DescribeLifetime writes a maximum lifetime for people: "90 days (2160h)", or "36h" when it is
// no whole number of days.
func DescribeLifetime(d time.Duration) string {
	const day = 24 * time.Hour
	switch {
	case d == day:
		return "1 day (24h)"
	case d%day == 0:
		return fmt.Sprintf("%d days (%s)", d/day, keyward.FormatLifetime(d))
	}
	return keyward.FormatLifetime(d)
}

// DescribeKeyPolicy lists what the project requires of its keys, for people ("" when nothing):
// the require_dpop setting is part of it, though it is enforced at the token endpoint.
func DescribeKeyPolicy(p *keyward.Project) string {
	var out []string
	switch {
	case p.KeyPolicy.MaxLifetime > 0:
		out = append(out, "an expiry within "+DescribeLifetime(p.KeyPolicy.MaxLifetime))
	case p.KeyPolicy.RequireExpiry:
		out = append(out, "an expiry")
	}
	if p.KeyPolicy.RequireIPs {
		out = append(out, "an IP restriction")
	}
	if p.RequireDPoP {
		out = append(out, "DPoP proofs")
	}
	return strings.Join(out, ", ")
}

// checkEditPolicy applies the policy to the fields an edit changes: a new expiry or new networks
// must conform, while an edit of anything else (a name, a permission, the same expiry sent
// again by a form) leaves an older key as it was.
func checkEditPolicy(p keyward.KeyPolicy, before, after *keyward.APIKey, now time.Time) error {
	which := 0
	if !sameTime(before.ExpiresAt, after.ExpiresAt) {
		which |= policyExpiry
	}
	if !slices.Equal(before.IPs, after.IPs) {
		which |= policyIPs
	}
	return checkKeyPolicy(p, which, after.IPs, after.ExpiresAt, now)
}

// checkRollPolicy refuses a new secret to a key that does not meet the policy, so that a policy
// reaches the keys issued before it at their next roll. The key is edited first, then rolled.
func checkRollPolicy(p keyward.KeyPolicy, k *keyward.APIKey, now time.Time) error {
	err := checkKeyPolicy(p, policyAll, k.IPs, k.ExpiresAt, now)
	var fe *FieldError
	if !errors.As(err, &fe) {
		return err
	}
	what := "expiry"
	if fe.Field == "ips" {
		what = "IP addresses"
	}
	return keyward.Errorf(keyward.ECONFLICT, "%s Change the key's %s first, then roll it.", fe.Message, what)
}

func sameTime(a, b *time.Time) bool {
	return a == nil && b == nil || a != nil && b != nil && a.Equal(*b)
}

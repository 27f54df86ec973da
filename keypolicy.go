package keyward

import (
	"context"
	"fmt"
	"time"
)

// KeyPolicy is what a project requires of its API keys, checked whenever a key gets a new
// expiry, new networks or a new secret (manage.CheckKeyPolicy). The zero value requires nothing.
type KeyPolicy struct {
	// RequireExpiry: every key must have an expiry.
	RequireExpiry bool
	// MaxLifetime: every key must expire within this of the change that sets it; 0 is no
	// maximum. A maximum implies RequireExpiry.
	MaxLifetime time.Duration
	// RequireIPs: every key must be restricted to networks.
	RequireIPs bool
}

// KeyPolicyStore holds the projects' key policies.
type KeyPolicyStore interface {
	// SetProjectKeyPolicy replaces the project's key policy and returns the project as it now
	// is. Keys already issued are not changed. ENOTFOUND when the project does not exist.
	SetProjectKeyPolicy(ctx context.Context, id string, p KeyPolicy) (*Project, error)
}

// AuditProjectKeyPolicySet records a change of a project's key policy; Detail is the policy as
// set, in the words of FormatKeyPolicy.
const AuditProjectKeyPolicySet = "project.key_policy"

// FormatLifetime writes a maximum lifetime as the API takes it back: whole hours as "2160h",
// anything else as time.Duration does, and none as "0".
func FormatLifetime(d time.Duration) string {
	if d == 0 {
		return "0"
	}
	if d%time.Hour == 0 {
		return fmt.Sprintf("%dh", d/time.Hour)
	}
	return d.String()
}

// FormatKeyPolicy writes p as name=value pairs, for audit events.
func FormatKeyPolicy(p KeyPolicy) string {
	return fmt.Sprintf("require_expiry=%t max_lifetime=%s require_ips=%t", p.RequireExpiry, FormatLifetime(p.MaxLifetime), p.RequireIPs)
}

package keyward

import (
	"context"
)

// DPoPStore holds the settings that require proof-of-possession tokens (RFC 9449) of a project;
// the settings of keys and roles are edits of them (APIKeyChange, RoleChange).
type DPoPStore interface {
	// SetProjectRequireDPoP sets whether the project's keys exchange only with a DPoP proof and
	// returns the project as it now is. It raises the revision of every key of the project, so
	// that no copy of a key read before (the token endpoint's cache) exchanges without a proof
	// once it commits. ENOTFOUND when the project does not exist.
	SetProjectRequireDPoP(ctx context.Context, id string, require bool) (*Project, error)
}

// AuditProjectRequireDPoPSet records a change of a project's require_dpop; Detail:
// "require_dpop=true" or false.
const AuditProjectRequireDPoPSet = "project.require_dpop"

// NeedsDPoP reports whether the key exchanges only with a DPoP proof: it requires one, or its
// role or its project does.
func (k *APIKey) NeedsDPoP() bool {
	return k.RequireDPoP || k.ProjectRequireDPoP || k.Role != nil && k.Role.RequireDPoP
}

package manage

import (
	"context"

	"github.com/keyward/keyward"
)

// SetRequireDPoP sets whether the project's keys exchange only with a DPoP proof (RFC 9449). It
// needs what renaming needs (MayRename), as the project's other settings do.
func (a *Access) SetRequireDPoP(ctx context.Context, require bool) (*keyward.Project, error) {
	if err := a.MayRename(); err != nil {
		return nil, err
	}
	if require == a.Project.RequireDPoP {
		return a.Project, nil
	}
	return a.setSetting(ctx, a.svc.Store.SetProjectRequireDPoP, keyward.AuditProjectRequireDPoPSet, "require_dpop", require)
}

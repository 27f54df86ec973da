package manage

import (
	"context"
	"strconv"

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
	s := a.svc
	p, err := s.Store.SetProjectRequireDPoP(ctx, a.Project.ID, require)
	if err != nil {
		return nil, err
	}
	a.Project = p
	s.audit(ctx, a.caller, &keyward.AuditEvent{
		ProjectID: p.ID, At: s.Now(), Action: keyward.AuditProjectRequireDPoPSet, Target: "project:" + p.ID,
		Detail: "require_dpop=" + strconv.FormatBool(require),
	})
	return p, nil
}

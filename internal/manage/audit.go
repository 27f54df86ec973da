package manage

import (
	"context"

	"github.com/keyward/keyward"
)

// PermAuditView is the permission that reads a project's audit log.
const PermAuditView = "audit-view"

// Audit page sizes.
const (
	AuditDefaultLimit = 50
	AuditMaxLimit     = 200
)

// Audit returns up to limit of the project's audit events with an id below before (0: from the
// newest), newest first, and the before of the next, older page (0 on the last page). It needs
// audit-view.
func (a *Access) Audit(ctx context.Context, before int64, limit int) ([]*keyward.AuditEvent, int64, error) {
	if err := a.Require(PermAuditView); err != nil {
		return nil, 0, err
	}
	if limit < 1 || limit > AuditMaxLimit || before < 0 {
		return nil, 0, keyward.Errorf(keyward.EINVALID, "A page holds 1 to %d events.", AuditMaxLimit)
	}
	// One more than asked tells whether an older page exists without a second query.
	events, err := a.svc.Store.AuditEvents(ctx, a.Project.ID, before, limit+1)
	if err != nil {
		return nil, 0, err
	}
	var next int64
	if len(events) > limit {
		events = events[:limit]
		next = events[limit-1].ID
	}
	return events, next, nil
}

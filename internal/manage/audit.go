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

// Audit returns one page of the project's audit events, newest first, and the cursor of the next,
// older page ("" on the last); p.Search narrows it as keyward.Store's AuditPage says, and p.Limit
// is 1 to AuditMaxLimit. It needs audit-view.
func (a *Access) Audit(ctx context.Context, p keyward.Page) ([]*keyward.AuditEvent, string, error) {
	if err := a.Require(PermAuditView); err != nil {
		return nil, "", err
	}
	if err := checkPage(p, AuditMaxLimit); err != nil {
		return nil, "", err
	}
	return a.svc.Store.AuditPage(ctx, a.Project.ID, p)
}

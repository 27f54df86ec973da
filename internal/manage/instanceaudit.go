package manage

import (
	"context"

	"github.com/keyward/keyward"
)

// InstanceAudit returns one page of the instance's audit events (those of no project: sign-ins,
// failed sign-ins, users), newest first, narrowed by p.Search as keyward.Store's AuditPage says.
// Only an instance administrator may read it; anyone else is told the path does not exist, as
// for AllProjects, since failed sign-ins name the addresses people typed.
func (s *Service) InstanceAudit(ctx context.Context, c Caller, p keyward.Page) ([]*keyward.AuditEvent, string, error) {
	if !isAdmin(c.Principal) {
		return nil, "", errNoSuchPath
	}
	if err := checkPage(p, AuditMaxLimit); err != nil {
		return nil, "", err
	}
	return s.Store.AuditPage(ctx, "", p)
}

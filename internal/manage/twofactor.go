package manage

import (
	"context"
	"strconv"

	"github.com/keyward/keyward"
)

// Enrol2FAPath is the dashboard page where a person turns two-factor sign-in on.
const Enrol2FAPath = "/account/2fa"

// secondFactorGate refuses u in a project that requires a second factor while u has none. It is
// asked after the membership is found, so only members learn that the project exists. Keys are
// not people: they keep working whatever their owner's second factor (docs/decisions.md).
func (a Authorizer) secondFactorGate(ctx context.Context, u *keyward.User, projectID string) error {
	project, err := a.Store.ProjectByID(ctx, projectID)
	if err != nil {
		return err
	}
	if !project.Require2FA {
		return nil
	}
	has, err := a.Store.HasSecondFactor(ctx, u.ID)
	if err != nil {
		return err
	}
	if !has {
		return keyward.Errorf(keyward.EFORBIDDEN,
			"Project %q requires two-factor sign-in: turn it on in the dashboard at %s, then try again.", project.Name, Enrol2FAPath)
	}
	return nil
}

// SetRequire2FA sets whether the project refuses members without a second factor. It needs what
// renaming needs (MayRename). Turning it on needs a caller who is a user with a second factor, so
// that nobody locks themselves out of the project by setting it.
func (a *Access) SetRequire2FA(ctx context.Context, require bool) (*keyward.Project, error) {
	s := a.svc
	if err := a.MayRename(); err != nil {
		return nil, err
	}
	if require && !a.Project.Require2FA {
		u := a.caller.Principal.User
		if u == nil {
			return nil, fieldErr("require_2fa", keyward.EFORBIDDEN, "Only a person can require two-factor sign-in; sign in as a user.")
		}
		has, err := s.Store.HasSecondFactor(ctx, u.ID)
		if err != nil {
			return nil, err
		}
		if !has {
			return nil, fieldErr("require_2fa", keyward.EFORBIDDEN,
				"Turn on two-factor sign-in for yourself first (%s), or the project would refuse you too.", Enrol2FAPath)
		}
	}
	if require == a.Project.Require2FA {
		return a.Project, nil
	}
	return a.setSetting(ctx, s.Store.SetProjectRequire2FA, keyward.AuditProjectRequire2FASet, "require_2fa", require)
}

// setSetting stores one of the project's boolean settings through set and audits the change as
// action, with the detail name=value.
func (a *Access) setSetting(ctx context.Context, set func(ctx context.Context, id string, v bool) (*keyward.Project, error),
	action, name string, value bool) (*keyward.Project, error) {
	s := a.svc
	p, err := set(ctx, a.Project.ID, value)
	if err != nil {
		return nil, err
	}
	a.Project = p
	s.audit(ctx, a.caller, &keyward.AuditEvent{
		ProjectID: p.ID, At: s.Now(), Action: action, Target: "project:" + p.ID,
		Detail: name + "=" + strconv.FormatBool(value),
	})
	return p, nil
}

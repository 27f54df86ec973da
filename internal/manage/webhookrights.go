package manage

import (
	"context"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/authn"
)

// WebhookRights answers the webhook sender: a webhook acts for its owner, so it delivers an
// event only while the owner, an enabled user, could manage the project's API keys, and see its
// members for member events. A member removed, disabled or reduced stops receiving at once,
// including what was queued before.
type WebhookRights struct{ Service *Service }

// MaySee reports whether user userID may receive an event of type eventType of the project.
func (r WebhookRights) MaySee(ctx context.Context, projectID, userID, eventType string) (bool, error) {
	s := r.Service
	u, err := s.Store.UserByID(ctx, userID)
	if keyward.ErrorCode(err) == keyward.ENOTFOUND {
		return false, nil
	} else if err != nil {
		return false, err
	}
	if u.Disabled {
		return false, nil
	}
	p := &authn.Principal{Subject: "user:" + u.ID, User: u, Session: &keyward.Session{Kind: keyward.SessionUser, UserID: u.ID}}
	held, err := s.authz().Held(ctx, p, projectID)
	switch keyward.ErrorCode(err) {
	case "":
	case keyward.ENOTFOUND, keyward.EFORBIDDEN: // no member, or one the project's 2FA rule shuts out
		return false, nil
	default:
		return false, err
	}
	as := &Access{Project: &keyward.Project{ID: projectID}, Perms: held.Perms, owner: held.Owner, svc: s}
	if as.Require(PermKeysManage) != nil {
		return false, nil
	}
	if keyward.IsMemberEvent(eventType) && as.Require(PermMembersView) != nil {
		return false, nil
	}
	return true, nil
}

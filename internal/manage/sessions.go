package manage

import (
	"context"

	"github.com/keyward/keyward"
)

// MaxOwnSessions bounds the token sessions a person's sessions page lists.
const MaxOwnSessions = 100

// ReasonRevokedByUser is the revoke reason of a session its own user ended.
const ReasonRevokedByUser = "revoked_by_user"

var errNoSuchSession = keyward.Errorf(keyward.ENOTFOUND, "The session was not found; it may have ended already.")

// OwnSessions lists the caller's live token sessions (user sessions, never key sessions), newest
// first. Only a signed-in person has any.
func (s *Service) OwnSessions(ctx context.Context, c Caller) ([]*keyward.Session, error) {
	if c.Principal == nil || c.Principal.User == nil {
		return nil, nil
	}
	return s.Store.UserSessions(ctx, c.Principal.User.ID, s.Now(), MaxOwnSessions)
}

// RevokeOwnSession ends one of the caller's own token sessions through the revocation feed, so
// its access tokens stop within a second wherever they are verified. Any other session, a key's
// or another person's, is not found, whether it exists or not.
func (s *Service) RevokeOwnSession(ctx context.Context, c Caller, id string) error {
	if c.Principal == nil || c.Principal.User == nil {
		return errNoSuchSession
	}
	sess, err := s.Store.Session(ctx, id)
	if keyward.ErrorCode(err) == keyward.ENOTFOUND {
		return errNoSuchSession
	} else if err != nil {
		return err
	}
	if sess.Kind != keyward.SessionUser || sess.UserID != c.Principal.User.ID {
		return errNoSuchSession
	}
	now := s.Now()
	if err := s.Store.RevokeSession(ctx, id, ReasonRevokedByUser, now); err != nil {
		return err
	}
	s.audit(ctx, c, &keyward.AuditEvent{At: now, Action: keyward.AuditSessionRevoked, Target: "session:" + id,
		Detail: ReasonRevokedByUser})
	return nil
}

package manage

import (
	"context"
	"crypto/sha256"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/authn"
	"github.com/keyward/keyward/internal/password"
)

// ResetLinkTTL is how long a password reset link works: long enough to hand it over by another
// channel and use it, short enough that one found later in a chat log is worthless.
const ResetLinkTTL = time.Hour

// resetSecretLen is the length of a reset link's secret in base62 characters: 43 carry 256 bits.
const resetSecretLen = 43

var errNoSuchUser = keyward.Errorf(keyward.ENOTFOUND, "User not found.")

// UserPage returns one page of the instance's users ordered by email (see keyward.Store's
// UserPage for the search). Only an instance administrator may; anyone else is told the path
// does not exist.
func (s *Service) UserPage(ctx context.Context, c Caller, p keyward.Page) ([]*keyward.User, string, error) {
	if !isAdmin(c.Principal) {
		return nil, "", errNoSuchPath
	}
	if err := checkPage(p, PageMaxLimit); err != nil {
		return nil, "", err
	}
	users, next, err := s.Store.UserPage(ctx, p)
	if err != nil {
		return nil, "", err
	}
	// Whether each has a second factor: what an administrator checks before requiring one.
	for _, u := range users {
		if u.SecondFactor, err = s.Store.HasSecondFactor(ctx, u.ID); err != nil {
			return nil, "", err
		}
	}
	return users, next, nil
}

// User returns the user id names, for an instance administrator's page about them; anyone else
// is told the path does not exist.
func (s *Service) User(ctx context.Context, c Caller, id string) (*keyward.User, error) {
	return s.adminTarget(ctx, c, id)
}

// adminTarget admits an instance administrator acting on the user id names, and returns that
// user as it is now.
func (s *Service) adminTarget(ctx context.Context, c Caller, id string) (*keyward.User, error) {
	if !isAdmin(c.Principal) {
		return nil, errNoSuchPath
	}
	u, err := s.Store.UserByID(ctx, id)
	if err != nil {
		return nil, notFoundAs(err, errNoSuchUser)
	}
	return u, nil
}

// UpdateUser disables or enables a user, or grants or revokes instance administration; only an
// instance administrator may. Disabling ends every session and dashboard login of the user and
// disables the keys they own; enabling again re-enables none of them. Nobody disables
// themselves (they would lock themselves out mid-request), and the last enabled administrator
// is neither disabled nor demoted (ECONFLICT, checked by the store under a lock).
func (s *Service) UpdateUser(ctx context.Context, c Caller, id string, change keyward.UserChange) (*keyward.User, error) {
	before, err := s.adminTarget(ctx, c, id)
	if err != nil {
		return nil, err
	}
	if change.Disabled != nil && *change.Disabled && before.ID == c.Principal.User.ID {
		return nil, fieldErr("disabled", keyward.EFORBIDDEN, "You cannot disable your own account; another administrator can.")
	}
	now := s.Now()
	after, err := s.Store.UpdateUser(ctx, id, change, now)
	if err != nil {
		return nil, notFoundAs(err, errNoSuchUser)
	}
	for _, e := range []struct {
		changed bool
		action  string
	}{
		{before.Disabled != after.Disabled && after.Disabled, keyward.AuditUserDisabled},
		{before.Disabled != after.Disabled && !after.Disabled, keyward.AuditUserEnabled},
		{before.Admin != after.Admin && after.Admin, keyward.AuditUserAdminGranted},
		{before.Admin != after.Admin && !after.Admin, keyward.AuditUserAdminRevoked},
	} {
		if e.changed {
			s.audit(ctx, c, &keyward.AuditEvent{At: now, Action: e.action, Target: "user:" + id})
		}
	}
	return after, nil
}

// DeleteUser deletes a user; only an instance administrator may, and not their own account.
// Their memberships and logins go, their sessions end, the keys they own stay disabled (for a
// manager to hand to someone else), and the audit log keeps what they did. Refused (ECONFLICT)
// while they are the last enabled administrator, or the last owner or member manager of a
// project: someone must be made that first.
func (s *Service) DeleteUser(ctx context.Context, c Caller, id string) error {
	u, err := s.adminTarget(ctx, c, id)
	if err != nil {
		return err
	}
	if u.ID == c.Principal.User.ID {
		return keyward.Errorf(keyward.EFORBIDDEN, "You cannot delete your own account; another administrator can.")
	}
	now := s.Now()
	if err := s.Store.DeleteUser(ctx, id, now); err != nil {
		return notFoundAs(err, errNoSuchUser)
	}
	s.audit(ctx, c, &keyward.AuditEvent{At: now, Action: keyward.AuditUserDeleted, Target: "user:" + id, Detail: "email=" + u.Email})
	return nil
}

// PasswordChange is a signed-in person's change of their own password.
type PasswordChange struct {
	Current string
	New     string
	// KeepWeb is the hash of the dashboard login making the change, which stays signed in; nil
	// from the API, where the calling token's session stays instead.
	KeepWeb []byte
}

// ChangePassword sets the caller's own password after checking their current one with login,
// the one password check (so a wrong one is throttled and audited like a failed sign-in). Only a
// person signed in without narrowing may (RequireFullUser). Every other sign-in of theirs ends:
// their token sessions but the calling one and their dashboard logins but in.KeepWeb.
func (s *Service) ChangePassword(ctx context.Context, c Caller, login authn.Login, in PasswordChange) error {
	p := c.Principal
	if err := RequireFullUser(p, "change a password"); err != nil {
		return err
	}
	attempt := &authn.Attempt{Email: p.User.Email, Password: in.Current, IP: c.IP, Via: "password change"}
	u, err := login.Password(ctx, attempt)
	switch {
	case keyward.ErrorCode(err) == keyward.EUNAUTHORIZED:
		return fieldErr("current_password", keyward.EFORBIDDEN, "The current password is wrong.")
	case err != nil:
		return err
	case u.ID != p.User.ID: // the address now belongs to someone else: it cannot, but never mix them up
		return fieldErr("current_password", keyward.EFORBIDDEN, "The current password is wrong.")
	}
	if err := password.Validate(in.New); err != nil {
		return onField("new_password", err)
	}
	hash, err := s.Passwords.Hash(ctx, in.New, s.Rand)
	if err != nil {
		return err
	}
	now := s.Now()
	keepSession := ""
	if in.KeepWeb == nil {
		keepSession = p.Session.ID
	}
	if err := s.Store.SetPassword(ctx, p.User.ID, hash, keepSession, in.KeepWeb, now); err != nil {
		return err
	}
	s.audit(ctx, c, &keyward.AuditEvent{At: now, Action: keyward.AuditUserPasswordChanged, Target: "user:" + p.User.ID})
	return nil
}

// ResetLink is a password reset link's secret, shown once, and its end.
type ResetLink struct {
	Secret    string
	ExpiresAt time.Time
}

// IssuePasswordReset makes a single-use link that lets the user set a new password without
// the old one, valid for ResetLinkTTL and replacing any earlier one; only an instance
// administrator may. The secret is returned once; the store keeps its SHA-256.
func (s *Service) IssuePasswordReset(ctx context.Context, c Caller, id string) (*ResetLink, error) {
	u, err := s.adminTarget(ctx, c, id)
	if err != nil {
		return nil, err
	}
	if u.Disabled {
		return nil, keyward.Errorf(keyward.ECONFLICT, "The user is disabled; enable them before issuing a password reset link.")
	}
	secret, err := keyward.RandomBase62(s.Rand, resetSecretLen)
	if err != nil {
		return nil, err
	}
	now := s.Now()
	r := &keyward.PasswordReset{Hash: resetHash(secret), UserID: id, IssuedBy: c.Principal.User.ID, CreatedAt: now, ExpiresAt: now.Add(ResetLinkTTL)}
	if err := s.Store.CreatePasswordReset(ctx, r); err != nil {
		return nil, notFoundAs(err, errNoSuchUser)
	}
	s.audit(ctx, c, &keyward.AuditEvent{At: now, Action: keyward.AuditUserPasswordResetIssued, Target: "user:" + id,
		Detail: "expires_at=" + r.ExpiresAt.UTC().Format(time.RFC3339)})
	return &ResetLink{Secret: secret, ExpiresAt: r.ExpiresAt}, nil
}

// ResetURL is the dashboard page at issuer where secret, a reset link's, sets a new password.
func ResetURL(issuer, secret string) string {
	return strings.TrimSuffix(issuer, "/") + "/reset-password?token=" + secret
}

// ValidResetSecret reports whether secret has the shape of a reset link's secret, so that
// anything else is refused before the store is asked.
func ValidResetSecret(secret string) bool {
	return len(secret) == resetSecretLen && keyward.IsBase62(secret)
}

func resetHash(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// ResetPassword spends a reset link: it sets the new password and ends every sign-in of the
// user, dashboard logins included. Anyone holding the link may; ip is theirs, for the audit.
func (s *Service) ResetPassword(ctx context.Context, c Caller, secret, newPassword string) (*keyward.User, error) {
	if !ValidResetSecret(secret) {
		return nil, keyward.Errorf(keyward.ENOTFOUND, "This password reset link is not valid. Ask an administrator for a new one.")
	}
	if err := password.Validate(newPassword); err != nil {
		return nil, onField("new_password", err)
	}
	hash, err := s.Passwords.Hash(ctx, newPassword, s.Rand)
	if err != nil {
		return nil, err
	}
	now := s.Now()
	u, err := s.Store.UsePasswordReset(ctx, resetHash(secret), hash, now)
	if err != nil {
		return nil, err
	}
	if c.Principal == nil {
		c.Principal = &authn.Principal{Subject: "user:" + u.ID}
	}
	s.audit(ctx, c, &keyward.AuditEvent{At: now, Action: keyward.AuditUserPasswordReset, Target: "user:" + u.ID})
	return u, nil
}

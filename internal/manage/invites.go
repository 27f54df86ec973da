package manage

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/authn"
	"github.com/keyward/keyward/internal/password"
)

// Mailer sends a plain-text mail to one address.
type Mailer interface {
	Send(ctx context.Context, to, subject, body string) error
}

const (
	// MaxPendingInvites bounds a project's pending invitations, so that the list needs no pages
	// and a members-manage holder cannot fill the database or a mail queue.
	MaxPendingInvites = 100
	// inviteTokenBytes is the link token's entropy: 256 bits, as for refresh tokens.
	inviteTokenBytes = 32
)

// InviteGone is the one answer for a link that is unknown, used, revoked, expired, or whose
// inviter may no longer give its role: the page learns nothing about which.
var InviteGone = keyward.Errorf(keyward.ENOTFOUND, "This invitation is not valid any more. Ask for a new one.")

// InviteInput is whom an invitation is for and the role they get (by name or id).
type InviteInput struct {
	Email string
	Role  string
}

// CreatedInvite is a new invitation and how it reaches the invitee.
type CreatedInvite struct {
	Invite *keyward.Invite
	// URL is the link, set when no mail carried it (none configured, or the send failed): it is
	// shown to the inviter once and never again.
	URL string
	// Mailed is whether the mail was handed to the mail server; MailError says why not when a
	// send was tried and failed.
	Mailed    bool
	MailError string
}

// CreateInvite invites the person with an email address to the project with a role, replacing a
// pending invitation of that address. It needs members-manage, and the caller may give the role
// (mayGiveRole). It answers alike whether or not the address has an account or is a member
// already, so that nobody learns who has one. The link is mailed when a Mailer is configured;
// otherwise, or when the mail fails, it is returned once to the inviter.
func (a *Access) CreateInvite(ctx context.Context, in InviteInput) (*CreatedInvite, error) {
	if err := a.Require(PermMembersManage); err != nil {
		return nil, err
	}
	s := a.svc
	if err := RequireFullUser(a.caller.Principal, "invite people"); err != nil {
		return nil, err
	}
	email, err := NormalizeEmail(in.Email)
	if err != nil {
		return nil, err
	}
	if in.Role == "" {
		return nil, fieldErr("role", keyward.EINVALID, "Choose the role the invited person gets.")
	}
	_, role, err := a.grant(ctx, nil, in.Role, "an invited person")
	if err != nil {
		return nil, err
	}
	now := s.Now()
	pending, err := s.Store.Invites(ctx, a.Project.ID, now, MaxPendingInvites)
	if err != nil {
		return nil, err
	}
	if len(pending) >= MaxPendingInvites && !hasInvite(pending, email) {
		return nil, fieldErr("email", keyward.ECONFLICT, "This project has %d pending invitations; revoke some before inviting more people.", MaxPendingInvites)
	}
	id, err := keyward.NewID(s.Rand, keyward.PrefixInvite)
	if err != nil {
		return nil, err
	}
	raw := make([]byte, inviteTokenBytes)
	if _, err := io.ReadFull(s.Rand, raw); err != nil {
		return nil, fmt.Errorf("invite token: %w", err)
	}
	token := base64.RawURLEncoding.EncodeToString(raw)
	hash := sha256.Sum256([]byte(token))
	inv := &keyward.Invite{
		ID: id, ProjectID: a.Project.ID, Email: email, RoleID: role.ID, Hash: hash[:],
		CreatedBy: a.caller.Principal.User.ID, CreatedAt: now, ExpiresAt: now.Add(keyward.InviteTTL),
	}
	if err := s.Store.CreateInvite(ctx, inv); err != nil {
		if keyward.ErrorCode(err) == keyward.EINVALID {
			return nil, onField("role", err) // the role was deleted meanwhile
		}
		return nil, err
	}
	inv.Hash = nil
	s.audit(ctx, a.caller, &keyward.AuditEvent{
		ProjectID: a.Project.ID, At: now, Action: keyward.AuditInviteCreated, Target: "invite:" + id,
		Detail: "email=" + email + " role=" + inv.Role.Name,
	})
	out := &CreatedInvite{Invite: inv, URL: s.InviteURL(token)}
	if s.Mailer == nil {
		return out, nil
	}
	// The invitation is stored before the mail is tried: a failed send loses nothing, and the
	// inviter gets the link to pass on instead.
	subject, body := a.inviteMail(inv, out.URL)
	if err := s.Mailer.Send(ctx, email, subject, body); err != nil {
		s.logger().WarnContext(ctx, "invitation mail not sent", "invite", id, "err", err)
		out.MailError = "The invitation mail could not be sent; give the link to the invited person yourself."
		return out, nil
	}
	out.URL, out.Mailed = "", true
	return out, nil
}

func hasInvite(invs []*keyward.Invite, email string) bool {
	for _, inv := range invs {
		if inv.Email == email {
			return true
		}
	}
	return false
}

// InviteURL is the link of an invitation token: the dashboard's accept page.
func (s *Service) InviteURL(token string) string {
	return strings.TrimSuffix(s.BaseURL, "/") + "/invite/" + token
}

// inviteMail is the plain-text mail that carries an invitation's link.
func (a *Access) inviteMail(inv *keyward.Invite, link string) (subject, body string) {
	inviter := a.caller.Principal.User.Email
	subject = fmt.Sprintf("Invitation to the project %s on keyward", a.Project.Name)
	body = fmt.Sprintf("%s invites you to the project %s on keyward, with the role %s.\r\n\r\n"+
		"Accept the invitation here:\r\n\r\n%s\r\n\r\n"+
		"The link works once, until %s. If you did not expect this invitation, ignore this mail.\r\n",
		inviter, a.Project.Name, inv.Role.Name, link, inv.ExpiresAt.UTC().Format(time.RFC1123))
	return subject, body
}

// Invites lists the project's pending invitations, oldest first, at most MaxPendingInvites. It
// needs members-view.
func (a *Access) Invites(ctx context.Context) ([]*keyward.Invite, error) {
	if err := a.Require(PermMembersView); err != nil {
		return nil, err
	}
	invs, err := a.svc.Store.Invites(ctx, a.Project.ID, a.svc.Now(), MaxPendingInvites)
	for _, inv := range invs {
		a.presentRole(inv.Role)
	}
	return invs, err
}

// RevokeInvite withdraws a pending invitation: its link stops working. It needs members-manage.
func (a *Access) RevokeInvite(ctx context.Context, id string) error {
	if err := a.Require(PermMembersManage); err != nil {
		return err
	}
	inv, err := a.svc.Store.RevokeInvite(ctx, a.Project.ID, id)
	if keyward.ErrorCode(err) == keyward.ENOTFOUND {
		if rest, ok := strings.CutPrefix(id, keyward.PrefixInvite); ok && len(rest) == keyward.IDLength && keyward.IsBase62(rest) {
			return keyward.Errorf(keyward.ENOTFOUND, "Invitation %q was not found.", id)
		}
		return keyward.Errorf(keyward.ENOTFOUND, "The invitation was not found.")
	} else if err != nil {
		return err
	}
	a.svc.audit(ctx, a.caller, &keyward.AuditEvent{
		ProjectID: a.Project.ID, At: a.svc.Now(), Action: keyward.AuditInviteRevoked, Target: "invite:" + id,
		Detail: "email=" + inv.Email,
	})
	return nil
}

// Invitation is a pending invitation as its accept page shows it.
type Invitation struct {
	Invite  *keyward.Invite
	Project *keyward.Project
	// HasAccount is whether the address has an account already, which then signs in to accept;
	// only the holder of the link learns it.
	HasAccount bool
}

// Invitation returns the pending invitation of a link's token; InviteGone when the link is not
// valid any more, whatever the reason, including an inviter who may no longer give its role.
func (s *Service) Invitation(ctx context.Context, token string) (*Invitation, error) {
	inv, err := s.pendingInvite(ctx, token)
	if err != nil {
		return nil, err
	}
	project, err := s.Store.ProjectByID(ctx, inv.ProjectID)
	if err != nil {
		return nil, notFoundAs(err, InviteGone)
	}
	_, err = s.Store.UserByEmail(ctx, inv.Email)
	if err != nil && keyward.ErrorCode(err) != keyward.ENOTFOUND {
		return nil, err
	}
	return &Invitation{Invite: inv, Project: project, HasAccount: err == nil}, nil
}

// ValidInviteToken reports whether token has the form of a link's token, so that anything else
// is refused without reading the store.
func ValidInviteToken(token string) bool {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	return err == nil && len(raw) == inviteTokenBytes && base64.RawURLEncoding.EncodeToString(raw) == token
}

func inviteHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// pendingInvite reads the invitation of token and checks that its inviter may still give its
// role: an invitation never grants more than its inviter could grant now, so it does not outlive
// the inviter's removal, demotion or disabling.
func (s *Service) pendingInvite(ctx context.Context, token string) (*keyward.Invite, error) {
	if !ValidInviteToken(token) {
		return nil, InviteGone
	}
	inv, err := s.Store.InviteByHash(ctx, inviteHash(token), s.Now())
	if err != nil {
		return nil, notFoundAs(err, InviteGone)
	}
	inviter, err := s.Store.UserByID(ctx, inv.CreatedBy)
	if keyward.ErrorCode(err) == keyward.ENOTFOUND || (err == nil && inviter.Disabled) {
		return nil, InviteGone
	} else if err != nil {
		return nil, err
	}
	p := &authn.Principal{Subject: "user:" + inviter.ID, User: inviter, Session: &keyward.Session{Kind: keyward.SessionUser, UserID: inviter.ID}}
	held, err := s.authz().Held(ctx, p, inv.ProjectID)
	if err != nil {
		return nil, notFoundAs(err, InviteGone)
	}
	as := &Access{Project: &keyward.Project{ID: inv.ProjectID}, Perms: held.Perms, owner: held.Owner, svc: s}
	if as.Require(PermMembersManage) != nil || as.mayGiveRole(inv.Role, "") != nil {
		return nil, InviteGone
	}
	return inv, nil
}

// AcceptInvite accepts the invitation of token. A caller signed in as a user accepts it as that
// user, who must have the invited address (EFORBIDDEN otherwise: they sign out first). Anyone
// else creates the account of the invited address with newPassword (password.Validate's rules);
// when the address has an account already, ECONFLICT asks them to sign in. A member already
// keeps their membership as it is. It returns the user and their membership.
func (s *Service) AcceptInvite(ctx context.Context, c Caller, token, newPassword string) (*keyward.User, *keyward.Member, error) {
	inv, err := s.pendingInvite(ctx, token)
	if err != nil {
		return nil, nil, err
	}
	now := s.Now()
	acc := keyward.InviteAcceptance{At: now}
	var u *keyward.User
	if c.Principal != nil && c.Principal.User != nil {
		u = c.Principal.User
		if u.Email != inv.Email {
			return nil, nil, keyward.Errorf(keyward.EFORBIDDEN, "This invitation is for %s, and you are signed in as %s. Sign out, then open the link again.", inv.Email, u.Email)
		}
		acc.UserID = u.ID
	} else {
		if err := password.Validate(newPassword); err != nil {
			return nil, nil, onField("password", err)
		}
		// Checked before the costly hash, so that posting to an invitation of an address with an
		// account costs no hash; the store checks again in its transaction.
		if _, err := s.Store.UserByEmail(ctx, inv.Email); err == nil {
			return nil, nil, accountExists(inv.Email)
		} else if keyward.ErrorCode(err) != keyward.ENOTFOUND {
			return nil, nil, err
		}
		hash, err := s.Passwords.Hash(ctx, newPassword, s.Rand)
		if err != nil {
			return nil, nil, err
		}
		id, err := keyward.NewID(s.Rand, keyward.PrefixUser)
		if err != nil {
			return nil, nil, err
		}
		u = &keyward.User{ID: id, Email: inv.Email, PasswordHash: hash, CreatedAt: now}
		acc.NewUser = u
	}
	_, m, err := s.Store.AcceptInvite(ctx, inviteHash(token), acc)
	switch keyward.ErrorCode(err) {
	case "":
	case keyward.ENOTFOUND:
		return nil, nil, InviteGone
	case keyward.ECONFLICT:
		return nil, nil, accountExists(inv.Email)
	case keyward.EREVOKED:
		return nil, nil, InviteGone
	default:
		return nil, nil, err
	}
	c.Principal = &authn.Principal{Subject: "user:" + u.ID, User: u}
	if acc.NewUser != nil {
		s.audit(ctx, c, &keyward.AuditEvent{At: now, Action: keyward.AuditUserCreated, Target: "user:" + u.ID, Detail: "invite=" + inv.ID})
	}
	s.audit(ctx, c, &keyward.AuditEvent{
		ProjectID: inv.ProjectID, At: now, Action: keyward.AuditInviteAccepted, Target: "invite:" + inv.ID,
		Detail: "email=" + inv.Email + " role=" + inv.Role.Name,
	})
	return u, m, nil
}

func accountExists(email string) error {
	return keyward.Errorf(keyward.ECONFLICT, "%s has an account already: sign in, then accept the invitation.", email)
}

package manage

import (
	"context"
	"fmt"
	"strings"

	"github.com/keyward/keyward"
)

// Permissions the member operations need.
const (
	PermMembersView   = "members-view"
	PermMembersManage = "members-manage"
)

// Members lists the project's members by email, with permissions in catalog order. It needs
// members-view.
func (a *Access) Members(ctx context.Context) ([]*keyward.Member, error) {
	if err := a.Require(PermMembersView); err != nil {
		return nil, err
	}
	members, err := a.svc.Store.Members(ctx, a.Project.ID)
	if err != nil {
		return nil, err
	}
	for _, m := range members {
		a.presentMember(m)
	}
	return members, nil
}

// MemberPage returns one page of the project's members, by email, and the cursor of the next
// page ("" on the last); a search is a user id or the beginning of an email address. It needs
// members-view.
func (a *Access) MemberPage(ctx context.Context, p keyward.Page) ([]*keyward.Member, string, error) {
	if err := a.Require(PermMembersView); err != nil {
		return nil, "", err
	}
	if err := checkPage(p, PageMaxLimit); err != nil {
		return nil, "", err
	}
	members, next, err := a.svc.Store.MemberPage(ctx, a.Project.ID, p)
	if err != nil {
		return nil, "", err
	}
	for _, m := range members {
		a.presentMember(m)
	}
	return members, next, nil
}

// How PutMember treats an existing membership.
type putMode int

const (
	addOrChange putMode = iota
	addOnly
	changeOnly
)

// MemberInput is what a member is given: a role (by name or id, "" for none) and direct
// permissions, at least one of the two.
type MemberInput struct {
	Permissions []string
	Role        string
}

// PutMember adds the user userRef names (a user id or an email address) to the project, or
// replaces their permissions and role, and reports whether the membership is new. It needs
// members-manage; only an instance administrator adds a member (notMember). The caller may grant
// only what they hold, and may change only a member who holds nothing the caller lacks:
// otherwise a member could strip a more powerful one of permissions they could never give back.
// Only an owner gives or takes the owner role.
func (a *Access) PutMember(ctx context.Context, userRef string, in MemberInput) (*keyward.Member, bool, error) {
	return a.putMember(ctx, userRef, in, addOrChange)
}

// AddMember is PutMember for a user who is not a member yet; an existing member is ECONFLICT,
// so that a form meant to add someone never silently rewrites their permissions.
func (a *Access) AddMember(ctx context.Context, email string, in MemberInput) (*keyward.Member, error) {
	m, _, err := a.putMember(ctx, email, in, addOnly)
	return m, err
}

// ChangeMember is PutMember for an existing member; anyone else is ENOTFOUND.
func (a *Access) ChangeMember(ctx context.Context, userRef string, in MemberInput) (*keyward.Member, error) {
	m, _, err := a.putMember(ctx, userRef, in, changeOnly)
	return m, err
}

func (a *Access) putMember(ctx context.Context, userRef string, in MemberInput, mode putMode) (*keyward.Member, bool, error) {
	if err := a.Require(PermMembersManage); err != nil {
		return nil, false, err
	}
	s := a.svc
	// What is given is checked before who it is given to, so that a refusal of the input is the
	// same whether or not the address has an account.
	perms, role, err := a.grant(ctx, in.Permissions, in.Role, "a member")
	if err != nil {
		return nil, false, err
	}
	admin := isAdmin(a.caller.Principal)
	u, err := s.userRef(ctx, userRef)
	if keyward.ErrorCode(err) == keyward.ENOTFOUND && !admin {
		return nil, false, notMember(userRef, mode != changeOnly) // as for an account that is not a member
	} else if err != nil {
		return nil, false, onField("email", err)
	}
	now := s.Now()
	m := &keyward.Member{ProjectID: a.Project.ID, UserID: u.ID, Email: u.Email, Permissions: perms, CreatedAt: now, UpdatedAt: now}
	if role != nil {
		m.RoleID, m.Role = role.ID, role
	}
	created := true
	old, err := s.Store.Member(ctx, a.Project.ID, u.ID)
	switch {
	case err == nil:
		if mode == addOnly {
			return nil, false, fieldErr("email", keyward.ECONFLICT, "%s is already a member of this project.", u.Email)
		}
		if err := a.outranks(old); err != nil {
			return nil, false, err
		}
		m.CreatedAt, created = old.CreatedAt, false
	case keyward.ErrorCode(err) != keyward.ENOTFOUND:
		return nil, false, err
	case mode == changeOnly || !admin:
		return nil, false, notMember(userRef, mode != changeOnly)
	}
	if err := s.Store.PutMember(ctx, m); err != nil {
		if keyward.ErrorCode(err) == keyward.EINVALID {
			return nil, false, onField("role", err) // the role was deleted meanwhile
		}
		return nil, false, err
	}
	detail := "permissions=" + strings.Join(perms, ",")
	if role != nil {
		detail += " role=" + role.Name
	}
	s.audit(ctx, a.caller, &keyward.AuditEvent{
		ProjectID: a.Project.ID, At: now, Action: keyward.AuditMemberChanged, Target: "user:" + u.ID, Detail: detail,
	})
	return a.presentMember(m), created, nil
}

// notMember is the answer for a reference to someone who is not a member, alike whether or not
// they have an account, so that no members-manage holder learns which addresses have one. Only
// an instance administrator, who may list users anyway, adds a member directly (orInvite: say
// so); everyone else invites (CreateInvite).
func notMember(ref string, orInvite bool) error {
	msg := "The user is not a member of this project."
	if wellFormedUserRef(ref) {
		msg = fmt.Sprintf("%q is not a member of this project.", ref)
	}
	if orInvite {
		msg += " Invite them instead: only an instance administrator adds members directly."
	}
	return &FieldError{Field: "email", Code: keyward.ENOTFOUND, Message: msg}
}

// presentMember drops permissions the operator has since removed from the catalog.
func (a *Access) presentMember(m *keyward.Member) *keyward.Member {
	m.Permissions = a.svc.Catalog.Filter(m.Permissions)
	if m.Role != nil {
		a.presentRole(m.Role)
	}
	return m
}

// RemoveMember removes a member; their sessions narrowed to the project are revoked. It needs
// members-manage and, as PutMember, a caller who holds every permission the member holds.
func (a *Access) RemoveMember(ctx context.Context, userRef string) error {
	if err := a.Require(PermMembersManage); err != nil {
		return err
	}
	s := a.svc
	u, err := s.userRef(ctx, userRef)
	if keyward.ErrorCode(err) == keyward.ENOTFOUND {
		return notMember(userRef, false)
	} else if err != nil {
		return err
	}
	old, err := s.Store.Member(ctx, a.Project.ID, u.ID)
	if keyward.ErrorCode(err) == keyward.ENOTFOUND {
		return notMember(userRef, false)
	} else if err != nil {
		return err
	}
	if err := a.outranks(old); err != nil {
		return err
	}
	now := s.Now()
	if err := s.Store.RemoveMember(ctx, a.Project.ID, u.ID, now); err != nil {
		return err
	}
	s.audit(ctx, a.caller, &keyward.AuditEvent{
		ProjectID: a.Project.ID, At: now, Action: keyward.AuditMemberRemoved, Target: "user:" + u.ID,
	})
	return nil
}

// CanChange reports whether the caller may change or remove m: they need members-manage and
// every permission m holds.
func (a *Access) CanChange(m *keyward.Member) bool {
	return a.Has(PermMembersManage) && a.outranks(m) == nil
}

// outranks is nil when the caller holds every one of the member's current permissions, their
// role's included, and, for a member holding the owner role, is an owner too.
func (a *Access) outranks(m *keyward.Member) error {
	if m.Role != nil && m.Role.Owner && !a.IsOwner() {
		return keyward.Errorf(keyward.EFORBIDDEN, "You cannot change this member: they are an owner of the project, and you are not.")
	}
	for _, p := range a.svc.Catalog.Filter(m.Held()) {
		if !a.Has(p) {
			return keyward.Errorf(keyward.EFORBIDDEN, "You cannot change this member: they hold the %q permission, which you do not.", p)
		}
	}
	return nil
}

// userRef resolves a user id (usr_…) or an email address.
func (s *Service) userRef(ctx context.Context, ref string) (*keyward.User, error) {
	var (
		u   *keyward.User
		err error
	)
	switch {
	case strings.HasPrefix(ref, keyward.PrefixUser):
		u, err = s.Store.UserByID(ctx, ref)
	case strings.Contains(ref, "@"):
		u, err = s.Store.UserByEmail(ctx, ref)
	default:
		return nil, keyward.Errorf(keyward.ENOTFOUND, "The user was not found; name a user by id (usr_…) or email address.")
	}
	if keyward.ErrorCode(err) == keyward.ENOTFOUND {
		if wellFormedUserRef(ref) {
			return nil, keyward.Errorf(keyward.ENOTFOUND, "User %q was not found.", ref)
		}
		return nil, keyward.Errorf(keyward.ENOTFOUND, "The user was not found.")
	}
	return u, err
}

// wellFormedUserRef reports whether ref could name a user: an id of the form ids take, or an
// email address. It comes from a URL or a form: only such a ref is repeated in a message.
func wellFormedUserRef(ref string) bool {
	if id, isID := strings.CutPrefix(ref, keyward.PrefixUser); isID {
		return len(id) == keyward.IDLength && keyward.IsBase62(id)
	}
	_, bad := NormalizeEmail(ref)
	return bad == nil
}

package manage

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/names"
)

// maxRoleDescription bounds a role's description: a sentence or two.
const maxRoleDescription = 300

// DefaultRoles returns the roles a project starts with, for the service's catalog, the owner
// role first; they have no ids yet.
func (s *Service) DefaultRoles() []*keyward.Role { return keyward.DefaultRoles(s.Catalog) }

// NewRoleID returns a new role id.
func (s *Service) NewRoleID() (string, error) { return keyward.NewID(s.Rand, keyward.PrefixRole) }

// newRoles returns the default roles with new ids, created at now.
func (s *Service) newRoles(now time.Time) ([]*keyward.Role, error) {
	roles := s.DefaultRoles()
	for _, r := range roles {
		id, err := s.NewRoleID()
		if err != nil {
			return nil, err
		}
		r.ID, r.CreatedAt, r.UpdatedAt = id, now, now
	}
	return roles, nil
}

// mayReadRoles is EFORBIDDEN unless the caller may read the project's roles: whoever may see its
// members or its keys, who are given roles.
func (a *Access) mayReadRoles() error {
	if a.Has(PermMembersView) || a.Has(PermKeysView) {
		return nil
	}
	return keyward.Errorf(keyward.EFORBIDDEN, "This needs the %q or the %q permission in project %q.", PermMembersView, PermKeysView, a.Project.Name)
}

// RolePage returns one page of the project's roles, by name, with the number of their holders,
// and the cursor of the next page ("" on the last); a search is a role id or the beginning of a
// name. It needs members-view or api-keys-view.
func (a *Access) RolePage(ctx context.Context, p keyward.Page) ([]*keyward.Role, string, error) {
	if err := a.mayReadRoles(); err != nil {
		return nil, "", err
	}
	if err := checkPage(p, PageMaxLimit); err != nil {
		return nil, "", err
	}
	roles, next, err := a.svc.Store.RolePage(ctx, a.Project.ID, p)
	if err != nil {
		return nil, "", err
	}
	for _, r := range roles {
		a.presentRole(r)
	}
	return roles, next, nil
}

// Role returns the role ref names (its id or its name). It needs members-view or api-keys-view.
func (a *Access) Role(ctx context.Context, ref string) (*keyward.Role, error) {
	if err := a.mayReadRoles(); err != nil {
		return nil, err
	}
	return a.role(ctx, ref)
}

func (a *Access) role(ctx context.Context, ref string) (*keyward.Role, error) {
	r, err := a.svc.Store.Role(ctx, a.Project.ID, ref)
	if keyward.ErrorCode(err) == keyward.ENOTFOUND {
		// Repeated only when it could be a role: it comes from a URL or a form.
		if wellFormedRoleRef(ref) {
			return nil, keyward.Errorf(keyward.ENOTFOUND, "Role %q was not found in this project.", ref)
		}
		return nil, keyward.Errorf(keyward.ENOTFOUND, "The role was not found in this project.")
	} else if err != nil {
		return nil, err
	}
	return a.presentRole(r), nil
}

// presentRole drops permissions the operator has since removed from the catalog.
func (a *Access) presentRole(r *keyward.Role) *keyward.Role {
	r.Permissions = a.svc.Catalog.Filter(r.Permissions)
	return r
}

func wellFormedRoleRef(ref string) bool {
	if id, ok := strings.CutPrefix(ref, keyward.PrefixRole); ok {
		return len(id) == keyward.IDLength && keyward.IsBase62(id)
	}
	return ValidProjectName(ref)
}

// RoleInput is a new role.
type RoleInput struct {
	Name        string
	Description string
	Permissions []string
}

// CreateRole adds a role to the project. It needs members-manage, and the role's permissions
// must be the caller's own. Errors about the input are *FieldError.
func (a *Access) CreateRole(ctx context.Context, in RoleInput) (*keyward.Role, error) {
	if err := a.Require(PermMembersManage); err != nil {
		return nil, err
	}
	if err := checkRoleName(in.Name); err != nil {
		return nil, err
	}
	if err := checkRoleDescription(in.Description); err != nil {
		return nil, err
	}
	perms, err := a.grantable(in.Permissions, "a role")
	if err != nil {
		return nil, err
	}
	s := a.svc
	now := s.Now()
	id, err := s.NewRoleID()
	if err != nil {
		return nil, err
	}
	r := &keyward.Role{ID: id, ProjectID: a.Project.ID, Name: in.Name, Description: in.Description, Permissions: perms, CreatedAt: now, UpdatedAt: now}
	if err := s.Store.CreateRole(ctx, r); err != nil {
		if keyward.ErrorCode(err) == keyward.ECONFLICT {
			return nil, fieldErr("name", keyward.ECONFLICT, "A role named %q already exists in this project.", in.Name)
		}
		return nil, onField("name", err)
	}
	s.audit(ctx, a.caller, &keyward.AuditEvent{
		ProjectID: a.Project.ID, At: now, Action: keyward.AuditRoleCreated, Target: "role:" + id,
		Detail: fmt.Sprintf("name=%s permissions=%s", in.Name, strings.Join(perms, ",")),
	})
	return r, nil
}

// RoleChange is what a caller asks to change on a role; nil fields stay as they are.
type RoleChange struct {
	Name        *string
	Description *string
	Permissions *[]string
	RequireDPoP *bool // whether the role's keys exchange only with a DPoP proof
}

// UpdateRole edits the role ref names and returns it as it now is. It needs members-manage and
// every permission the role holds, before and after: no one edits a role beyond their own
// permissions. The change applies to every holder at once; one that takes a permission away
// ends the sessions of those who now hold less (keyward.Store.UpdateRole). The owner role
// cannot be changed.
func (a *Access) UpdateRole(ctx context.Context, ref string, in RoleChange) (*keyward.Role, error) {
	if err := a.Require(PermMembersManage); err != nil {
		return nil, err
	}
	if in == (RoleChange{}) {
		return nil, keyward.Errorf(keyward.EINVALID, "Nothing to change: give at least one of name, description, permissions and require_dpop.")
	}
	before, err := a.role(ctx, ref)
	if err != nil {
		return nil, err
	}
	if err := a.mayEditRole(before); err != nil {
		return nil, err
	}
	var change keyward.RoleChange
	var detail []string
	if in.Name != nil {
		if err := checkRoleName(*in.Name); err != nil {
			return nil, err
		}
		change.Name = in.Name
		detail = append(detail, "name="+*in.Name)
	}
	if in.Description != nil {
		if err := checkRoleDescription(*in.Description); err != nil {
			return nil, err
		}
		change.Description = in.Description
		detail = append(detail, "description changed")
	}
	if in.Permissions != nil {
		perms, err := a.grantable(*in.Permissions, "a role")
		if err != nil {
			return nil, err
		}
		change.Permissions = &perms
		detail = append(detail, "permissions="+strings.Join(perms, ","))
	}
	if in.RequireDPoP != nil {
		change.RequireDPoP = in.RequireDPoP
		detail = append(detail, "require_dpop="+strconv.FormatBool(*in.RequireDPoP))
	}
	s := a.svc
	now := s.Now()
	r, err := s.Store.UpdateRole(ctx, a.Project.ID, before.ID, change, now)
	switch keyward.ErrorCode(err) {
	case "":
	case keyward.ECONFLICT:
		return nil, fieldErr("name", keyward.ECONFLICT, "A role named %q already exists in this project.", *in.Name)
	case keyward.EINVALID:
		return nil, onField("name", err)
	default:
		return nil, err
	}
	if !keyward.Subset(before.Permissions, r.Permissions) {
		detail = append(detail, "sessions ended")
	}
	s.audit(ctx, a.caller, &keyward.AuditEvent{
		ProjectID: a.Project.ID, At: now, Action: keyward.AuditRoleUpdated, Target: "role:" + r.ID,
		Detail: strings.Join(detail, " "),
	})
	return a.presentRole(r), nil
}

// DeleteRole deletes the role ref names, which nobody may hold (ECONFLICT otherwise). It needs
// members-manage and every permission of the role; the owner role cannot be deleted.
func (a *Access) DeleteRole(ctx context.Context, ref string) (*keyward.Role, error) {
	if err := a.Require(PermMembersManage); err != nil {
		return nil, err
	}
	r, err := a.role(ctx, ref)
	if err != nil {
		return nil, err
	}
	if err := a.mayEditRole(r); err != nil {
		return nil, err
	}
	s := a.svc
	if err := s.Store.DeleteRole(ctx, a.Project.ID, r.ID); err != nil {
		return nil, err
	}
	s.audit(ctx, a.caller, &keyward.AuditEvent{
		ProjectID: a.Project.ID, At: s.Now(), Action: keyward.AuditRoleDeleted, Target: "role:" + r.ID, Detail: "name=" + r.Name,
	})
	return r, nil
}

// mayEditRole is EFORBIDDEN for the owner role and for a role holding a permission the caller
// lacks: editing it would change what others hold beyond the caller's own rights.
func (a *Access) mayEditRole(r *keyward.Role) error {
	if r.Owner {
		return keyward.Errorf(keyward.EFORBIDDEN, "The owner role always holds every permission; it cannot be changed or deleted.")
	}
	for _, p := range r.Permissions {
		if !a.Has(p) {
			return keyward.Errorf(keyward.EFORBIDDEN, "You cannot change role %q: it holds the %q permission, which you do not.", r.Name, p)
		}
	}
	return nil
}

// MayEditRole is nil when the caller may edit or delete r, and otherwise the EFORBIDDEN that
// says why, for a page to show before anyone tries.
func (a *Access) MayEditRole(r *keyward.Role) error {
	if err := a.Require(PermMembersManage); err != nil {
		return err
	}
	return a.mayEditRole(r)
}

// CanEditRole reports whether the caller may edit or delete r.
func (a *Access) CanEditRole(r *keyward.Role) bool { return a.MayEditRole(r) == nil }

// CanGiveRole reports whether the caller may give r to a member or a key, or take it away: the
// roles a form offers.
func (a *Access) CanGiveRole(r *keyward.Role) bool { return a.mayGiveRole(r, "") == nil }

// grant resolves what a caller gives a member or a key (to names it in messages): a role, by
// name or id ("" for none), and direct permissions, at least one of the two. The caller must hold
// every permission given, the role's included, and only an owner gives the owner role.
func (a *Access) grant(ctx context.Context, perms []string, roleRef, to string) ([]string, *keyward.Role, error) {
	var role *keyward.Role
	if roleRef != "" {
		r, err := a.role(ctx, roleRef)
		if keyward.ErrorCode(err) == keyward.ENOTFOUND {
			return nil, nil, onField("role", keyward.Errorf(keyward.EINVALID, "%s", keyward.ErrorMessage(err)))
		} else if err != nil {
			return nil, nil, err
		}
		if err := a.mayGiveRole(r, to); err != nil {
			return nil, nil, err
		}
		role = r
	}
	if len(perms) == 0 {
		if role == nil {
			return nil, nil, fieldErr("permissions", keyward.EINVALID, "Choose a role or at least one of the permissions.")
		}
		return []string{}, role, nil
	}
	perms, err := a.grantable(perms, to)
	return perms, role, err
}

// mayGiveRole is EFORBIDDEN unless the caller may give r, or take it away: they hold every
// permission of it, and for the owner role, are an owner.
func (a *Access) mayGiveRole(r *keyward.Role, to string) error {
	if r.Owner && !a.IsOwner() {
		return fieldErr("role", keyward.EFORBIDDEN, "Only an owner of the project can give or take away the %q role.", r.Name)
	}
	for _, p := range r.Permissions {
		if !a.Has(p) {
			return fieldErr("role", keyward.EFORBIDDEN, "You cannot give %s the role %q: it holds the %q permission, which you do not hold in this project.", to, r.Name, p)
		}
	}
	return nil
}

// checkRoleName enforces the project-name form (a lower-case slug) and the look-alike rules;
// the store refuses a name that looks like another role's of the project (names.Key).
func checkRoleName(name string) error {
	if err := names.Check(name); err != nil {
		return fieldErr("name", keyward.EINVALID, "%s", err)
	}
	if !ValidProjectName(name) {
		return fieldErr("name", keyward.EINVALID, "A role name is 1 to 63 lower-case letters, digits and inner hyphens, such as \"release-manager\".")
	}
	return nil
}

func checkRoleDescription(d string) error {
	if utf8.RuneCountInString(d) > maxRoleDescription {
		return fieldErr("description", keyward.EINVALID, "The description must be at most %d characters long.", maxRoleDescription)
	}
	if err := names.Check(d); err != nil && d != "" {
		return fieldErr("description", keyward.EINVALID, "%s", err)
	}
	return nil
}

package manage

import (
	"context"
	"strings"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/authn"
	"github.com/keyward/keyward/internal/names"
)

// PermProjectsManage is the permission that renames a project.
const PermProjectsManage = "projects-manage"

// IsOwner reports whether the caller owns the project: a user, signed in without a scope, whose
// membership holds the project's owner role (Authorizer.Held).
func (a *Access) IsOwner() bool { return a.owner }

// Rename gives the project a new name, under the rules and the look-alike check of
// CreateProject. It needs projects-manage; in a catalog without that permission, an owner.
func (a *Access) Rename(ctx context.Context, name string) (*keyward.Project, error) {
	s := a.svc
	if err := a.MayRename(); err != nil {
		return nil, err
	}
	if err := names.Check(name); err != nil {
		return nil, fieldErr("name", keyward.EINVALID, "%s", err)
	}
	if !ValidProjectName(name) {
		return nil, fieldErr("name", keyward.EINVALID, "A project name is 1 to 63 lower-case letters, digits and inner hyphens, such as \"web-shop\".")
	}
	previous := a.Project.Name
	p, err := s.Store.RenameProject(ctx, a.Project.ID, name)
	if err != nil {
		if keyward.ErrorCode(err) == keyward.ECONFLICT {
			// The name asked for, never the other project's: as CreateProject says it.
			return nil, fieldErr("name", keyward.ECONFLICT, "A project named %q already exists.", name)
		}
		return nil, err
	}
	a.Project = p
	if name != previous {
		s.audit(ctx, a.caller, &keyward.AuditEvent{
			ProjectID: p.ID, At: s.Now(), Action: keyward.AuditProjectRenamed, Target: "project:" + p.ID,
			Detail: "name=" + name + " previous=" + previous,
		})
	}
	return p, nil
}

// MayRename is EFORBIDDEN unless the caller may rename the project: it needs projects-manage,
// or, in a catalog without that permission, is an owner.
func (a *Access) MayRename() error {
	if a.svc.Catalog.Has(PermProjectsManage) {
		return a.Require(PermProjectsManage)
	}
	if !a.IsOwner() {
		return keyward.Errorf(keyward.EFORBIDDEN, "Only an owner of project %q can rename it.", a.Project.Name)
	}
	return nil
}

// MayDelete is EFORBIDDEN unless the caller may delete the project: an owner signed in as a user
// (RequireFullUser).
func (a *Access) MayDelete() error {
	if err := RequireFullUser(a.caller.Principal, "delete projects"); err != nil {
		return err
	}
	if !a.IsOwner() {
		return keyward.Errorf(keyward.EFORBIDDEN, "Only an owner of project %q (a member holding every permission) can delete it.", a.Project.Name)
	}
	return nil
}

// Delete deletes the project: its members, its keys and every session of them end at once, and
// its name is free again. Only an owner signed in as a user (RequireFullUser) may.
func (a *Access) Delete(ctx context.Context) error {
	if err := a.MayDelete(); err != nil {
		return err
	}
	s := a.svc
	now := s.Now()
	if err := s.Store.DeleteProject(ctx, a.Project.ID, now); err != nil {
		return err
	}
	s.audit(ctx, a.caller, &keyward.AuditEvent{
		ProjectID: a.Project.ID, At: now, Action: keyward.AuditProjectDeleted, Target: "project:" + a.Project.ID,
		Detail: "name=" + a.Project.Name,
	})
	return nil
}

// errNoSuchPath is what a caller who is not an instance administrator learns of the
// administrator's paths: the same as of a path that does not exist.
var errNoSuchPath = keyward.Errorf(keyward.ENOTFOUND, "There is no such API path.")

// isAdmin reports whether p is an instance administrator signed in as RequireAdmin asks.
func isAdmin(p *authn.Principal) bool { return RequireAdmin(p, "") == nil }

// AllProjects lists every project of the instance, by name, each with the caller's permissions
// in it (none where the caller is no member). Only an instance administrator may; anyone else is
// told the path does not exist.
func (s *Service) AllProjects(ctx context.Context, c Caller) ([]*Access, error) {
	if !isAdmin(c.Principal) {
		return nil, errNoSuchPath
	}
	projects, err := s.Store.AllProjects(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*Access, 0, len(projects))
	for _, project := range projects {
		var perms []string
		m, err := s.Store.Member(ctx, project.ID, c.Principal.User.ID)
		switch {
		case err == nil:
			perms = s.Catalog.Filter(m.Held())
		case keyward.ErrorCode(err) != keyward.ENOTFOUND:
			return nil, err
		}
		out = append(out, &Access{Project: project, Perms: perms, svc: s, caller: c})
	}
	return out, nil
}

// RecoverProject makes the instance administrator a member of the project (named by id or name)
// holding its owner role, so that no project stays without someone to manage it.
// To anyone else the project does not exist, whether it does or not.
func (s *Service) RecoverProject(ctx context.Context, c Caller, ref string) (*Access, error) {
	hidden := keyward.Errorf(keyward.ENOTFOUND, "The project was not found.")
	if wellFormedProjectRef(ref) {
		hidden = keyward.Errorf(keyward.ENOTFOUND, "Project %q was not found.", ref)
	}
	if !isAdmin(c.Principal) {
		return nil, hidden
	}
	var (
		project *keyward.Project
		err     error
	)
	switch {
	case strings.HasPrefix(ref, keyward.PrefixProject):
		project, err = s.Store.ProjectByID(ctx, ref)
	case ValidProjectName(ref):
		project, err = s.Store.ProjectByName(ctx, ref)
	default:
		return nil, hidden
	}
	if err != nil {
		return nil, notFoundAs(err, hidden)
	}
	u := c.Principal.User
	now := s.Now()
	ownerRole, err := s.Store.Role(ctx, project.ID, keyward.RoleOwner)
	if err != nil {
		return nil, notFoundAs(err, hidden) // deleted meanwhile
	}
	m := &keyward.Member{ProjectID: project.ID, UserID: u.ID, Email: u.Email, RoleID: ownerRole.ID, CreatedAt: now, UpdatedAt: now}
	if old, err := s.Store.Member(ctx, project.ID, u.ID); err == nil {
		m.CreatedAt, m.Permissions = old.CreatedAt, old.Permissions
	} else if keyward.ErrorCode(err) != keyward.ENOTFOUND {
		return nil, err
	}
	if err := s.Store.PutMember(ctx, m); err != nil {
		return nil, notFoundAs(err, hidden) // deleted meanwhile
	}
	s.audit(ctx, c, &keyward.AuditEvent{
		ProjectID: project.ID, At: now, Action: keyward.AuditProjectRecovered, Target: "user:" + u.ID,
		Detail: "role=" + keyward.RoleOwner,
	})
	return &Access{Project: project, Perms: s.Catalog.Filter(m.Held()), owner: true, svc: s, caller: c}, nil
}

package manage

import (
	"context"
	"net/mail"
	"strings"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/authn"
	"github.com/keyward/keyward/internal/names"
	"github.com/keyward/keyward/internal/password"
)

// Projects lists the projects c can see, by name, each with c's permissions there: a user's
// memberships (only the one project when the token was narrowed to it), or a key's own project.
func (s *Service) Projects(ctx context.Context, c Caller) ([]*Access, error) {
	p := c.Principal
	var projects []*keyward.Project
	switch {
	case p.Key != nil:
		project, err := s.Store.ProjectByID(ctx, p.Key.ProjectID)
		switch {
		case err == nil:
			projects = []*keyward.Project{project}
		case keyward.ErrorCode(err) != keyward.ENOTFOUND:
			return nil, err
		}
		// Otherwise the key outlived its project, which happens only if the store lost a
		// cascade: show nothing.
	case p.User != nil:
		var err error
		if projects, err = s.Store.ProjectsForUser(ctx, p.User.ID); err != nil {
			return nil, err
		}
	}
	out := make([]*Access, 0, len(projects))
	for _, project := range projects {
		held, err := s.authz().Held(ctx, p, project.ID)
		if keyward.ErrorCode(err) == keyward.ENOTFOUND {
			continue // not visible to a narrowed token, or the membership ended between the two reads
		} else if keyward.ErrorCode(err) == keyward.EFORBIDDEN {
			// Listed, with nothing held, so that the member finds it and, opening it, learns why
			// (require_2fa).
			out = append(out, &Access{Project: project, svc: s, caller: c})
			continue
		} else if err != nil {
			return nil, err
		}
		out = append(out, &Access{Project: project, Perms: held.Perms, owner: held.Owner, svc: s, caller: c})
	}
	return out, nil
}

// RequireFullUser admits only a user signed in without narrowing to a project. Narrowed tokens
// are the ones handed to the platform's API, so one leaked from there cannot act on the instance.
func RequireFullUser(p *authn.Principal, action string) error {
	if p.User == nil {
		return keyward.Errorf(keyward.EFORBIDDEN, "An API key cannot %s; sign in as a user.", action)
	}
	if p.Narrowed() {
		return keyward.Errorf(keyward.EFORBIDDEN, "A token narrowed to one project cannot %s; sign in without the project parameter.", action)
	}
	return nil
}

// RequireAdmin admits only an instance administrator signed in as RequireFullUser asks.
func RequireAdmin(p *authn.Principal, action string) error {
	if err := RequireFullUser(p, action); err != nil {
		return err
	}
	if !p.User.Admin {
		return keyward.Errorf(keyward.EFORBIDDEN, "Only an instance administrator can %s.", action)
	}
	return nil
}

// CreateProject creates a project with the default roles (keyward.DefaultRoles); the caller, a
// user, becomes its member holding the owner role.
func (s *Service) CreateProject(ctx context.Context, c Caller, name string) (*Access, error) {
	p := c.Principal
	if err := RequireFullUser(p, "create projects"); err != nil {
		return nil, err
	}
	if err := names.Check(name); err != nil {
		return nil, fieldErr("name", keyward.EINVALID, "%s", err)
	}
	if !ValidProjectName(name) {
		return nil, fieldErr("name", keyward.EINVALID, "A project name is 1 to 63 lower-case letters, digits and inner hyphens, such as \"web-shop\".")
	}
	now := s.Now()
	id, err := keyward.NewID(s.Rand, keyward.PrefixProject)
	if err != nil {
		return nil, err
	}
	project := &keyward.Project{ID: id, Name: name, CreatedAt: now}
	roles, err := s.newRoles(now)
	if err != nil {
		return nil, err
	}
	creator := &keyward.Member{ProjectID: id, UserID: p.User.ID, Email: p.User.Email, RoleID: roles[0].ID, Role: roles[0], CreatedAt: now, UpdatedAt: now}
	if err := s.Store.CreateProject(ctx, project, creator, roles...); err != nil {
		if keyward.ErrorCode(err) == keyward.ECONFLICT {
			return nil, fieldErr("name", keyward.ECONFLICT, "A project named %q already exists.", name)
		}
		return nil, err
	}
	s.audit(ctx, c, &keyward.AuditEvent{
		ProjectID: id, At: now, Action: keyward.AuditProjectCreated, Target: "project:" + id, Detail: "name=" + name,
	})
	return &Access{Project: project, Perms: s.Catalog.Filter(creator.Held()), owner: true, svc: s, caller: c}, nil
}

// UserInput is a new user.
type UserInput struct {
	Email    string
	Password string
	Admin    bool
}

// CreateUser creates a user; only an instance administrator may.
func (s *Service) CreateUser(ctx context.Context, c Caller, in UserInput) (*keyward.User, error) {
	if err := RequireAdmin(c.Principal, "create users"); err != nil {
		return nil, err
	}
	email, err := NormalizeEmail(in.Email)
	if err != nil {
		return nil, err
	}
	if err := password.Validate(in.Password); err != nil {
		return nil, onField("password", err)
	}
	hash, err := s.Passwords.Hash(ctx, in.Password, s.Rand)
	if err != nil {
		return nil, err
	}
	id, err := keyward.NewID(s.Rand, keyward.PrefixUser)
	if err != nil {
		return nil, err
	}
	now := s.Now()
	u := &keyward.User{ID: id, Email: email, PasswordHash: hash, Admin: in.Admin, CreatedAt: now}
	if err := s.Store.CreateUser(ctx, u); err != nil {
		if keyward.ErrorCode(err) == keyward.ECONFLICT {
			return nil, fieldErr("email", keyward.ECONFLICT, "A user with the email address %q already exists.", email)
		}
		return nil, err
	}
	detail := ""
	if u.Admin {
		detail = "admin"
	}
	s.audit(ctx, c, &keyward.AuditEvent{At: now, Action: keyward.AuditUserCreated, Target: "user:" + id, Detail: detail})
	return u, nil
}

// NormalizeEmail accepts a bare address (no display name, no comments) of at most 254 bytes and
// returns it in the form sign-ins look it up in (authn.CanonicalEmail).
func NormalizeEmail(raw string) (string, error) {
	bad := fieldErr("email", keyward.EINVALID, "Enter a plain email address such as ada@example.com.")
	if raw == "" || len(raw) > 254 {
		return "", bad
	}
	addr, err := mail.ParseAddress(raw)
	if err != nil || addr.Name != "" || addr.Address != raw || strings.ContainsAny(raw, " \t\r\n<>\"") {
		return "", bad
	}
	return authn.CanonicalEmail(raw), nil
}

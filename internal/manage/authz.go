package manage

import (
	"context"
	"regexp"
	"strings"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/authn"
)

// Directory is the part of keyward.Store that authorization reads.
type Directory interface {
	Member(ctx context.Context, projectID, userID string) (*keyward.Member, error)
	ProjectByID(ctx context.Context, id string) (*keyward.Project, error)
	ProjectByName(ctx context.Context, name string) (*keyward.Project, error)
	HasSecondFactor(ctx context.Context, userID string) (bool, error) // for require_2fa
}

// Authorizer answers what an identified caller may do in a project. The API, the dashboard and
// the token endpoint all ask it, so a permission means the same at every door. It reads the
// store on every call: a membership removed or changed takes effect on the next request.
type Authorizer struct {
	Store   Directory
	Catalog *keyward.Catalog
}

// Permissions returns what p may do in the project projectID, in catalog order. A project p
// cannot see is ENOTFOUND, whether or not it exists.
//
// A user holds the membership's permissions and its role's; a key holds its own and its role's
// that its owner holds too, by the owner's membership now, and only in its own project (a key
// whose owner is no longer a member sees nothing). A session's scope (nil: everything) narrows
// either, and so does a user token narrowed to a project, which sees that project only. The
// instance admin has no rights here beyond a membership's, as owner of a key or otherwise.
//
// This is the one place a key's owner bounds it: /v1, introspection, the refresh grant and the
// key exchange all ask here.
func (a Authorizer) Permissions(ctx context.Context, p *authn.Principal, projectID string) ([]string, error) {
	h, err := a.Held(ctx, p, projectID)
	return h.Perms, err
}

// Held is what a caller holds in a project.
type Held struct {
	Perms []string // in catalog order
	// Owner is true for a user, signed in without a scope, whose membership holds the project's
	// owner role: only an owner deletes the project and gives or takes the owner role.
	Owner bool
}

// Held is Permissions with whether p is an owner of the project.
func (a Authorizer) Held(ctx context.Context, p *authn.Principal, projectID string) (Held, error) {
	hidden := keyward.Errorf(keyward.ENOTFOUND, "Project %q was not found.", projectID)
	if p.Session.ProjectID != "" && p.Session.ProjectID != projectID {
		return Held{}, hidden
	}
	var h Held
	var held []string
	switch {
	case p.Key != nil:
		if p.Key.ProjectID != projectID {
			return Held{}, hidden
		}
		m, err := a.Store.Member(ctx, projectID, p.Key.Owner)
		if err != nil {
			return Held{}, notFoundAs(err, hidden)
		}
		held = keyward.Intersect(p.Key.Own(), m.Held())
	case p.User != nil:
		m, err := a.Store.Member(ctx, projectID, p.User.ID)
		if err != nil {
			return Held{}, notFoundAs(err, hidden)
		}
		if err := a.secondFactorGate(ctx, p.User, projectID); err != nil {
			return Held{}, err
		}
		held = m.Held()
		h.Owner = m.Role != nil && m.Role.Owner && p.Session.Scope == nil
	default:
		return Held{}, hidden
	}
	if p.Session.Scope != nil {
		held = keyward.Intersect(held, p.Session.Scope)
	}
	h.Perms = a.Catalog.Filter(held)
	return h, nil
}

// ResolveProject finds the project ref names (an id such as "prj_…" or a project name) and returns
// it with what p holds there. ENOTFOUND when it does not exist and equally when p cannot see
// it, so that probing never reveals another tenant's projects.
func (a Authorizer) ResolveProject(ctx context.Context, p *authn.Principal, ref string) (*keyward.Project, Held, error) {
	hidden := keyward.Errorf(keyward.ENOTFOUND, "The project was not found.")
	if wellFormedProjectRef(ref) {
		hidden = keyward.Errorf(keyward.ENOTFOUND, "Project %q was not found.", ref)
	}
	var (
		project *keyward.Project
		err     error
	)
	switch {
	case strings.HasPrefix(ref, keyward.PrefixProject):
		project, err = a.Store.ProjectByID(ctx, ref)
	case ValidProjectName(ref):
		project, err = a.Store.ProjectByName(ctx, ref)
	default:
		return nil, Held{}, hidden
	}
	if err != nil {
		return nil, Held{}, notFoundAs(err, hidden)
	}
	h, err := a.Held(ctx, p, project.ID)
	if err != nil {
		return nil, Held{}, notFoundAs(err, hidden)
	}
	return project, h, nil
}

// wellFormedProjectRef reports whether ref could name a project: a project name, or an id of the
// form ids take. Only such a ref is repeated in a not-found message: it comes from a URL anyone
// can send a person to, so arbitrary text in it must not reach the page.
func wellFormedProjectRef(ref string) bool {
	id, isID := strings.CutPrefix(ref, keyward.PrefixProject)
	if isID {
		return len(id) == keyward.IDLength && keyward.IsBase62(id)
	}
	return ValidProjectName(ref)
}

// notFoundAs replaces ENOTFOUND with replacement and passes every other error through, so that a
// database outage is reported as one and not as a missing project.
func notFoundAs(err error, replacement error) error {
	if keyward.ErrorCode(err) == keyward.ENOTFOUND {
		return replacement
	}
	return err
}

var projectName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// ValidProjectName reports whether name is a project name: a lower-case DNS-label-like slug of at
// most 63 characters.
func ValidProjectName(name string) bool { return projectName.MatchString(name) }

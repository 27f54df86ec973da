package dashboard

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/manage"
	"github.com/keyward/keyward/internal/web"
)

// roleField is a form's role choice: the roles offered and the one chosen.
type roleField struct {
	Roles []*keyward.Role
	Role  string // the chosen role's id; "" for none
}

// roleField offers the project's roles the signed-in person may give, and current, the role the
// member or key holds now (nil: none), whatever it is: saving a form without touching the
// choice keeps it. chosen is the id to preselect. Someone who may not read roles is offered
// current only.
func (s *Server) roleField(ctx context.Context, a *manage.Access, current *keyward.Role, chosen string) (roleField, error) {
	f := roleField{Role: chosen}
	p := keyward.Page{Limit: manage.PageMaxLimit}
	for {
		roles, next, err := a.RolePage(ctx, p)
		if keyward.ErrorCode(err) == keyward.EFORBIDDEN {
			break
		} else if err != nil {
			return roleField{}, err
		}
		for _, r := range roles {
			if a.CanGiveRole(r) || (current != nil && r.ID == current.ID) {
				f.Roles = append(f.Roles, r)
			}
		}
		if next == "" {
			break
		}
		p.Cursor = next
	}
	if current != nil && !slices.ContainsFunc(f.Roles, func(r *keyward.Role) bool { return r.ID == current.ID }) {
		f.Roles = append(f.Roles, current)
	}
	return f, nil
}

// rolesPage lists the project's roles, with the form that creates one.
type rolesPage struct {
	projectBase
	Roles    []*keyward.Role
	Unlisted string // why the roles are not listed, when the person may not read them
	Search   string
	Next     string
	First    string
	// The create form.
	Name, Description string
	Groups            []permGroup
	Errors            map[string]string

	catalogSize int
}

// RoleURL is r's page.
func (p *rolesPage) RoleURL(r *keyward.Role) string { return roleURL(p.Project(), r) }

// CanEdit reports whether the signed-in person may edit or delete r.
func (p *rolesPage) CanEdit(r *keyward.Role) bool { return p.Access.CanEditRole(r) }

// HoldsAll reports whether r holds every permission of the catalog.
func (p *rolesPage) HoldsAll(r *keyward.Role) bool { return len(r.Permissions) == p.catalogSize }

func roleURL(p *keyward.Project, r *keyward.Role) string {
	return projectURL(p, "roles") + "/" + url.PathEscape(r.ID)
}

func (s *Server) listRoles(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access) error {
	page := &rolesPage{projectBase: s.base(v, a, "roles", "Roles"), Errors: map[string]string{}}
	q := r.URL.Query()
	switch {
	case q.Has("created"):
		page.Notice = "The role was created."
	case q.Has("narrowed"):
		page.Notice = "The role was saved. It holds less than before, so every member and key holding it was signed out of the tokens they had."
	case q.Has("saved"):
		page.Notice = "The role was saved. The change applies to everyone holding it."
	case q.Has("deleted"):
		page.Notice = "The role was deleted."
	}
	return s.showRoles(w, r, a, http.StatusOK, page, nil)
}

func (s *Server) showRoles(w http.ResponseWriter, r *http.Request, a *manage.Access, status int, page *rolesPage, checked []string) error {
	p := keyward.Page{Limit: manage.PageDefaultLimit, Search: r.URL.Query().Get("q"), Cursor: r.URL.Query().Get("cursor")}
	roles, next, err := a.RolePage(r.Context(), p)
	switch {
	case keyward.ErrorCode(err) == keyward.EFORBIDDEN:
		page.Unlisted = keyward.ErrorMessage(err)
	case err != nil:
		return err
	default:
		page.Roles, page.Search = roles, p.Search
		page.First, page.Next = pageLinks(projectURL(page.Project(), "roles"), p, next)
	}
	page.Groups = choices(a.Grantable(), checked)
	page.catalogSize = len(s.Catalog.Names())
	s.render(w, r, status, "roles", page)
	return nil
}

func (s *Server) createRole(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access) error {
	if err := a.Require(manage.PermMembersManage); err != nil {
		return err
	}
	f, err := parseForm(r)
	if err != nil {
		return err
	}
	in := manage.RoleInput{Name: f.get("name"), Description: f.get("description"), Permissions: f.list("permissions")}
	if _, err := a.CreateRole(r.Context(), in); err != nil {
		page := &rolesPage{projectBase: s.base(v, a, "roles", "Roles"), Name: in.Name, Description: in.Description, Errors: map[string]string{}}
		if !fieldErrors(err, page.Errors) {
			return err
		}
		return s.showRoles(w, r, a, web.Status(err), page, in.Permissions)
	}
	http.Redirect(w, r, projectURL(a.Project, "roles")+"?created", http.StatusSeeOther)
	return nil
}

// rolePage shows one role, with the form that edits it when the person may.
type rolePage struct {
	projectBase
	Role *keyward.Role
	// Locked says why the person may not edit the role; "" when they may.
	Locked            string
	Name, Description string
	Groups            []permGroup
	Errors            map[string]string
	Action, Delete    string
}

func (s *Server) rolePage(v *visit, a *manage.Access, role *keyward.Role, checked []string) *rolePage {
	self := roleURL(a.Project, role)
	page := &rolePage{
		projectBase: s.base(v, a, "roles", "Role "+role.Name), Role: role,
		Name: role.Name, Description: role.Description, Errors: map[string]string{},
		Action: self, Delete: self + "/delete",
	}
	if err := a.MayEditRole(role); err != nil {
		page.Locked = keyward.ErrorMessage(err)
	} else {
		page.Groups = choices(a.Grantable(), checked)
	}
	return page
}

func (s *Server) showRole(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access) error {
	role, err := a.Role(r.Context(), r.PathValue("role"))
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "role", s.rolePage(v, a, role, role.Permissions))
	return nil
}

// updateRole applies what the form changed, and only that.
func (s *Server) updateRole(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access) error {
	if err := a.Require(manage.PermMembersManage); err != nil {
		return err
	}
	f, err := parseForm(r)
	if err != nil {
		return err
	}
	before, err := a.Role(r.Context(), r.PathValue("role"))
	if err != nil {
		return err
	}
	perms := f.list("permissions")
	page := s.rolePage(v, a, before, perms)
	page.Name, page.Description = f.get("name"), f.get("description")
	var in manage.RoleChange
	if page.Name != before.Name {
		in.Name = &page.Name
	}
	if page.Description != before.Description {
		in.Description = &page.Description
	}
	if !sameSet(perms, before.Permissions) {
		in.Permissions = &perms
	}
	list := projectURL(a.Project, "roles")
	if in == (manage.RoleChange{}) {
		http.Redirect(w, r, list, http.StatusSeeOther)
		return nil
	}
	after, err := a.UpdateRole(r.Context(), before.ID, in)
	if err != nil {
		if !fieldErrors(err, page.Errors) {
			return err
		}
		s.render(w, r, web.Status(err), "role", page)
		return nil
	}
	if keyward.Subset(before.Permissions, after.Permissions) {
		list += "?saved"
	} else {
		list += "?narrowed"
	}
	http.Redirect(w, r, list, http.StatusSeeOther)
	return nil
}

// roleDeletion is the confirmation of a role's deletion, which shows why it failed.
func (s *Server) roleDeletion(v *visit, a *manage.Access, role *keyward.Role) *confirmPage {
	list := projectURL(a.Project, "roles")
	return &confirmPage{
		projectBase: s.base(v, a, "roles", "Delete role"),
		Heading:     "Delete role “" + role.Name + "”?",
		Text:        holders(role) + " Only a role nobody holds can be deleted, and this cannot be undone.",
		Action:      roleURL(a.Project, role) + "/delete",
		Button:      "Delete role", Cancel: list,
	}
}

// holders says who holds role.
func holders(role *keyward.Role) string {
	if role.Members == 0 && role.Keys == 0 {
		return "Nobody holds it."
	}
	return fmt.Sprintf("It is held by %s and %s.", plural(role.Members, "member"), plural(role.Keys, "API key"))
}

// plural says "1 thing" or "n things".
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return strconv.Itoa(n) + " " + thing + "s"
}

func (s *Server) confirmDeleteRole(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access) error {
	role, err := a.Role(r.Context(), r.PathValue("role"))
	if err != nil {
		return err
	}
	if err := a.MayEditRole(role); err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "confirm", s.roleDeletion(v, a, role))
	return nil
}

// deleteRole deletes the role; one still held comes back as the confirmation, saying so.
func (s *Server) deleteRole(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access) error {
	if _, err := parseForm(r); err != nil {
		return err
	}
	_, err := a.DeleteRole(r.Context(), r.PathValue("role"))
	if keyward.ErrorCode(err) == keyward.ECONFLICT {
		held, rerr := a.Role(r.Context(), r.PathValue("role"))
		if rerr != nil {
			return err
		}
		page := s.roleDeletion(v, a, held)
		page.Error = keyward.ErrorMessage(err)
		s.render(w, r, web.Status(err), "confirm", page)
		return nil
	} else if err != nil {
		return err
	}
	http.Redirect(w, r, projectURL(a.Project, "roles")+"?deleted", http.StatusSeeOther)
	return nil
}

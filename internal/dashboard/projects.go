package dashboard

import (
	"net/http"
	"net/url"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/manage"
	"github.com/keyward/keyward/internal/web"
)

type projectsPage struct {
	pageBase
	Projects []*manage.Access
	Name     string // the new project form
	Errors   map[string]string
}

func (s *Server) projects(w http.ResponseWriter, r *http.Request, v *visit) error {
	return s.showProjects(w, r, v, http.StatusOK, &projectsPage{})
}

func (s *Server) showProjects(w http.ResponseWriter, r *http.Request, v *visit, status int, page *projectsPage) error {
	list, err := s.Manage.Projects(r.Context(), v.Caller)
	if err != nil {
		return err
	}
	page.pageBase = pageBase{Title: "Projects", Visit: v}
	page.Projects = list
	s.render(w, r, status, "projects", page)
	return nil
}

func (s *Server) createProject(w http.ResponseWriter, r *http.Request, v *visit) error {
	f, err := parseForm(r)
	if err != nil {
		return err
	}
	name := f.get("name")
	a, err := s.Manage.CreateProject(r.Context(), v.Caller, name)
	if err != nil {
		page := &projectsPage{Name: name, Errors: map[string]string{}}
		if !fieldErrors(err, page.Errors) {
			return err
		}
		return s.showProjects(w, r, v, web.Status(err), page)
	}
	http.Redirect(w, r, projectURL(a.Project, "api-keys"), http.StatusSeeOther)
	return nil
}

// projectURL is the address of one of a project's tabs ("" for General).
func projectURL(p *keyward.Project, tab string) string {
	u := "/projects/" + url.PathEscape(p.Name)
	if tab != "" {
		u += "/" + tab
	}
	return u
}

type projectFunc func(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access) error

// inProject opens {project} for the signed-in person: a project that does not exist and one they
// are not a member of are the same 404.
func (s *Server) inProject(h projectFunc) http.Handler {
	return s.page(func(w http.ResponseWriter, r *http.Request, v *visit) error {
		a, err := s.Manage.Open(r.Context(), v.Caller, r.PathValue("project"))
		if err != nil {
			return err
		}
		return h(w, r, v, a)
	})
}

func (s *Server) base(v *visit, a *manage.Access, tab, title string) projectBase {
	return projectBase{pageBase: pageBase{Title: title + " · " + a.Project.Name, Visit: v}, Access: a, Tab: tab}
}

type generalPage struct {
	projectBase
	Groups    []permGroup // the person's permissions, grouped
	CanRename bool
	CanDelete bool
	Name      string // the rename form
	KeyPolicy keyPolicyForm
	Errors    map[string]string
}

func (s *Server) general(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access) error {
	return s.showGeneral(w, r, v, a, http.StatusOK, &generalPage{Name: a.Project.Name})
}

func (s *Server) showGeneral(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access, status int, page *generalPage) error {
	page.projectBase = s.base(v, a, "general", "General")
	if r.URL.Query().Has("joined") {
		page.Notice = "Welcome to " + a.Project.Name + ": you accepted the invitation."
	}
	page.Groups = choices(a.Grantable(), a.Perms)
	page.CanRename = a.MayRename() == nil
	if !page.KeyPolicy.Posted {
		page.KeyPolicy = keyPolicyFormOf(a.Project)
	}
	page.CanDelete = a.MayDelete() == nil
	s.render(w, r, status, "general", page)
	return nil
}

func (s *Server) renameProject(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access) error {
	f, err := parseForm(r)
	if err != nil {
		return err
	}
	name := f.get("name")
	p, err := a.Rename(r.Context(), name)
	if err != nil {
		page := &generalPage{Name: name, Errors: map[string]string{}}
		if !fieldErrors(err, page.Errors) {
			return err
		}
		return s.showGeneral(w, r, v, a, web.Status(err), page)
	}
	http.Redirect(w, r, projectURL(p, ""), http.StatusSeeOther)
	return nil
}

func (s *Server) confirmDeleteProject(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access) error {
	if err := a.MayDelete(); err != nil {
		return err
	}
	general := projectURL(a.Project, "")
	s.render(w, r, http.StatusOK, "confirm", &confirmPage{
		projectBase: s.base(v, a, "general", "Delete project"),
		Heading:     "Delete project “" + a.Project.Name + "”?",
		Text: "Its members lose access and every API key of it is deleted: anything using them stops working at once, " +
			"and every token issued in the project is revoked. This cannot be undone.",
		Action: general + "/delete",
		Button: "Delete project", Cancel: general,
	})
	return nil
}

func (s *Server) deleteProject(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access) error {
	if _, err := parseForm(r); err != nil {
		return err
	}
	if err := a.Delete(r.Context()); err != nil {
		return err
	}
	http.Redirect(w, r, "/projects", http.StatusSeeOther)
	return nil
}

type permissionsPage struct {
	pageBase
	Groups []permGroup
}

func (s *Server) permissions(w http.ResponseWriter, r *http.Request, v *visit) error {
	s.render(w, r, http.StatusOK, "permissions", &permissionsPage{
		pageBase: pageBase{Title: "Permissions", Visit: v},
		Groups:   choices(s.Catalog.All(), nil),
	})
	return nil
}

package dashboard

import (
	"net/http"
	"net/url"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/manage"
	"github.com/keyward/keyward/internal/web"
)

type membersPage struct {
	projectBase
	Members []*keyward.Member
	Search  string // the search box's text
	Next    string // the next page's URL, "" on the last page
	First   string // the first page's URL (of the same search), "" on the first page
	// The add-member form.
	Email  string
	Groups []permGroup
	Errors map[string]string

	catalogSize int
}

// HoldsAll reports whether m holds every permission of the catalog, which the list says in
// three words instead of eighteen.
func (p *membersPage) HoldsAll(m *keyward.Member) bool { return len(m.Permissions) == p.catalogSize }

// CanChange reports whether the signed-in person may change or remove m.
func (p *membersPage) CanChange(m *keyward.Member) bool { return p.Access.CanChange(m) }

// MemberURL is the page where m's permissions are changed.
func (p *membersPage) MemberURL(m *keyward.Member) string {
	return projectURL(p.Project(), "members") + "/" + url.PathEscape(m.UserID)
}

func (s *Server) listMembers(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access) error {
	page := &membersPage{projectBase: s.base(v, a, "members", "Members"), Errors: map[string]string{}}
	q := r.URL.Query()
	switch {
	case q.Has("added"):
		page.Notice = "The member was added."
	case q.Has("saved"):
		page.Notice = "The member's permissions were saved."
	case q.Has("removed"):
		page.Notice = "The member was removed from the project."
	}
	return s.showMembers(w, r, a, http.StatusOK, page, nil)
}

func (s *Server) showMembers(w http.ResponseWriter, r *http.Request, a *manage.Access, status int, page *membersPage, checked []string) error {
	if a.Has(manage.PermMembersView) {
		p := keyward.Page{Limit: manage.PageDefaultLimit, Search: r.URL.Query().Get("q"), Cursor: r.URL.Query().Get("cursor")}
		members, next, err := a.MemberPage(r.Context(), p)
		if err != nil {
			return err
		}
		page.Members, page.Search = members, p.Search
		page.First, page.Next = pageLinks(projectURL(page.Project(), "members"), p, next)
	}
	page.Groups = choices(a.Grantable(), checked)
	page.catalogSize = len(s.Catalog.Names())
	s.render(w, r, status, "members", page)
	return nil
}

func (s *Server) addMember(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access) error {
	if err := a.Require(manage.PermMembersManage); err != nil {
		return err
	}
	f, err := parseForm(r)
	if err != nil {
		return err
	}
	email, perms := f.get("email"), f.list("permissions")
	if _, err := a.AddMember(r.Context(), email, perms); err != nil {
		page := &membersPage{projectBase: s.base(v, a, "members", "Members"), Email: email, Errors: map[string]string{}}
		if !fieldErrors(err, page.Errors) {
			return err
		}
		return s.showMembers(w, r, a, web.Status(err), page, perms)
	}
	http.Redirect(w, r, projectURL(a.Project, "members")+"?added", http.StatusSeeOther)
	return nil
}

type memberPage struct {
	projectBase
	Member *keyward.Member
	Groups []permGroup
	Errors map[string]string
	Remove string // where removal is confirmed and posted
}

func (s *Server) member(r *http.Request, a *manage.Access) (*keyward.Member, error) {
	if err := a.Require(manage.PermMembersManage); err != nil {
		return nil, err
	}
	members, err := a.Members(r.Context())
	if err != nil {
		return nil, err
	}
	id := r.PathValue("user")
	for _, m := range members {
		if m.UserID == id {
			if !a.CanChange(m) {
				return nil, keyward.Errorf(keyward.EFORBIDDEN, "You cannot change %s: they hold permissions you do not.", m.Email)
			}
			return m, nil
		}
	}
	return nil, keyward.Errorf(keyward.ENOTFOUND, "This person is not a member of the project.")
}

func (s *Server) memberPage(v *visit, a *manage.Access, m *keyward.Member, checked []string) *memberPage {
	return &memberPage{
		projectBase: s.base(v, a, "members", m.Email),
		Member:      m, Groups: choices(a.Grantable(), checked), Errors: map[string]string{},
		Remove: projectURL(a.Project, "members") + "/" + url.PathEscape(m.UserID) + "/remove",
	}
}

func (s *Server) editMember(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access) error {
	m, err := s.member(r, a)
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "member", s.memberPage(v, a, m, m.Permissions))
	return nil
}

func (s *Server) changeMember(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access) error {
	m, err := s.member(r, a)
	if err != nil {
		return err
	}
	f, err := parseForm(r)
	if err != nil {
		return err
	}
	perms := f.list("permissions")
	if _, err := a.ChangeMember(r.Context(), m.UserID, perms); err != nil {
		page := s.memberPage(v, a, m, perms)
		if !fieldErrors(err, page.Errors) {
			return err
		}
		s.render(w, r, web.Status(err), "member", page)
		return nil
	}
	http.Redirect(w, r, projectURL(a.Project, "members")+"?saved", http.StatusSeeOther)
	return nil
}

func (s *Server) confirmRemoveMember(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access) error {
	m, err := s.member(r, a)
	if err != nil {
		return err
	}
	list := projectURL(a.Project, "members")
	s.render(w, r, http.StatusOK, "confirm", &confirmPage{
		projectBase: s.base(v, a, "members", "Remove member"),
		Heading:     "Remove " + m.Email + " from " + a.Project.Name + "?",
		Text:        "They lose every permission in this project at once, and their tokens narrowed to it are revoked. Their API keys stay.",
		Action:      list + "/" + url.PathEscape(m.UserID) + "/remove",
		Button:      "Remove member", Cancel: list,
	})
	return nil
}

func (s *Server) removeMember(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access) error {
	if _, err := parseForm(r); err != nil {
		return err
	}
	if err := a.RemoveMember(r.Context(), r.PathValue("user")); err != nil {
		return err
	}
	http.Redirect(w, r, projectURL(a.Project, "members")+"?removed", http.StatusSeeOther)
	return nil
}

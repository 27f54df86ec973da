package dashboard

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"

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
	Email string
	roleField
	Groups []permGroup
	Errors map[string]string
	// IsAdmin: only an instance administrator adds an existing user directly; everyone invites.
	IsAdmin bool
	inviteForm

	catalog     *keyward.Catalog
	catalogSize int
}

// HoldsAll reports whether m holds every permission of the catalog, their role's included,
// which the list says in three words instead of eighteen.
func (p *membersPage) HoldsAll(m *keyward.Member) bool { return len(p.Held(m)) == p.catalogSize }

// heldPerm is one of the permissions a member holds, and whether they hold it only through
// their role.
type heldPerm struct {
	Name     string
	FromRole bool
}

// Held lists what m holds, their own permissions and their role's, in catalog order.
func (p *membersPage) Held(m *keyward.Member) []heldPerm {
	var out []heldPerm
	for _, name := range p.catalog.Filter(m.Held()) {
		out = append(out, heldPerm{Name: name, FromRole: !slices.Contains(m.Permissions, name)})
	}
	return out
}

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
	case q.Has("invited"):
		f, err := s.takeFlash(r.Context(), v, a.Project.ID)
		if err != nil {
			return err
		}
		if f != nil && f.Invited != nil {
			page.Invited, page.Notice = f.Invited, inviteNotice(f.Invited)
		}
	case q.Has("revoked"):
		page.Notice = "The invitation was revoked; its link no longer works."
	case q.Has("saved"):
		page.Notice = "The member's role and permissions were saved."
	case q.Has("removed"):
		page.Notice = "The member was removed from the project."
		page.Notice += keyCount(q.Get("transferred"), " was transferred first.", " were transferred first.")
		page.Notice += keyCount(q.Get("disabled"), " of theirs was disabled.", " of theirs were disabled.")
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
		if page.Invites, err = a.Invites(r.Context()); err != nil {
			return err
		}
	}
	page.IsAdmin = manage.RequireAdmin(a.Caller().Principal, "") == nil
	if a.Has(manage.PermMembersManage) {
		f, err := s.roleField(r.Context(), a, nil, page.Role)
		if err != nil {
			return err
		}
		page.roleField = f
	}
	page.Groups = choices(a.Grantable(), checked)
	page.catalog, page.catalogSize = s.Catalog, len(s.Catalog.Names())
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
	email, perms, role := f.get("email"), f.list("permissions"), f.get("role")
	if _, err := a.AddMember(r.Context(), email, manage.MemberInput{Permissions: perms, Role: role}); err != nil {
		page := &membersPage{projectBase: s.base(v, a, "members", "Members"), Email: email, Errors: map[string]string{}}
		page.Role = role
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
	roleField
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

// memberPage is the form that edits m, with checked ticked and the role role (an id) chosen.
func (s *Server) memberPage(r *http.Request, v *visit, a *manage.Access, m *keyward.Member, checked []string, role string) (*memberPage, error) {
	f, err := s.roleField(r.Context(), a, m.Role, role)
	if err != nil {
		return nil, err
	}
	return &memberPage{
		projectBase: s.base(v, a, "members", m.Email),
		Member:      m, roleField: f, Groups: choices(a.Grantable(), checked), Errors: map[string]string{},
		Remove: projectURL(a.Project, "members") + "/" + url.PathEscape(m.UserID) + "/remove",
	}, nil
}

func (s *Server) editMember(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access) error {
	m, err := s.member(r, a)
	if err != nil {
		return err
	}
	page, err := s.memberPage(r, v, a, m, m.Permissions, m.RoleID)
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "member", page)
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
	perms, role := f.list("permissions"), f.get("role")
	if _, err := a.ChangeMember(r.Context(), m.UserID, manage.MemberInput{Permissions: perms, Role: role}); err != nil {
		page, perr := s.memberPage(r, v, a, m, perms, role)
		if perr != nil {
			return perr
		}
		if !fieldErrors(err, page.Errors) {
			return err
		}
		s.render(w, r, web.Status(err), "member", page)
		return nil
	}
	http.Redirect(w, r, projectURL(a.Project, "members")+"?saved", http.StatusSeeOther)
	return nil
}

// removalPage confirms a member's removal. It lists the member's API keys in the project, each
// with the members it can be transferred to; a key not transferred is disabled by the removal.
type removalPage struct {
	projectBase
	Member   *keyward.Member
	Keys     []*ownedKey
	KeysSeen bool   // whether the signed-in person may list keys (api-keys-view)
	Action   string // where the removal is posted
	Cancel   string
	Error    string
}

// ownedKey is one of a departing member's keys and who may take it over.
type ownedKey struct {
	Key *keyward.APIKey
	// To are the members who hold every permission of the key, empty when there are none or
	// the signed-in person may not transfer it; Why then says why.
	To  []*keyward.Member
	Why string
}

// Field is the name of the key's transfer choice in the form.
func (k *ownedKey) Field() string { return "owner-" + k.Key.ID }

func (s *Server) removalPage(r *http.Request, v *visit, a *manage.Access, m *keyward.Member) (*removalPage, error) {
	list := projectURL(a.Project, "members")
	page := &removalPage{
		projectBase: s.base(v, a, "members", "Remove member"), Member: m,
		Action: list + "/" + url.PathEscape(m.UserID) + "/remove", Cancel: list,
	}
	if !a.Has(manage.PermKeysView) {
		return page, nil
	}
	page.KeysSeen = true
	keys, err := a.Keys(r.Context())
	if err != nil {
		return nil, err
	}
	members, err := a.Members(r.Context())
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if k.Owner != m.UserID {
			continue
		}
		ok := &ownedKey{Key: k}
		own := s.Catalog.Filter(k.Own()) // its permissions and its role's
		page.Keys = append(page.Keys, ok)
		switch {
		case !a.Has(manage.PermKeysManage):
			ok.Why = "Transferring it needs the api-keys-manage permission."
			continue
		case !holdsAll(a.Perms, own):
			ok.Why = "You cannot transfer it: it holds permissions you do not."
			continue
		}
		for _, o := range members {
			if o.UserID != m.UserID && holdsAll(o.Held(), own) {
				ok.To = append(ok.To, o)
			}
		}
		if len(ok.To) == 0 {
			ok.Why = "No other member holds all of its permissions."
		}
	}
	return page, nil
}

// keyCount says "1 API key"+one or "n API keys"+many, and nothing when n is not a positive number.
func keyCount(n, one, many string) string {
	switch i, _ := strconv.Atoi(n); {
	case i == 1:
		return " 1 API key" + one
	case i > 1:
		return " " + strconv.Itoa(i) + " API keys" + many
	}
	return ""
}

func holdsAll(held, perms []string) bool {
	for _, p := range perms {
		if !slices.Contains(held, p) {
			return false
		}
	}
	return true
}

func (s *Server) confirmRemoveMember(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access) error {
	m, err := s.member(r, a)
	if err != nil {
		return err
	}
	page, err := s.removalPage(r, v, a, m)
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "remove-member", page)
	return nil
}

// removeMember first transfers the keys the form hands to another member, then removes the
// member, which disables the keys still theirs.
func (s *Server) removeMember(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access) error {
	f, err := parseForm(r)
	if err != nil {
		return err
	}
	m, err := s.member(r, a)
	if err != nil {
		return err
	}
	var transferred, disabled int
	if a.Has(manage.PermKeysView) {
		page, err := s.removalPage(r, v, a, m)
		if err != nil {
			return err
		}
		for _, k := range page.Keys {
			to := f.get(k.Field())
			if to == "" {
				continue
			}
			if _, err := a.UpdateKey(r.Context(), k.Key.ID, manage.KeyChange{Owner: &to}); err != nil {
				if keyward.ErrorCode(err) == keyward.EINTERNAL {
					return err
				}
				// Nothing is removed: the person decides again, on the page as it now is.
				page, perr := s.removalPage(r, v, a, m)
				if perr != nil {
					return perr
				}
				page.Error = "API key " + k.Key.Name + " was not transferred, and " + m.Email + " is still a member: " + keyward.ErrorMessage(err)
				s.render(w, r, web.Status(err), "remove-member", page)
				return nil
			}
			transferred++
		}
		disabled = len(page.Keys) - transferred
	}
	if err := a.RemoveMember(r.Context(), m.UserID); err != nil {
		return err
	}
	q := url.Values{"removed": {""}}
	if transferred > 0 {
		q.Set("transferred", strconv.Itoa(transferred))
	}
	if disabled > 0 {
		q.Set("disabled", strconv.Itoa(disabled))
	}
	http.Redirect(w, r, projectURL(a.Project, "members")+"?"+q.Encode(), http.StatusSeeOther)
	return nil
}

package dashboard

import (
	"net/http"
	"net/url"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/manage"
	"github.com/keyward/keyward/internal/web"
)

// usersURL is the instance administrator's list of users.
const usersURL = "/users"

// userURL is the address of one of the actions on u ("" for none).
func userURL(u *keyward.User, action string) string {
	p := usersURL + "/" + url.PathEscape(u.ID)
	if action != "" {
		p += "/" + action
	}
	return p
}

// adminPage serves h to the instance administrator; to anyone else, signed in or not, the
// address does not exist, as an unknown one (the administrator's pages are not advertised).
// Admin is read again on every request, so a demoted administrator loses the pages at once.
func (s *Server) adminPage(h pageFunc) http.Handler {
	return s.page(func(w http.ResponseWriter, r *http.Request, v *visit) error {
		if manage.RequireAdmin(v.Caller.Principal, "") != nil {
			return errNoPage
		}
		return h(w, r, v)
	})
}

type usersPage struct {
	pageBase
	Users  []*keyward.User
	Search string
	Next   string
	First  string
	Error  string      // why the last action failed, if it did
	Reset  *resetFlash // a reset link just issued, shown once
	// The create-user form.
	Email  string
	Admin  bool
	Errors map[string]string
}

// URL is the address of one of the actions on u, for the template.
func (p *usersPage) URL(u *keyward.User, action string) string { return userURL(u, action) }

// resetFlash is a password reset link just issued, which the users page shows once.
type resetFlash struct {
	Email     string    `json:"email"`
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expires_at"`
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request, v *visit) error {
	page := &usersPage{}
	q := r.URL.Query()
	for _, n := range []struct{ key, text string }{
		{"created", "The user was created. Add them to projects on each project's Members tab."},
		{"disabled", "The user was disabled: their sessions ended and the API keys they own were disabled."},
		{"enabled", "The user was enabled. They sign in again; their API keys stay disabled until a manager enables them."},
		{"admin-granted", "The user is now an instance administrator."},
		{"admin-revoked", "The user is no longer an instance administrator."},
		{"deleted", "The user was deleted. The API keys they owned stay, disabled, for a manager to hand over."},
	} {
		if q.Has(n.key) {
			page.Notice = n.text
		}
	}
	if q.Has("reset") {
		f, err := s.takeFlash(r.Context(), v, "")
		if err != nil {
			return err
		}
		if f != nil {
			page.Reset = f.Reset
		}
	}
	return s.showUsers(w, r, v, http.StatusOK, page)
}

func (s *Server) showUsers(w http.ResponseWriter, r *http.Request, v *visit, status int, page *usersPage) error {
	p := keyward.Page{Limit: manage.PageDefaultLimit, Search: r.URL.Query().Get("q"), Cursor: r.URL.Query().Get("cursor")}
	users, next, err := s.Manage.UserPage(r.Context(), v.Caller, p)
	if err != nil {
		return err
	}
	page.pageBase.Title, page.pageBase.Visit = "Users", v
	page.Users, page.Search = users, p.Search
	page.First, page.Next = pageLinks(usersURL, p, next)
	if page.Errors == nil {
		page.Errors = map[string]string{}
	}
	s.render(w, r, status, "users", page)
	return nil
}

// createUser makes an account with a first password, which the administrator hands over (or
// replaces at once with a reset link).
func (s *Server) createUser(w http.ResponseWriter, r *http.Request, v *visit) error {
	f, err := parseForm(r)
	if err != nil {
		return err
	}
	admin := f.list("admin")
	if len(admin) > 1 || len(admin) == 1 && admin[0] != "on" {
		return keyward.Errorf(keyward.EINVALID, "The administrator box is either ticked or not.")
	}
	in := manage.UserInput{Email: f.get("email"), Password: f.get("password"), Admin: len(admin) == 1}
	if _, err := s.Manage.CreateUser(r.Context(), v.Caller, in); err != nil {
		page := &usersPage{Email: in.Email, Admin: in.Admin, Errors: map[string]string{}}
		if !fieldErrors(err, page.Errors) {
			return err
		}
		return s.showUsers(w, r, v, web.Status(err), page)
	}
	http.Redirect(w, r, usersURL+"?created", http.StatusSeeOther)
	return nil
}

// target is the user the path names, as the administrator may see them.
func (s *Server) target(r *http.Request, v *visit) (*keyward.User, error) {
	return s.Manage.User(r.Context(), v.Caller, r.PathValue("user"))
}

// changeUser applies change to the user the path names and returns to the list saying done; a
// refusal (the last administrator, yourself) is shown on the list.
func (s *Server) changeUser(change keyward.UserChange, done string) pageFunc {
	return func(w http.ResponseWriter, r *http.Request, v *visit) error {
		if _, err := parseForm(r); err != nil {
			return err
		}
		after, err := s.Manage.UpdateUser(r.Context(), v.Caller, r.PathValue("user"), change)
		if err != nil {
			return s.refused(w, r, v, err)
		}
		if after.ID == v.User.ID && !after.Admin {
			// Demoted themselves: the list is no longer theirs to see.
			http.Redirect(w, r, "/projects", http.StatusSeeOther)
			return nil
		}
		http.Redirect(w, r, usersURL+"?"+done, http.StatusSeeOther)
		return nil
	}
}

// refused shows the list with why an action on a user was refused; an error that is not about
// the request (a missing user, a failure) is an error page.
func (s *Server) refused(w http.ResponseWriter, r *http.Request, v *visit, err error) error {
	switch keyward.ErrorCode(err) {
	case keyward.ECONFLICT, keyward.EFORBIDDEN:
		return s.showUsers(w, r, v, web.Status(err), &usersPage{Error: keyward.ErrorMessage(err)})
	}
	return err
}

// userConfirmation asks before a change that cannot be taken back by undoing it.
func (s *Server) userConfirmation(v *visit, u *keyward.User, action string) *confirmPage {
	page := &confirmPage{projectBase: projectBase{pageBase: pageBase{Visit: v}}, Action: userURL(u, action), Cancel: usersURL}
	switch action {
	case "disable":
		page.Title, page.Heading, page.Button = "Disable user", "Disable "+u.Email+"?", "Disable user"
		page.Text = "They are signed out everywhere at once, in browsers and on the command line, and cannot sign in. " +
			"The API keys they own are disabled, and stay disabled if you enable the user again."
	default:
		page.Title, page.Heading, page.Button = "Delete user", "Delete "+u.Email+"?", "Delete user"
		page.Text = "They leave every project and are signed out everywhere. The API keys they own stay, disabled, " +
			"for a manager to hand to another member; the audit log keeps what they did. This cannot be undone."
	}
	return page
}

// confirmUser shows the confirmation of action ("disable" or "delete") on the user the path names.
func (s *Server) confirmUser(action string) pageFunc {
	return func(w http.ResponseWriter, r *http.Request, v *visit) error {
		u, err := s.target(r, v)
		if err != nil {
			return err
		}
		s.render(w, r, http.StatusOK, "confirm", s.userConfirmation(v, u, action))
		return nil
	}
}

// disableOrDelete disables or deletes the user the path names; a refusal (the last
// administrator, the last owner of a project, yourself) comes back as the confirmation, saying why.
func (s *Server) disableOrDelete(action string) pageFunc {
	return func(w http.ResponseWriter, r *http.Request, v *visit) error {
		if _, err := parseForm(r); err != nil {
			return err
		}
		u, err := s.target(r, v)
		if err != nil {
			return err
		}
		done := "deleted"
		if action == "disable" {
			disabled := true
			_, err = s.Manage.UpdateUser(r.Context(), v.Caller, u.ID, keyward.UserChange{Disabled: &disabled})
			done = "disabled"
		} else {
			err = s.Manage.DeleteUser(r.Context(), v.Caller, u.ID)
		}
		switch keyward.ErrorCode(err) {
		case "":
			http.Redirect(w, r, usersURL+"?"+done, http.StatusSeeOther)
			return nil
		case keyward.ECONFLICT, keyward.EFORBIDDEN:
			page := s.userConfirmation(v, u, action)
			page.Error = keyward.ErrorMessage(err)
			s.render(w, r, web.Status(err), "confirm", page)
			return nil
		}
		return err
	}
}

// issueReset makes a password reset link for the user the path names and shows it once on the
// list, through the sealed flash: the redirect's URL and the database never hold it.
func (s *Server) issueReset(w http.ResponseWriter, r *http.Request, v *visit) error {
	if _, err := parseForm(r); err != nil {
		return err
	}
	u, err := s.target(r, v)
	if err != nil {
		return err
	}
	link, err := s.Manage.IssuePasswordReset(r.Context(), v.Caller, u.ID)
	if err != nil {
		return s.refused(w, r, v, err)
	}
	reset := &resetFlash{Email: u.Email, URL: manage.ResetURL(s.Issuer, link.Secret), ExpiresAt: link.ExpiresAt}
	if err := s.setFlash(r.Context(), v, &flash{Reset: reset}); err != nil {
		return err
	}
	http.Redirect(w, r, usersURL+"?reset", http.StatusSeeOther)
	return nil
}

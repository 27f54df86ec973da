package dashboard

import (
	"errors"
	"net/http"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/manage"
	"github.com/keyward/keyward/internal/web"
)

// inviteCookieTTL bounds how long the link's token waits in the browser between opening the link
// and accepting: long enough to sign in first.
const inviteCookieTTL = time.Hour

// inviteForm is the members page's invitation form and list.
type inviteForm struct {
	Invites      []*keyward.Invite
	InviteEmail  string
	InviteRole   string // the chosen role's id
	InviteErrors map[string]string
	Invited      *invitedFlash // the invitation just made, shown once
}

// createInvite invites by address and role; the link, when no mail carried it, reaches the
// members page through the flash, never through a URL.
func (s *Server) createInvite(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access) error {
	if err := a.Require(manage.PermMembersManage); err != nil {
		return err
	}
	f, err := parseForm(r)
	if err != nil {
		return err
	}
	email, role := f.get("email"), f.get("role")
	c, err := a.CreateInvite(r.Context(), manage.InviteInput{Email: email, Role: role})
	if err != nil {
		page := &membersPage{projectBase: s.base(v, a, "members", "Members"), Errors: map[string]string{}}
		page.InviteEmail, page.InviteRole, page.InviteErrors = email, role, map[string]string{}
		if !fieldErrors(err, page.InviteErrors) {
			return err
		}
		return s.showMembers(w, r, a, web.Status(err), page, nil)
	}
	fl := &flash{ProjectID: a.Project.ID, Invited: &invitedFlash{Email: c.Invite.Email, URL: c.URL, Mailed: c.Mailed, MailError: c.MailError}}
	if err := s.setFlash(r.Context(), v, fl); err != nil {
		return err
	}
	http.Redirect(w, r, projectURL(a.Project, "members")+"?invited", http.StatusSeeOther)
	return nil
}

func (s *Server) revokeInvite(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access) error {
	if err := a.RevokeInvite(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	http.Redirect(w, r, projectURL(a.Project, "members")+"?revoked", http.StatusSeeOther)
	return nil
}

// inviteCookieName holds a link's token between the link and the acceptance; over https with the
// __Host- prefix, as the session cookie.
func (s *Server) inviteCookieName() string {
	if s.HTTPS {
		return "__Host-keyward_invite"
	}
	return "keyward_invite"
}

func (s *Server) inviteCookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: s.inviteCookieName(), Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: s.HTTPS, SameSite: http.SameSiteLaxMode,
	}
}

// inviteLink is where a link lands: its token moves into a short-lived HttpOnly cookie at once,
// and the browser goes on to /invite, so the token is neither in the address bar, the history,
// nor (Referrer-Policy: no-referrer everywhere) a Referer.
func (s *Server) inviteLink(w http.ResponseWriter, r *http.Request) error {
	token := r.PathValue("token")
	if !manage.ValidInviteToken(token) {
		return manage.InviteGone
	}
	http.SetCookie(w, s.inviteCookie(token, int(inviteCookieTTL/time.Second)))
	http.Redirect(w, r, "/invite", http.StatusSeeOther)
	return nil
}

// invitePage shows the invitation of the browser's link: a form to choose a password for a new
// account, a sign-in for an address that has one, an Accept button for the signed-in invitee.
type invitePage struct {
	pageBase
	Invite     *keyward.Invite
	Project    *keyward.Project
	HasAccount bool
	SignedIn   bool   // as the invited address
	OtherUser  string // the address signed in, when it is another one
	Errors     map[string]string
}

func (s *Server) invitation(r *http.Request) (*manage.Invitation, *visit, error) {
	v, err := s.session(r)
	if err != nil {
		return nil, nil, err
	}
	c, err := r.Cookie(s.inviteCookieName())
	if err != nil {
		return nil, v, inVisit(v, manage.InviteGone)
	}
	inv, err := s.Manage.Invitation(r.Context(), c.Value)
	return inv, v, inVisit(v, err)
}

func (s *Server) invitePage(w http.ResponseWriter, r *http.Request) error {
	inv, v, err := s.invitation(r)
	if err != nil {
		return err
	}
	s.renderInvite(w, r, http.StatusOK, inv, v, nil)
	return nil
}

func (s *Server) renderInvite(w http.ResponseWriter, r *http.Request, status int, inv *manage.Invitation, v *visit, errs map[string]string) {
	page := &invitePage{
		pageBase: pageBase{Title: "Invitation to " + inv.Project.Name, Visit: v},
		Invite:   inv.Invite, Project: inv.Project, HasAccount: inv.HasAccount, Errors: errs,
	}
	if v != nil {
		page.SignedIn = v.User.Email == inv.Invite.Email
		if !page.SignedIn {
			page.OtherUser = v.User.Email
		}
	}
	s.render(w, r, status, "invite", page)
}

// acceptInvite accepts the browser's invitation: as the signed-in invitee, or by creating the
// account with the password chosen, which then signs in. Either way the token's cookie goes.
func (s *Server) acceptInvite(w http.ResponseWriter, r *http.Request) error {
	f, err := parseForm(r)
	if err != nil {
		return err
	}
	inv, v, err := s.invitation(r)
	if err != nil {
		return err
	}
	c, _ := r.Cookie(s.inviteCookieName())
	caller := manage.Caller{IP: s.clientIP(r)}
	pw := ""
	if v != nil {
		caller = v.Caller
	} else {
		pw = f.get("password")
		if pw != f.get("confirm") {
			s.renderInvite(w, r, http.StatusBadRequest, inv, v, map[string]string{"confirm": "The two passwords differ; type the same one twice."})
			return nil
		}
	}
	u, _, err := s.Manage.AcceptInvite(r.Context(), caller, c.Value, pw)
	if err != nil {
		errs := map[string]string{}
		if fieldErrors(err, errs) {
			s.renderInvite(w, r, web.Status(err), inv, v, errs)
			return nil
		}
		if errors.Is(err, manage.InviteGone) {
			http.SetCookie(w, s.inviteCookie("", -1))
		}
		return inVisit(v, err)
	}
	http.SetCookie(w, s.inviteCookie("", -1))
	if v == nil {
		if err := s.startSession(w, r, u); err != nil {
			return err
		}
	}
	http.Redirect(w, r, projectURL(inv.Project, "")+"?joined", http.StatusSeeOther)
	return nil
}

// inviteNotice says what became of the invitation just made.
func inviteNotice(f *invitedFlash) string {
	switch {
	case f.Mailed:
		return "The invitation was mailed to " + f.Email + "."
	case f.MailError != "":
		return f.MailError
	}
	return "Invitation made. Give " + f.Email + " the link below; it is shown only once."
}

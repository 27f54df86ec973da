package api

import (
	"net/http"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/internal/authn"
	"github.com/keyward/keyward/internal/manage"
)

// listUsers pages through the instance's users: instance administrators only (manage.UserPage
// answers anyone else as an unknown path).
func (s *Server) listUsers(w http.ResponseWriter, r *http.Request, p *authn.Principal) error {
	page, err := pageQuery(r)
	if err != nil {
		return err
	}
	users, next, err := s.mgr.UserPage(r.Context(), s.caller(r, p), page)
	if err != nil {
		return err
	}
	data := make([]client.User, 0, len(users))
	for _, u := range users {
		out := userOut(u)
		out.SecondFactor = &u.SecondFactor
		data = append(data, *out)
	}
	return writeJSON(w, http.StatusOK, client.Page[client.User]{Data: data, Next: nextCursor(next)})
}

// adminOnly answers a caller who is not an instance administrator as an unknown path, before
// the body is read, so that nobody else learns the route exists.
func adminOnly(p *authn.Principal) error {
	if manage.RequireAdmin(p, "") != nil {
		return keyward.Errorf(keyward.ENOTFOUND, "There is no such API path.")
	}
	return nil
}

func (s *Server) updateUser(w http.ResponseWriter, r *http.Request, p *authn.Principal) error {
	if err := adminOnly(p); err != nil {
		return err
	}
	var req client.UpdateUserRequest
	fields, err := decodePatch(w, r, &req)
	if err != nil {
		return err
	}
	for name, null := range fields {
		if null {
			return invalid("Field %q must be true or false.", name)
		}
	}
	if req.Disabled == nil && req.Admin == nil {
		return invalid("Send \"disabled\", \"admin\" or both.")
	}
	u, err := s.mgr.UpdateUser(r.Context(), s.caller(r, p), r.PathValue("id"), keyward.UserChange{Disabled: req.Disabled, Admin: req.Admin})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, userOut(u))
}

func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request, p *authn.Principal) error {
	if err := adminOnly(p); err != nil {
		return err
	}
	if _, err := query(r); err != nil {
		return err
	}
	if err := s.mgr.DeleteUser(r.Context(), s.caller(r, p), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// issuePasswordReset answers the link once; only its hash is stored.
func (s *Server) issuePasswordReset(w http.ResponseWriter, r *http.Request, p *authn.Principal) error {
	if err := adminOnly(p); err != nil {
		return err
	}
	if _, err := query(r); err != nil {
		return err
	}
	var req struct{}
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	link, err := s.mgr.IssuePasswordReset(r.Context(), s.caller(r, p), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, client.PasswordResetLink{
		URL: manage.ResetURL(s.Issuer, link.Secret), ExpiresAt: link.ExpiresAt.UTC(),
	})
}

// changePassword changes the caller's own password; the calling token's session survives, every
// other sign-in of theirs ends.
func (s *Server) changePassword(w http.ResponseWriter, r *http.Request, p *authn.Principal) error {
	if err := manage.RequireFullUser(p, "change a password"); err != nil {
		return err
	}
	var req client.ChangePasswordRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	err := s.mgr.ChangePassword(r.Context(), s.caller(r, p), s.Login, manage.PasswordChange{Current: req.CurrentPassword, New: req.NewPassword})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

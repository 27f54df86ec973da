package dashboard

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/authn"
	"github.com/keyward/keyward/internal/manage"
	"github.com/keyward/keyward/internal/ratelimit"
	"github.com/keyward/keyward/internal/web"
)

type passwordPage struct {
	pageBase
	Errors map[string]string
	Reset  bool // the reset-link form (no current password), not the change form
	NoLink bool // the reset page opened without a link
}

func (s *Server) passwordForm(w http.ResponseWriter, r *http.Request, v *visit) error {
	s.render(w, r, http.StatusOK, "password", &passwordPage{pageBase: pageBase{Title: "Change password", Visit: v}})
	return nil
}

// changePassword changes the signed-in person's password; this login stays, every other login
// and token session of theirs ends.
func (s *Server) changePassword(w http.ResponseWriter, r *http.Request, v *visit) error {
	f, err := parseForm(r)
	if err != nil {
		return err
	}
	page := &passwordPage{pageBase: pageBase{Title: "Change password", Visit: v}, Errors: map[string]string{}}
	if f.get("new_password") != f.get("confirm_password") {
		page.Errors["confirm_password"] = "The two new passwords differ."
		s.render(w, r, http.StatusBadRequest, "password", page)
		return nil
	}
	err = s.Manage.ChangePassword(r.Context(), v.Caller, s.passwordLogin(), manage.PasswordChange{
		Current: f.get("current_password"), New: f.get("new_password"), KeepWeb: v.hash,
	})
	var wait *authn.Throttled
	switch {
	case errors.As(err, &wait):
		w.Header().Set("Retry-After", strconv.Itoa(ratelimit.Seconds(wait.RetryAfter)))
		page.Errors["current_password"] = "Too many failed attempts. " + ratelimit.TryAgain(wait.RetryAfter)
		s.render(w, r, http.StatusTooManyRequests, "password", page)
		return nil
	case err != nil:
		if !fieldErrors(err, page.Errors) {
			return err
		}
		s.render(w, r, web.Status(err), "password", page)
		return nil
	}
	page.Notice = "Your password was changed. Your other sessions have ended."
	s.render(w, r, http.StatusOK, "password", page)
	return nil
}

// resetCookie holds a reset link's secret between the link and the form, so that the address bar,
// the history and any later request carry a clean URL. Lax, so that it survives the redirect
// that follows a link opened from another site (a mail client); scoped to the page; ten minutes.
const resetCookie = "keyward_reset"

func (s *Server) resetCookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: resetCookie, Value: value, Path: "/reset-password", MaxAge: maxAge,
		HttpOnly: true, Secure: s.HTTPS, SameSite: http.SameSiteLaxMode}
}

// resetForm reads a reset link into a cookie and sends the browser to the clean URL, or shows
// the form for the link the cookie holds. Nobody needs to be signed in.
func (s *Server) resetForm(w http.ResponseWriter, r *http.Request) error {
	page := &passwordPage{pageBase: pageBase{Title: "Set a new password"}, Reset: true, Errors: map[string]string{}}
	if r.URL.RawQuery != "" {
		secret := r.URL.Query().Get("token")
		if !manage.ValidResetSecret(secret) {
			page.NoLink = true
			s.render(w, r, http.StatusNotFound, "password", page)
			return nil
		}
		http.SetCookie(w, s.resetCookie(secret, 600))
		http.Redirect(w, r, "/reset-password", http.StatusSeeOther)
		return nil
	}
	if c, err := r.Cookie(resetCookie); err != nil || !manage.ValidResetSecret(c.Value) {
		page.NoLink = true
	}
	s.render(w, r, http.StatusOK, "password", page)
	return nil
}

// resetPassword spends the link in the cookie: the new password is set and every session and
// login of the user ends, this browser's included; they sign in with the new password.
func (s *Server) resetPassword(w http.ResponseWriter, r *http.Request) error {
	f, err := parseForm(r)
	if err != nil {
		return err
	}
	page := &passwordPage{pageBase: pageBase{Title: "Set a new password"}, Reset: true, Errors: map[string]string{}}
	c, err := r.Cookie(resetCookie)
	if err != nil || !manage.ValidResetSecret(c.Value) {
		page.NoLink = true
		s.render(w, r, http.StatusNotFound, "password", page)
		return nil
	}
	if f.get("new_password") != f.get("confirm_password") {
		page.Errors["confirm_password"] = "The two new passwords differ."
		s.render(w, r, http.StatusBadRequest, "password", page)
		return nil
	}
	_, err = s.Manage.ResetPassword(r.Context(), manage.Caller{IP: s.clientIP(r)}, c.Value, f.get("new_password"))
	switch code := keyward.ErrorCode(err); {
	case err == nil:
	case code == keyward.ENOTFOUND || code == keyward.EEXPIRED:
		http.SetCookie(w, s.resetCookie("", -1))
		page.NoLink, page.Notice = true, keyward.ErrorMessage(err)
		s.render(w, r, web.Status(err), "password", page)
		return nil
	default:
		if !fieldErrors(err, page.Errors) {
			return err
		}
		s.render(w, r, web.Status(err), "password", page)
		return nil
	}
	http.SetCookie(w, s.resetCookie("", -1))
	// Any login this browser had ended with the reset.
	http.SetCookie(w, s.cookie("", -1))
	http.Redirect(w, r, "/login?password-set", http.StatusSeeOther)
	return nil
}

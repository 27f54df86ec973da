package dashboard

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/authn"
	"github.com/keyward/keyward/internal/manage"
	"github.com/keyward/keyward/internal/twofactor"
	"github.com/keyward/keyward/internal/web"
)

// SecondFactors enrols and checks second factors.
type SecondFactors = *twofactor.Service

// challengeTTL bounds the time between a right password and its second factor.
const challengeTTL = 5 * time.Minute

func (s *Server) routeSecondFactors(mux *http.ServeMux) {
	if s.SecondFactors == nil {
		return
	}
	mux.Handle("GET /login/2fa", s.handle(s.secondStepForm))
	mux.Handle("POST /login/2fa", s.handle(s.secondStep))
	mux.Handle("GET "+manage.Enrol2FAPath, s.page(s.account2FA))
	mux.Handle("POST "+manage.Enrol2FAPath+"/setup", s.page(s.setup2FA))
	mux.Handle("POST "+manage.Enrol2FAPath+"/confirm", s.page(s.confirm2FA))
	mux.Handle("POST "+manage.Enrol2FAPath+"/recovery-codes", s.page(s.regenerateCodes))
	mux.Handle("POST "+manage.Enrol2FAPath+"/disable", s.page(s.disable2FA))
	mux.Handle("POST /projects/{project}/require-2fa", s.inProject(s.setRequire2FA))
	s.routePasskeys(mux)
}

// setRequire2FA turns the project's require_2fa on or off.
func (s *Server) setRequire2FA(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access) error {
	f, err := parseForm(r)
	if err != nil {
		return err
	}
	var require bool
	switch f.get("require_2fa") {
	case "true":
		require = true
	case "false":
	default:
		return keyward.Errorf(keyward.EINVALID, "Choose whether the project requires two-factor sign-in.")
	}
	if _, err := a.SetRequire2FA(r.Context(), require); err != nil {
		page := &generalPage{Name: a.Project.Name, Errors: map[string]string{}}
		if !fieldErrors(err, page.Errors) {
			return err
		}
		return s.showGeneral(w, r, v, a, web.Status(err), page)
	}
	http.Redirect(w, r, projectURL(a.Project, ""), http.StatusSeeOther)
	return nil
}

// challengeCookieName is the cookie of a sign-in awaiting its second factor; __Host- over https
// as the session cookie.
func (s *Server) challengeCookieName() string {
	if s.HTTPS {
		return "__Host-keyward_2fa"
	}
	return "keyward_2fa"
}

func (s *Server) challengeCookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: s.challengeCookieName(), Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: s.HTTPS, SameSite: http.SameSiteLaxMode,
	}
}

// challenge records that u gave the right password and sends the browser to the second step.
// The browser holds a random secret, the store its hash: a half-signed-in browser holds no web
// session, so it can do nothing but answer the second factor, for challengeTTL.
func (s *Server) challenge(w http.ResponseWriter, r *http.Request, u *keyward.User, next string) error {
	secret := make([]byte, secretBytes)
	if _, err := io.ReadFull(s.Rand, secret); err != nil {
		return fmt.Errorf("challenge secret: %w", err)
	}
	hash := sha256.Sum256(secret)
	now := s.Now()
	c := &keyward.LoginChallenge{Hash: hash[:], UserID: u.ID, Next: next, CreatedAt: now, ExpiresAt: now.Add(challengeTTL)}
	if err := s.Store.CreateLoginChallenge(r.Context(), c); err != nil {
		return err
	}
	http.SetCookie(w, s.challengeCookie(base64.RawURLEncoding.EncodeToString(secret), int(challengeTTL/time.Second)))
	http.Redirect(w, r, "/login/2fa", http.StatusSeeOther)
	return nil
}

// pendingChallenge returns the request's live challenge and its user, or nil.
func (s *Server) pendingChallenge(r *http.Request) (*keyward.LoginChallenge, *keyward.User, error) {
	ck, err := r.Cookie(s.challengeCookieName())
	if err != nil {
		return nil, nil, nil
	}
	secret, err := base64.RawURLEncoding.DecodeString(ck.Value)
	if err != nil || len(secret) != secretBytes {
		return nil, nil, nil
	}
	hash := sha256.Sum256(secret)
	c, err := s.Store.LoginChallenge(r.Context(), hash[:])
	if keyward.ErrorCode(err) == keyward.ENOTFOUND {
		return nil, nil, nil
	} else if err != nil {
		return nil, nil, err
	}
	if !s.Now().Before(c.ExpiresAt) {
		return nil, nil, nil
	}
	u, err := s.Store.UserByID(r.Context(), c.UserID)
	if keyward.ErrorCode(err) == keyward.ENOTFOUND {
		return nil, nil, nil
	} else if err != nil {
		return nil, nil, err
	}
	if u.Disabled {
		return nil, nil, nil
	}
	return c, u, nil
}

type secondStepPage struct {
	pageBase
	Error   string
	Passkey bool // the person has a passkey: the page offers it
}

// expired sends a browser without a live challenge back to the password form.
func (s *Server) expired(w http.ResponseWriter, r *http.Request) error {
	http.SetCookie(w, s.challengeCookie("", -1))
	s.render(w, r, http.StatusUnauthorized, "login", &loginPage{pageBase: pageBase{Title: "Sign in"}, Next: localPath(""),
		Error: "Your sign-in took too long or was already used. Enter your password again."})
	return nil
}

func (s *Server) secondStepForm(w http.ResponseWriter, r *http.Request) error {
	c, u, err := s.pendingChallenge(r)
	if err != nil {
		return err
	}
	if c == nil {
		return s.expired(w, r)
	}
	st, err := s.SecondFactors.Status(r.Context(), u.ID)
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "login-2fa", &secondStepPage{pageBase: pageBase{Title: "Two-factor sign-in"}, Passkey: len(st.Passkeys) > 0})
	return nil
}

// secondStep checks the code of a pending sign-in under the password's throttling and, when it
// is right, spends the challenge and starts the web session.
func (s *Server) secondStep(w http.ResponseWriter, r *http.Request) error {
	f, err := parseForm(r)
	if err != nil {
		return err
	}
	code := f.get("code")
	if code == "" {
		s.render(w, r, http.StatusBadRequest, "login-2fa", &secondStepPage{pageBase: pageBase{Title: "Two-factor sign-in"},
			Error: "Enter the code your authenticator app shows, or a recovery code."})
		return nil
	}
	return s.answerChallenge(w, r, "dashboard", authn.WrongSecondFactor, func(ctx context.Context, u *keyward.User, _ *keyward.LoginChallenge) error {
		return s.SecondFactors.Check(ctx, u, code, s.clientIP(r))
	})
}

// answerChallenge checks, with check, the second factor that answers the request's pending
// sign-in, under the throttling of passwords (authn.Login.SecondFactorCheck), and completes the
// sign-in when it is right; wrong is the message of a wrong answer. via names the door in the
// audit log.
func (s *Server) answerChallenge(w http.ResponseWriter, r *http.Request, via, wrong string, check func(context.Context, *keyward.User, *keyward.LoginChallenge) error) error {
	c, u, err := s.pendingChallenge(r)
	if err != nil {
		return err
	}
	if c == nil {
		return s.expired(w, r)
	}
	ctx := r.Context()
	login := s.passwordLogin()
	attempt := &authn.Attempt{Email: u.Email, IP: s.clientIP(r), Via: via, Device: s.device(r)}
	err = login.SecondFactorCheck(ctx, attempt, u, func() error { return check(ctx, u, c) })
	if refused, err := signInRefused(w, err, wrong, func(status int, msg string) error {
		st, err := s.SecondFactors.Status(ctx, u.ID)
		if err != nil {
			return err
		}
		s.render(w, r, status, "login-2fa", &secondStepPage{pageBase: pageBase{Title: "Two-factor sign-in"}, Error: msg, Passkey: len(st.Passkeys) > 0})
		return nil
	}); refused || err != nil {
		return err
	}
	return s.completeSignIn(w, r, login, attempt, c, u)
}

// completeSignIn spends the challenge whose second factor was right and starts the web session.
func (s *Server) completeSignIn(w http.ResponseWriter, r *http.Request, login authn.Login, attempt *authn.Attempt, c *keyward.LoginChallenge, u *keyward.User) error {
	// Of two browsers racing with one challenge, one signs in.
	if ok, err := s.Store.DeleteLoginChallenge(r.Context(), c.Hash); err != nil {
		return err
	} else if !ok {
		return s.expired(w, r)
	}
	http.SetCookie(w, s.challengeCookie("", -1))
	return s.signIn(w, r, login, attempt, u, &loginPage{pageBase: pageBase{Title: "Sign in"}, Email: u.Email, Next: localPath(c.Next)})
}

type account2FAPage struct {
	pageBase
	Status twofactor.Status
	Errors map[string]string
}

func (s *Server) account2FA(w http.ResponseWriter, r *http.Request, v *visit) error {
	return s.showAccount2FA(w, r, v, http.StatusOK, nil)
}

func (s *Server) showAccount2FA(w http.ResponseWriter, r *http.Request, v *visit, status int, errs map[string]string) error {
	st, err := s.SecondFactors.Status(r.Context(), v.User.ID)
	if err != nil {
		return err
	}
	s.render(w, r, status, "account-2fa", &account2FAPage{pageBase: pageBase{Title: "Two-factor sign-in", Visit: v}, Status: st, Errors: errs})
	return nil
}

type enrolPage struct {
	pageBase
	Secret, URI string
	QR          template.URL // a data: URL of a PNG made here, not input
	Error       string
}

// setup2FA shows the secret to scan, starting an enrolment or continuing the one in progress.
func (s *Server) setup2FA(w http.ResponseWriter, r *http.Request, v *visit) error {
	if _, err := parseForm(r); err != nil {
		return err
	}
	return s.showEnrol(w, r, v, http.StatusOK, "")
}

func (s *Server) showEnrol(w http.ResponseWriter, r *http.Request, v *visit, status int, msg string) error {
	e, err := s.SecondFactors.Begin(r.Context(), v.User)
	if keyward.ErrorCode(err) == keyward.ECONFLICT {
		http.Redirect(w, r, manage.Enrol2FAPath, http.StatusSeeOther)
		return nil
	} else if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	s.render(w, r, status, "enrol-2fa", &enrolPage{pageBase: pageBase{Title: "Set up two-factor sign-in", Visit: v},
		Secret: e.Secret, URI: e.URI, QR: template.URL(e.QR), Error: msg})
	return nil
}

type recoveryCodesPage struct {
	pageBase
	Codes []string
}

func (s *Server) confirm2FA(w http.ResponseWriter, r *http.Request, v *visit) error {
	f, err := parseForm(r)
	if err != nil {
		return err
	}
	codes, err := s.SecondFactors.Confirm(r.Context(), v.User, f.get("code"), v.Caller.IP)
	if keyward.ErrorCode(err) == keyward.EINVALID {
		return s.showEnrol(w, r, v, http.StatusBadRequest, keyward.ErrorMessage(err))
	} else if err != nil {
		return err
	}
	return s.showCodes(w, r, v, codes)
}

// showCodes shows recovery codes, once: they are kept hashed.
func (s *Server) showCodes(w http.ResponseWriter, r *http.Request, v *visit, codes []string) error {
	w.Header().Set("Cache-Control", "no-store")
	s.render(w, r, http.StatusOK, "recovery-codes", &recoveryCodesPage{pageBase: pageBase{Title: "Recovery codes", Visit: v}, Codes: codes})
	return nil
}

// checkPassword asks for the person's password again before a change to their sign-in, under
// the rules and throttling of a sign-in; a wrong one is a field error.
func (s *Server) checkPassword(w http.ResponseWriter, r *http.Request, v *visit, password string) (bool, error) {
	if password == "" {
		return false, s.showAccount2FA(w, r, v, http.StatusBadRequest, map[string]string{"password": "Enter your password."})
	}
	u, err := s.passwordLogin().Password(r.Context(), &authn.Attempt{Email: v.User.Email, Password: password, IP: v.Caller.IP, Via: "dashboard"})
	if err == nil && u.ID != v.User.ID {
		err = keyward.Errorf(keyward.EUNAUTHORIZED, "another user") // renamed to another's address meanwhile
	}
	refused, err := signInRefused(w, err, "The password is wrong.", func(status int, msg string) error {
		return s.showAccount2FA(w, r, v, status, map[string]string{"password": msg})
	})
	return !refused && err == nil, err
}

func (s *Server) regenerateCodes(w http.ResponseWriter, r *http.Request, v *visit) error {
	f, err := parseForm(r)
	if err != nil {
		return err
	}
	if ok, err := s.checkPassword(w, r, v, f.get("password")); !ok {
		return err
	}
	codes, err := s.SecondFactors.RegenerateRecoveryCodes(r.Context(), v.User, v.Caller.IP)
	if err != nil {
		return err
	}
	return s.showCodes(w, r, v, codes)
}

func (s *Server) disable2FA(w http.ResponseWriter, r *http.Request, v *visit) error {
	f, err := parseForm(r)
	if err != nil {
		return err
	}
	if ok, err := s.checkPassword(w, r, v, f.get("password")); !ok {
		return err
	}
	attempt := &authn.Attempt{Email: v.User.Email, IP: v.Caller.IP, Via: "dashboard"}
	err = s.passwordLogin().SecondFactor(r.Context(), attempt, v.User, f.get("code"))
	if refused, err := signInRefused(w, err, authn.WrongSecondFactor, func(status int, msg string) error {
		return s.showAccount2FA(w, r, v, status, map[string]string{"code": msg})
	}); refused || err != nil {
		return err
	}
	if err := s.SecondFactors.Disable(r.Context(), v.User, v.Caller.IP); err != nil {
		return err
	}
	http.Redirect(w, r, manage.Enrol2FAPath, http.StatusSeeOther)
	return nil
}

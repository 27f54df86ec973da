package dashboard

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/authn"
	"github.com/keyward/keyward/internal/manage"
	"github.com/keyward/keyward/internal/ratelimit"
)

const (
	// secretBytes is the cookie secret's entropy: 256 bits, as for refresh tokens.
	secretBytes = 32
	// touchEvery bounds how often a page view writes last-seen: the idle timeout needs minutes,
	// not milliseconds, and a write per click would be most of the dashboard's database load.
	touchEvery = time.Minute
)

// cookieName is the session cookie's name. Over https it has the __Host- prefix, which makes the
// browser insist on Secure, Path=/ and no Domain, so no sibling subdomain can plant or shadow it.
func (s *Server) cookieName() string {
	if s.HTTPS {
		return "__Host-keyward_session"
	}
	return "keyward_session"
}

// visit is one request of a signed-in person.
type visit struct {
	User   *keyward.User
	Caller manage.Caller
	hash   []byte // the web session's
	secret []byte // the cookie's, which only the browser and this request hold; seals flashes
}

// Email is the signed-in person's address, for the page header.
func (v *visit) Email() string { return v.User.Email }

// session returns the visit of the request's session cookie, or nil when there is none that is
// still valid: unknown, logged out, idle for longer than the idle timeout, older than the
// absolute timeout, or belonging to a user who is disabled or gone.
func (s *Server) session(r *http.Request) (*visit, error) {
	c, err := r.Cookie(s.cookieName())
	if err != nil {
		return nil, nil
	}
	secret, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil || len(secret) != secretBytes {
		return nil, nil
	}
	hash := sha256.Sum256(secret)
	ctx := r.Context()
	ws, err := s.Store.WebSession(ctx, hash[:])
	if keyward.ErrorCode(err) == keyward.ENOTFOUND {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	now := s.Now()
	if now.Sub(ws.LastSeenAt) >= s.IdleTimeout {
		return nil, nil
	}
	// Not a stored OAuth session: it carries no project narrowing and no scope, so the person
	// acts with their memberships' permissions, read again on every request. Past that, a web
	// session ends as a token's does: at its absolute timeout, or once its user is disabled or
	// gone. (Disabling also deletes the user's logins; Live covers a login read just before.)
	sess := &keyward.Session{Kind: keyward.SessionUser, UserID: ws.UserID, CreatedAt: ws.CreatedAt, ExpiresAt: ws.ExpiresAt}
	p, err := authn.Live(ctx, s.Store, sess, now)
	if errors.As(err, new(*authn.NotLive)) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	if now.Sub(ws.LastSeenAt) >= touchEvery {
		if err := s.Store.TouchWebSession(ctx, ws.Hash, now); keyward.ErrorCode(err) == keyward.ENOTFOUND {
			return nil, nil // logged out on another instance a moment ago
		} else if err != nil {
			return nil, err
		}
	}
	return &visit{User: p.User, Caller: manage.Caller{Principal: p, IP: s.clientIP(r)}, hash: ws.Hash, secret: secret}, nil
}

type pageFunc func(w http.ResponseWriter, r *http.Request, v *visit) error

// page serves h to signed-in people and sends everyone else to the login form, remembering where
// they wanted to go.
func (s *Server) page(h pageFunc) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		v, err := s.session(r)
		if err != nil {
			return err
		}
		if v == nil {
			target := "/login"
			if r.Method == http.MethodGet && r.URL.Path != "/" {
				target += "?next=" + url.QueryEscape(r.URL.RequestURI())
			}
			http.Redirect(w, r, target, http.StatusSeeOther)
			return nil
		}
		// The webhook events of the changes made for this request name who made them.
		r = r.WithContext(keyward.WithActor(r.Context(), v.Caller.Principal.Subject))
		return inVisit(v, h(w, r, v))
	})
}

// localPath returns next when it is a path on this site, and "/projects" otherwise, so that the
// login form cannot be turned into an open redirect. next is returned as it came, never
// re-encoded: re-encoding can turn "/%2F…" into "//…", which a browser reads as another host.
func localPath(next string) string {
	const home = "/projects"
	if next == "" || len(next) > 2000 || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") ||
		strings.ContainsFunc(next, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '\\' }) {
		return home
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return home
	}
	return next
}

type loginPage struct {
	pageBase
	Email, Next string
	Error       string
	SignedOut   bool
}

func (s *Server) loginForm(w http.ResponseWriter, r *http.Request) error {
	next := localPath(r.URL.Query().Get("next"))
	v, err := s.session(r)
	if err != nil {
		return err
	}
	if v != nil {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return nil
	}
	_, signedOut := r.URL.Query()["signed-out"]
	page := &loginPage{pageBase: pageBase{Title: "Sign in"}, Next: next, SignedOut: signedOut}
	if _, reset := r.URL.Query()["password-set"]; reset {
		page.Notice = "Your new password is set. Sign in with it."
	}
	s.render(w, r, http.StatusOK, "login", page)
	return nil
}

// login signs a person in with authn.Login, the password check the token endpoint's password
// grant uses, and starts a web session.
func (s *Server) login(w http.ResponseWriter, r *http.Request) error {
	form, err := parseForm(r)
	if err != nil {
		return err
	}
	attempt := &authn.Attempt{Email: form.get("email"), Password: form.get("password"), IP: s.clientIP(r), Via: "dashboard", Device: s.device(r)}
	page := &loginPage{pageBase: pageBase{Title: "Sign in"}, Email: attempt.Email, Next: localPath(form.get("next"))}
	if attempt.Email == "" || attempt.Password == "" {
		page.Error = "Enter your email address and password."
		s.render(w, r, http.StatusBadRequest, "login", page)
		return nil
	}
	ctx := r.Context()
	login := s.passwordLogin()
	u, err := login.Password(ctx, attempt)
	if refused, err := signInRefused(w, err, authn.WrongCredentials, func(status int, msg string) error {
		page.Error = msg
		s.render(w, r, status, "login", page)
		return nil
	}); refused || err != nil {
		return err
	}
	if need, err := login.NeedsSecondFactor(ctx, u); err != nil {
		return err
	} else if need {
		return s.challenge(w, r, u, page.Next)
	}
	return s.signIn(w, r, login, attempt, u, page)
}

// signInRefused shows, through show, the answer to a sign-in step that err refused: throttled
// (429 with Retry-After) or wrong (401, saying wrong). It reports whether err was such a refusal;
// any other error is returned.
func signInRefused(w http.ResponseWriter, err error, wrong string, show func(status int, msg string) error) (bool, error) {
	var wait *authn.Throttled
	switch {
	case errors.As(err, &wait):
		w.Header().Set("Retry-After", strconv.Itoa(ratelimit.Seconds(wait.RetryAfter)))
		return true, show(http.StatusTooManyRequests, "Too many failed sign-in attempts. "+ratelimit.TryAgain(wait.RetryAfter))
	case keyward.ErrorCode(err) == keyward.EUNAUTHORIZED:
		return true, show(http.StatusUnauthorized, wrong)
	}
	return false, err
}

// passwordLogin is authn.Login, the sign-in rules the token endpoint's password grant applies too.
func (s *Server) passwordLogin() authn.Login {
	l := authn.Login{Store: s.Store, Passwords: s.Passwords, ByIP: s.ByIP, ByUser: s.ByUser, Trust: s.Trust, Logger: s.Logger, Now: s.Now}
	if s.SecondFactors != nil {
		l.SecondFactors = s.SecondFactors
	}
	return l
}

// signIn starts the web session of u, who proved who they are, and sends them to page.Next.
func (s *Server) signIn(w http.ResponseWriter, r *http.Request, login authn.Login, attempt *authn.Attempt, u *keyward.User, page *loginPage) error {
	ctx := r.Context()
	if err := s.startSession(w, r, u); keyward.ErrorCode(err) == keyward.EREVOKED {
		_ = login.Failed(ctx, attempt, "disabled user")
		page.Error = authn.WrongCredentials
		s.render(w, r, http.StatusUnauthorized, "login", page)
		return nil
	} else if err != nil {
		return err
	}
	login.Succeeded(ctx, attempt, u, "")
	http.Redirect(w, r, page.Next, http.StatusSeeOther)
	return nil
}

// startSession signs u in: a new web session and its cookie. A fresh secret at every sign-in,
// and any session the browser brought is ended: a secret planted before (session fixation)
// never becomes a signed-in one. EREVOKED when u is disabled.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, u *keyward.User) error {
	ctx := r.Context()
	if old, err := s.session(r); err == nil && old != nil {
		_ = s.Store.DeleteWebSession(ctx, old.hash)
	}
	secret := make([]byte, secretBytes)
	if _, err := io.ReadFull(s.Rand, secret); err != nil {
		return fmt.Errorf("session secret: %w", err)
	}
	hash := sha256.Sum256(secret)
	now := s.Now()
	ws := &keyward.WebSession{Hash: hash[:], UserID: u.ID, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(s.MaxAge)}
	if err := s.Store.CreateWebSession(ctx, ws); err != nil {
		return err
	}
	// Every sign-in of this browser makes it known for the user (see Trust).
	if s.Trust != nil {
		if err := s.setDevice(w, u.ID); err != nil {
			return err
		}
	}
	http.SetCookie(w, s.cookie(base64.RawURLEncoding.EncodeToString(secret), 0))
	return nil
}

// cookie returns the session cookie with value; maxAge < 0 deletes it. Without Max-Age it ends
// with the browser; the server's idle and absolute timeouts bound it either way.
func (s *Server) cookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: s.cookieName(), Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: s.HTTPS, SameSite: http.SameSiteLaxMode,
	}
}

// logout ends the session on the server, not only in this browser, so a copied cookie dies too.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) error {
	v, err := s.session(r)
	if err != nil {
		return err
	}
	if v != nil {
		if err := s.Store.DeleteWebSession(r.Context(), v.hash); err != nil {
			return err
		}
	}
	http.SetCookie(w, s.cookie("", -1))
	http.Redirect(w, r, "/login?signed-out", http.StatusSeeOther)
	return nil
}

func (s *Server) home(w http.ResponseWriter, r *http.Request, v *visit) error {
	http.Redirect(w, r, "/projects", http.StatusSeeOther)
	return nil
}

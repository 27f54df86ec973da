package dashboard

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/authn"
	"github.com/keyward/keyward/internal/manage"
)

// Store is the part of keyward.Store the dashboard reads and writes itself; project operations
// go through manage.
type Store interface {
	UserByEmail(ctx context.Context, email string) (*keyward.User, error)
	UserByID(ctx context.Context, id string) (*keyward.User, error)
	CreateWebSession(ctx context.Context, ws *keyward.WebSession) error
	WebSession(ctx context.Context, hash []byte) (*keyward.WebSession, error)
	TouchWebSession(ctx context.Context, hash []byte, at time.Time) error
	DeleteWebSession(ctx context.Context, hash []byte) error
	AppendAudit(ctx context.Context, e *keyward.AuditEvent) error
}

// Passwords checks passwords against stored hashes.
type Passwords = authn.Passwords

// Limiter throttles failed attempts by key. The server hands the dashboard the token endpoint's
// limiters, so that guesses spread over both doors count against one budget.
type Limiter = authn.Limiter

// Default session lifetimes (OWASP ASVS 3.3: an idle timeout, and an absolute one that activity
// cannot extend).
const (
	DefaultIdleTimeout = 30 * time.Minute
	DefaultMaxAge      = 12 * time.Hour
)

// Server serves the dashboard. Every field is required unless marked optional.
type Server struct {
	Store     Store
	Manage    *manage.Service
	Catalog   *keyward.Catalog
	Passwords Passwords
	// ByIP and ByUser count failed logins per client address and per email address, with the
	// keys the token endpoint uses ("<ip>" and "user:<email>").
	ByIP, ByUser Limiter
	ClientIP     func(*http.Request) netip.Addr // optional; nil: the TCP peer address
	// HTTPS is whether browsers reach keyward over https (the issuer's scheme): the session cookie
	// is then Secure with the __Host- prefix.
	HTTPS       bool
	Issuer      string        // optional; shown in the token example next to a new key
	IdleTimeout time.Duration // optional; 0: DefaultIdleTimeout
	MaxAge      time.Duration // optional; 0: DefaultMaxAge
	Now         func() time.Time
	Rand        io.Reader
	Logger      *slog.Logger // optional; nil: discard
}

// csp allows the dashboard's own script and style sheet and nothing else: no inline script or
// style, no plugins, no framing, forms posting only back here.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// Handler returns the dashboard. It expects to be mounted at "/" and answers every path it does
// not know with an HTML 404.
func (s *Server) Handler() http.Handler {
	if s.IdleTimeout <= 0 {
		s.IdleTimeout = DefaultIdleTimeout
	}
	if s.MaxAge <= 0 {
		s.MaxAge = DefaultMaxAge
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /static/", staticHandler())
	mux.Handle("GET /{$}", s.page(s.home))
	mux.Handle("GET /login", s.handle(s.loginForm))
	mux.Handle("POST /login", s.handle(s.login))
	mux.Handle("POST /logout", s.handle(s.logout))
	mux.Handle("GET /permissions", s.page(s.permissions))
	mux.Handle("GET /projects", s.page(s.projects))
	mux.Handle("POST /projects", s.page(s.createProject))
	mux.Handle("GET /projects/{project}", s.inProject(s.general))
	mux.Handle("GET /projects/{project}/api-keys", s.inProject(s.listKeys))
	mux.Handle("GET /projects/{project}/api-keys/new", s.inProject(s.newKey))
	mux.Handle("POST /projects/{project}/api-keys", s.inProject(s.createKey))
	mux.Handle("GET /projects/{project}/api-keys/{id}/delete", s.inProject(s.confirmDeleteKey))
	mux.Handle("POST /projects/{project}/api-keys/{id}/delete", s.inProject(s.deleteKey))
	mux.Handle("GET /projects/{project}/members", s.inProject(s.listMembers))
	mux.Handle("POST /projects/{project}/members", s.inProject(s.addMember))
	mux.Handle("GET /projects/{project}/members/{user}", s.inProject(s.editMember))
	mux.Handle("POST /projects/{project}/members/{user}", s.inProject(s.changeMember))
	mux.Handle("GET /projects/{project}/members/{user}/remove", s.inProject(s.confirmRemoveMember))
	mux.Handle("POST /projects/{project}/members/{user}/remove", s.inProject(s.removeMember))
	mux.Handle("GET /projects/{project}/audit", s.inProject(s.audit))
	mux.Handle("/", s.handle(func(w http.ResponseWriter, r *http.Request) error {
		v, _ := s.session(r) // for the page header only; a 404 needs no sign-in
		s.fail(w, r, v, keyward.Errorf(keyward.ENOTFOUND, "There is no page at this address."))
		return nil
	}))

	// Every state change is a POST, and a POST from another site is refused whatever cookies it
	// carries (Sec-Fetch-Site, else Origin against Host). SameSite=Lax cookies are the second line.
	csrf := http.NewCrossOriginProtection()
	csrf.SetDenyHandler(s.handle(func(w http.ResponseWriter, r *http.Request) error {
		return keyward.Errorf(keyward.EFORBIDDEN, "This form was sent from another site, so it was refused. Open keyward and try again from there.")
	}))
	return s.secure(csrf.Handler(mux))
}

// secure sets the headers every dashboard response carries.
func (s *Server) secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()")
		next.ServeHTTP(w, r)
	})
}

// handlerFunc is a handler that returns its error to the one wrapper that renders errors.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (s *Server) handle(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Pages show tenant data and, once, a key's secret: no cache may keep them.
		w.Header().Set("Cache-Control", "no-store")
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		}
		if err := h(w, r); err != nil {
			s.fail(w, r, nil, err)
		}
	})
}

// status maps an error code to an HTTP status; it is the only place that does.
func status(err error) int {
	switch keyward.ErrorCode(err) {
	case keyward.EINVALID:
		return http.StatusBadRequest
	case keyward.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case keyward.EFORBIDDEN:
		return http.StatusForbidden
	case keyward.ENOTFOUND:
		return http.StatusNotFound
	case keyward.ECONFLICT:
		return http.StatusConflict
	case keyward.ETOOMANY:
		return http.StatusTooManyRequests
	case keyward.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// fail renders err as an error page; v, when not nil, is the visit it happened in, for the page's
// header. Internal errors are logged and shown as a generic sentence.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, v *visit, err error) {
	code := status(err)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		code, err = http.StatusRequestEntityTooLarge, keyward.Errorf(keyward.EINVALID, "The form is too large.")
	}
	if code >= 500 {
		s.Logger.ErrorContext(r.Context(), "dashboard request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	titles := map[int]string{
		http.StatusNotFound:        "Page not found",
		http.StatusForbidden:       "Not allowed",
		http.StatusTooManyRequests: "Too many attempts",
	}
	title, ok := titles[code]
	if !ok {
		title = http.StatusText(code)
	}
	s.render(w, r, code, "error", &errorPage{
		pageBase: pageBase{Title: title, Visit: v},
		Status:   code, Message: keyward.ErrorMessage(err),
	})
}

func (s *Server) clientIP(r *http.Request) netip.Addr {
	if s.ClientIP != nil {
		return s.ClientIP(r).Unmap()
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, _ := netip.ParseAddr(host)
	return addr.Unmap()
}

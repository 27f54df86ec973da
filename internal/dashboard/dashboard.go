package dashboard

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/authn"
	"github.com/keyward/keyward/internal/manage"
	"github.com/keyward/keyward/internal/web"
)

// Store is the part of keyward.Store the dashboard reads and writes itself; project operations
// go through manage.
type Store interface {
	authn.Credentials // what authn.Live reads to decide whether a web session's user may still act
	UserByEmail(ctx context.Context, email string) (*keyward.User, error)
	CreateWebSession(ctx context.Context, ws *keyward.WebSession) error
	WebSession(ctx context.Context, hash []byte) (*keyward.WebSession, error)
	TouchWebSession(ctx context.Context, hash []byte, at time.Time) error
	DeleteWebSession(ctx context.Context, hash []byte) error
	UserWebSessions(ctx context.Context, userID string, now time.Time, limit int) ([]*keyward.WebSession, error)
	SetWebSessionFlash(ctx context.Context, hash, flash []byte) error
	TakeWebSessionFlash(ctx context.Context, hash []byte) ([]byte, error)
	AppendAudit(ctx context.Context, e *keyward.AuditEvent) error
	DeviceAuthorization(ctx context.Context, userCodeHash []byte) (*keyward.DeviceAuthorization, error)
	DecideDeviceAuthorization(ctx context.Context, userCodeHash []byte, userID string, approve bool, at time.Time) (*keyward.DeviceAuthorization, error)
	CreateLoginChallenge(ctx context.Context, c *keyward.LoginChallenge) error
	LoginChallenge(ctx context.Context, hash []byte) (*keyward.LoginChallenge, error)
	DeleteLoginChallenge(ctx context.Context, hash []byte) (bool, error)
	Ping(ctx context.Context) error // after an internal error: is the database down?
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
	// Trust exempts known browsers and addresses from the lockout others cause (optional; nil:
	// none); DeviceSecret is the secret device cookies are signed with (optional; nil: a random
	// one per process).
	Trust        *authn.Trust
	DeviceSecret []byte
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
	// SecondFactors enrols and checks second factors (optional; nil: sign-in asks for none and
	// the account pages are absent).
	SecondFactors SecondFactors

	web *web.Surface

	deviceOnce sync.Once
	deviceMAC  []byte
	deviceErr  error
}

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
	s.web = &web.Surface{Name: "dashboard", Headers: web.PageHeaders(), Render: s.errorPage, Logger: s.Logger, Ping: s.Store.Ping}
	mux := http.NewServeMux()
	mux.Handle("GET /static/", staticHandler())
	mux.Handle("GET /{$}", s.page(s.home))
	mux.Handle("GET /login", s.handle(s.loginForm))
	mux.Handle("POST /login", s.handle(s.login))
	mux.Handle("POST /logout", s.handle(s.logout))
	s.routeSecondFactors(mux)
	mux.Handle("GET /permissions", s.page(s.permissions))
	mux.Handle("GET /account/password", s.page(s.passwordForm))
	mux.Handle("POST /account/password", s.page(s.changePassword))
	mux.Handle("GET /reset-password", s.handle(s.resetForm))
	mux.Handle("POST /reset-password", s.handle(s.resetPassword))
	mux.Handle("GET /audit", s.page(s.instanceAudit))
	mux.Handle("GET /sessions", s.page(s.sessions))
	mux.Handle("POST /sessions/end", s.page(s.endSession))
	mux.Handle("GET /users", s.adminPage(s.listUsers))
	mux.Handle("POST /users", s.adminPage(s.createUser))
	mux.Handle("POST /users/{user}/enable", s.adminPage(s.changeUser(keyward.UserChange{Disabled: new(false)}, "enabled")))
	mux.Handle("POST /users/{user}/grant-admin", s.adminPage(s.changeUser(keyward.UserChange{Admin: new(true)}, "admin-granted")))
	mux.Handle("POST /users/{user}/revoke-admin", s.adminPage(s.changeUser(keyward.UserChange{Admin: new(false)}, "admin-revoked")))
	mux.Handle("GET /users/{user}/disable", s.adminPage(s.confirmUser("disable")))
	mux.Handle("POST /users/{user}/disable", s.adminPage(s.disableOrDelete("disable")))
	mux.Handle("GET /users/{user}/delete", s.adminPage(s.confirmUser("delete")))
	mux.Handle("POST /users/{user}/delete", s.adminPage(s.disableOrDelete("delete")))
	mux.Handle("POST /users/{user}/password-reset", s.adminPage(s.issueReset))
	mux.Handle("GET /device", s.page(s.deviceForm))
	mux.Handle("POST /device", s.page(s.decideDevice))
	mux.Handle("GET /projects", s.page(s.projects))
	mux.Handle("POST /projects", s.page(s.createProject))
	mux.Handle("GET /projects/{project}", s.inProject(s.general))
	mux.Handle("POST /projects/{project}/rename", s.inProject(s.renameProject))
	mux.Handle("POST /projects/{project}/key-policy", s.inProject(s.setKeyPolicy))
	mux.Handle("GET /projects/{project}/delete", s.inProject(s.confirmDeleteProject))
	mux.Handle("POST /projects/{project}/delete", s.inProject(s.deleteProject))
	mux.Handle("GET /projects/{project}/api-keys", s.inProject(s.listKeys))
	mux.Handle("GET /projects/{project}/api-keys/new", s.inProject(s.newKey))
	mux.Handle("POST /projects/{project}/api-keys", s.inProject(s.createKey))
	mux.Handle("GET /projects/{project}/api-keys/created", s.inProject(s.keyCreated))
	mux.Handle("GET /projects/{project}/api-keys/{id}", s.inProject(s.keyPage))
	mux.Handle("GET /projects/{project}/api-keys/{id}/edit", s.inProject(s.editKey))
	mux.Handle("POST /projects/{project}/api-keys/{id}/edit", s.inProject(s.updateKey))
	mux.Handle("GET /projects/{project}/api-keys/{id}/delete", s.inProject(s.confirmDeleteKey))
	mux.Handle("POST /projects/{project}/api-keys/{id}/delete", s.inProject(s.deleteKey))
	mux.Handle("POST /projects/{project}/api-keys/{id}/roll", s.inProject(s.rollKey))
	mux.Handle("GET /projects/{project}/api-keys/{id}/disable", s.inProject(s.confirmDisableKey))
	mux.Handle("POST /projects/{project}/api-keys/{id}/disable", s.inProject(s.setKeyDisabled(true)))
	mux.Handle("POST /projects/{project}/api-keys/{id}/enable", s.inProject(s.setKeyDisabled(false)))
	mux.Handle("GET /projects/{project}/members", s.inProject(s.listMembers))
	mux.Handle("POST /projects/{project}/members", s.inProject(s.addMember))
	mux.Handle("POST /projects/{project}/invites", s.inProject(s.createInvite))
	mux.Handle("POST /projects/{project}/invites/{id}/revoke", s.inProject(s.revokeInvite))
	mux.Handle("GET /invite/{token}", s.handle(s.inviteLink))
	mux.Handle("GET /invite", s.handle(s.invitePage))
	mux.Handle("POST /invite", s.handle(s.acceptInvite))
	mux.Handle("GET /projects/{project}/members/{user}", s.inProject(s.editMember))
	mux.Handle("POST /projects/{project}/members/{user}", s.inProject(s.changeMember))
	mux.Handle("GET /projects/{project}/members/{user}/remove", s.inProject(s.confirmRemoveMember))
	mux.Handle("POST /projects/{project}/members/{user}/remove", s.inProject(s.removeMember))
	mux.Handle("GET /projects/{project}/roles", s.inProject(s.listRoles))
	mux.Handle("POST /projects/{project}/roles", s.inProject(s.createRole))
	mux.Handle("GET /projects/{project}/roles/{role}", s.inProject(s.showRole))
	mux.Handle("POST /projects/{project}/roles/{role}", s.inProject(s.updateRole))
	mux.Handle("GET /projects/{project}/roles/{role}/delete", s.inProject(s.confirmDeleteRole))
	mux.Handle("POST /projects/{project}/roles/{role}/delete", s.inProject(s.deleteRole))
	mux.Handle("GET /projects/{project}/audit", s.inProject(s.audit))
	// Workload identity federation: federation.go.
	mux.Handle("GET /projects/{project}/federation", s.inProject(s.federation))
	mux.Handle("POST /projects/{project}/federation/issuers", s.inProject(s.createIssuer))
	mux.Handle("GET /projects/{project}/federation/issuers/{issuer}", s.inProject(s.editIssuer))
	mux.Handle("POST /projects/{project}/federation/issuers/{issuer}", s.inProject(s.updateIssuer))
	mux.Handle("GET /projects/{project}/federation/issuers/{issuer}/delete", s.inProject(s.confirmDeleteIssuer))
	mux.Handle("POST /projects/{project}/federation/issuers/{issuer}/delete", s.inProject(s.deleteIssuer))
	mux.Handle("POST /projects/{project}/federation/rules", s.inProject(s.createRule))
	mux.Handle("GET /projects/{project}/federation/rules/{rule}", s.inProject(s.editRule))
	mux.Handle("POST /projects/{project}/federation/rules/{rule}", s.inProject(s.updateRule))
	mux.Handle("GET /projects/{project}/federation/rules/{rule}/delete", s.inProject(s.confirmDeleteRule))
	mux.Handle("POST /projects/{project}/federation/rules/{rule}/delete", s.inProject(s.deleteRule))
	mux.Handle("POST /projects/{project}/federation/explain", s.inProject(s.explainToken))
	// Webhooks: webhooks.go, webhookmessages.go.
	mux.Handle("GET /projects/{project}/webhooks", s.inProject(s.webhooks))
	mux.Handle("POST /projects/{project}/webhooks", s.inProject(s.createWebhook))
	mux.Handle("GET /projects/{project}/webhooks/secret", s.inProject(s.webhookSecret))
	mux.Handle("GET /projects/{project}/webhooks/{id}", s.inProject(s.showWebhook))
	mux.Handle("POST /projects/{project}/webhooks/{id}", s.inProject(s.updateWebhook))
	mux.Handle("POST /projects/{project}/webhooks/{id}/roll", s.inProject(s.rollWebhookSecret))
	mux.Handle("POST /projects/{project}/webhooks/{id}/test", s.inProject(s.testWebhook))
	mux.Handle("GET /projects/{project}/webhooks/{id}/delete", s.inProject(s.confirmDeleteWebhook))
	mux.Handle("POST /projects/{project}/webhooks/{id}/delete", s.inProject(s.deleteWebhook))
	mux.Handle("GET /projects/{project}/webhooks/{id}/messages/{msg}", s.inProject(s.webhookMessage))
	mux.Handle("POST /projects/{project}/webhooks/{id}/messages/{msg}/redeliver", s.inProject(s.redeliverWebhookMessage))
	mux.Handle("/", s.handle(func(w http.ResponseWriter, r *http.Request) error {
		v, _ := s.session(r) // for the page header only; a 404 needs no sign-in
		return inVisit(v, errNoPage)
	}))

	// Every state change is a POST, and a POST from another site is refused whatever cookies it
	// carries (Sec-Fetch-Site, else Origin against Host). SameSite=Lax cookies are the second line.
	csrf := http.NewCrossOriginProtection()
	csrf.SetDenyHandler(s.handle(func(w http.ResponseWriter, r *http.Request) error {
		return keyward.Errorf(keyward.EFORBIDDEN, "This form was sent from another site, so it was refused. Open keyward and try again from there.")
	}))
	return s.web.Secure(csrf.Handler(mux))
}

// errNoPage is the answer for an address the dashboard does not have, or does not show this person.
var errNoPage = keyward.Errorf(keyward.ENOTFOUND, "There is no page at this address.")

// handle serves h and renders its error as a page. A POST's body is bounded before h reads it.
func (s *Server) handle(h web.HandlerFunc) http.Handler {
	return s.web.Handle(func(w http.ResponseWriter, r *http.Request) error {
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		}
		return h(w, r)
	})
}

// visitError is an error that happened in a visit, which the error page's header shows.
type visitError struct {
	visit *visit
	err   error
}

func (e *visitError) Error() string { return e.err.Error() }
func (e *visitError) Unwrap() error { return e.err }

// inVisit attaches v (nil: none) to err.
func inVisit(v *visit, err error) error {
	if err == nil || v == nil {
		return err
	}
	return &visitError{visit: v, err: err}
}

// errorPage renders a failure as a page, with the signed-in person's header when it happened in a
// visit.
func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, f *web.Failure) {
	var v *visit
	var ve *visitError
	if errors.As(f.Err, &ve) {
		v = ve.visit
	}
	titles := map[int]string{
		http.StatusNotFound:        "Page not found",
		http.StatusForbidden:       "Not allowed",
		http.StatusTooManyRequests: "Too many attempts",
	}
	title, ok := titles[f.Status]
	if !ok {
		title = http.StatusText(f.Status)
	}
	s.render(w, r, f.Status, "error", &errorPage{
		pageBase: pageBase{Title: title, Visit: v},
		Status:   f.Status, Message: f.Message,
	})
}

func (s *Server) clientIP(r *http.Request) netip.Addr { return web.ClientIP(s.ClientIP, r) }

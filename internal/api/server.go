package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/internal/authn"
	"github.com/keyward/keyward/internal/leakreport"
	"github.com/keyward/keyward/internal/manage"
	"github.com/keyward/keyward/internal/web"
)

// Passwords hashes new passwords (argon2id in production). The rules a new password must meet
// are password.Validate's, not the hasher's, so that every hasher enforces the same ones.
type Passwords interface {
	Hash(ctx context.Context, password string, rand io.Reader) (string, error)
}

// Server holds the management API's dependencies. Handler builds the routes once.
type Server struct {
	Store     keyward.Store
	Auth      *authn.Authenticator
	Catalog   *keyward.Catalog
	Passwords Passwords
	ClientIP  func(*http.Request) netip.Addr // nil: the TCP peer address
	Now       func() time.Time
	Rand      io.Reader
	Logger    *slog.Logger  // nil: discard
	FeedPoll  time.Duration // how often a revocation stream polls the store; 0: 200 ms
	// Stopping, when closed, ends every revocation stream, so a graceful shutdown need not wait
	// for followers to hang up (they reconnect to another instance with Last-Event-ID).
	Stopping <-chan struct{}

	// Login checks the current password of a password change, throttled and audited as a
	// sign-in (the token endpoint's and the dashboard's limiters).
	Login authn.Login
	// Issuer is the server's public URL, the base of password reset links.
	Issuer string

	// LeakKeys checks the signatures of secret-scanning reports (POST /v1/leaks); nil: the
	// path does not exist.
	LeakKeys *leakreport.Keys

	// Manage performs the operations and enforces their rules; nil: one built from the fields
	// above. The server passes the instance's, which the dashboard shares.
	Manage *manage.Service

	heartbeat time.Duration // between SSE comments; 0: 15 s (tests shorten it)
	mgr       *manage.Service
	web       *web.Surface
}

// route is one operation of the API. The table is the single list of what is served: Handler
// registers it and a test checks it against the OpenAPI document, both ways.
type route struct {
	pattern string // a ServeMux method pattern, which is also the OpenAPI path template
	handler http.Handler
}

func (s *Server) routes() []route {
	return []route{
		{"GET /v1/openapi.json", s.handle(s.openAPI)},
		{"GET /v1/permissions", s.handle(s.listPermissions)},
		{"GET /v1/revocations", s.handle(s.revocations)},
		{"POST /v1/leaks", s.handle(s.reportLeaks)}, // signed by a secret scanner: leaks.go
		{"GET /v1/me", s.authed(s.me)},
		{"POST /v1/users", s.authed(s.createUser)},
		{"GET /v1/users", s.authed(s.listUsers)},
		{"PATCH /v1/users/{id}", s.authed(s.updateUser)},
		{"DELETE /v1/users/{id}", s.authed(s.deleteUser)},
		{"POST /v1/users/{id}/password-reset", s.authed(s.issuePasswordReset)},
		{"PUT /v1/me/password", s.authed(s.changePassword)},
		{"GET /v1/projects", s.authed(s.listProjects)},
		{"POST /v1/projects", s.authed(s.createProject)},
		{"GET /v1/projects/{project}", s.project("", s.getProject)},
		{"PATCH /v1/projects/{project}", s.project("", s.renameProject)},
		{"DELETE /v1/projects/{project}", s.project("", s.deleteProject)},
		{"POST /v1/projects/{project}/recover", s.authed(s.recoverProject)},
		{"GET /v1/admin/projects", s.authed(s.listAllProjects)},
		{"GET /v1/audit", s.authed(s.listInstanceAudit)},
		{"GET /v1/projects/{project}/members", s.project("members-view", s.listMembers)},
		{"PUT /v1/projects/{project}/members/{user}", s.project("members-manage", s.putMember)},
		{"DELETE /v1/projects/{project}/members/{user}", s.project("members-manage", s.deleteMember)},
		{"GET /v1/projects/{project}/invites", s.project("members-view", s.listInvites)},
		{"POST /v1/projects/{project}/invites", s.project("members-manage", s.createInvite)},
		{"DELETE /v1/projects/{project}/invites/{id}", s.project("members-manage", s.revokeInvite)},
		// members-view or api-keys-view: manage.RolePage decides.
		{"GET /v1/projects/{project}/roles", s.project("", s.listRoles)},
		{"POST /v1/projects/{project}/roles", s.project("members-manage", s.createRole)},
		{"GET /v1/projects/{project}/roles/{role}", s.project("", s.getRole)},
		{"PATCH /v1/projects/{project}/roles/{role}", s.project("members-manage", s.updateRole)},
		{"DELETE /v1/projects/{project}/roles/{role}", s.project("members-manage", s.deleteRole)},
		{"GET /v1/projects/{project}/api-keys", s.project("api-keys-view", s.listKeys)},
		{"POST /v1/projects/{project}/api-keys", s.project("api-keys-manage", s.createKey)},
		{"GET /v1/projects/{project}/api-keys/{id}", s.project("api-keys-view", s.getKey)},
		{"PATCH /v1/projects/{project}/api-keys/{id}", s.project("api-keys-manage", s.updateKey)},
		{"DELETE /v1/projects/{project}/api-keys/{id}", s.project("api-keys-manage", s.deleteKey)},
		// api-keys-manage, or api-keys-roll-self for the key itself: manage.RollKey decides.
		{"POST /v1/projects/{project}/api-keys/{id}/roll", s.project("", s.rollKey)},
		{"GET /v1/projects/{project}/audit", s.project("audit-view", s.listAudit)},
		// Workload identity federation: federation.go.
		{"GET /v1/projects/{project}/federation/issuers", s.project("api-keys-view", s.listIssuers)},
		{"POST /v1/projects/{project}/federation/issuers", s.project("api-keys-manage", s.createIssuer)},
		{"PATCH /v1/projects/{project}/federation/issuers/{issuer}", s.project("api-keys-manage", s.updateIssuer)},
		{"DELETE /v1/projects/{project}/federation/issuers/{issuer}", s.project("api-keys-manage", s.deleteIssuer)},
		{"GET /v1/projects/{project}/federation/rules", s.project("api-keys-view", s.listRules)},
		{"POST /v1/projects/{project}/federation/rules", s.project("api-keys-manage", s.createRule)},
		{"PATCH /v1/projects/{project}/federation/rules/{rule}", s.project("api-keys-manage", s.updateRule)},
		{"DELETE /v1/projects/{project}/federation/rules/{rule}", s.project("api-keys-manage", s.deleteRule)},
		// Webhooks: webhooks.go. Every operation needs api-keys-manage (manage decides the rest).
		{"GET /v1/projects/{project}/webhooks", s.project("api-keys-manage", s.listWebhooks)},
		{"POST /v1/projects/{project}/webhooks", s.project("api-keys-manage", s.createWebhook)},
		{"GET /v1/projects/{project}/webhooks/{id}", s.project("api-keys-manage", s.getWebhook)},
		{"PATCH /v1/projects/{project}/webhooks/{id}", s.project("api-keys-manage", s.updateWebhook)},
		{"DELETE /v1/projects/{project}/webhooks/{id}", s.project("api-keys-manage", s.deleteWebhook)},
		{"POST /v1/projects/{project}/webhooks/{id}/roll-secret", s.project("api-keys-manage", s.rollWebhookSecret)},
		{"POST /v1/projects/{project}/webhooks/{id}/test", s.project("api-keys-manage", s.testWebhook)},
		{"GET /v1/projects/{project}/webhooks/{id}/messages", s.project("api-keys-manage", s.listWebhookMessages)},
		{"GET /v1/projects/{project}/webhooks/{id}/messages/{msg}", s.project("api-keys-manage", s.getWebhookMessage)},
		{"POST /v1/projects/{project}/webhooks/{id}/messages/{msg}/redeliver", s.project("api-keys-manage", s.redeliverWebhookMessage)},
	}
}

// Handler returns the /v1 API. Unknown paths and wrong methods get problem+json too, so that a
// client never has to parse a plain-text error from this prefix.
func (s *Server) Handler() http.Handler {
	s.mgr = s.Manage
	if s.mgr == nil {
		s.mgr = &manage.Service{
			Store: s.Store, Catalog: s.Catalog, Passwords: s.Passwords,
			Now: s.Now, Rand: s.Rand, Logger: s.logger(),
		}
	}
	s.web = &web.Surface{Name: "management API", Headers: web.APIHeaders(), Render: renderProblem, Logger: s.logger()}
	if s.Store != nil {
		s.web.Ping = s.Store.Ping
	}
	mux := http.NewServeMux()
	for _, rt := range s.routes() {
		mux.Handle(rt.pattern, rt.handler)
	}
	return s.web.Secure(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r) // it sets the path values; Handler alone does not
			return
		}
		// The mux answers 404, 405 (with Allow) or a redirect to the clean path: keep its status
		// and headers, replace a plain-text error with a problem.
		probe := &headerRecorder{header: http.Header{}}
		h.ServeHTTP(probe, r)
		switch probe.status {
		case http.StatusMethodNotAllowed:
			w.Header().Set("Allow", probe.header.Get("Allow"))
			s.web.Fail(w, r, web.Errorf(http.StatusMethodNotAllowed, "%s is not allowed here; use %s.", r.Method, probe.header.Get("Allow")))
		case http.StatusNotFound:
			s.web.Fail(w, r, web.Errorf(http.StatusNotFound, "There is no such API path."))
		default:
			h.ServeHTTP(w, r)
		}
	}))
}

// headerRecorder captures what the mux's fallback handlers would answer, without a body.
type headerRecorder struct {
	header http.Header
	status int
}

func (h *headerRecorder) Header() http.Header { return h.header }
func (h *headerRecorder) Write(b []byte) (int, error) {
	if h.status == 0 {
		h.status = http.StatusOK
	}
	return len(b), nil
}
func (h *headerRecorder) WriteHeader(status int) {
	if h.status == 0 {
		h.status = status
	}
}

// handle serves a handler that needs no credential.
func (s *Server) handle(h web.HandlerFunc) http.Handler { return s.web.Handle(h) }

// authedFunc is a handler for an authenticated caller.
type authedFunc func(w http.ResponseWriter, r *http.Request, p *authn.Principal) error

func (s *Server) authed(h authedFunc) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		p, err := s.Auth.FromRequest(r)
		if err != nil {
			return err
		}
		if ip := s.clientIP(r); !p.AllowsIP(ip) {
			return keyward.Errorf(keyward.EFORBIDDEN, "This API key may not be used from %s.", ip)
		}
		// The webhook events of the changes made for this request name who made them.
		return h(w, r.WithContext(keyward.WithActor(r.Context(), p.Subject)), p)
	})
}

type projectFunc func(w http.ResponseWriter, r *http.Request, a *manage.Access) error

// project resolves {project} for the caller before anything else, so that every project route
// answers 404 alike for a project that does not exist and one the caller cannot see; only then
// does a missing permission (perm, "" for none) become 403, and only then is the body read.
func (s *Server) project(perm string, h projectFunc) http.Handler {
	return s.authed(func(w http.ResponseWriter, r *http.Request, p *authn.Principal) error {
		a, err := s.mgr.Open(r.Context(), s.caller(r, p), r.PathValue("project"))
		if err != nil {
			return err
		}
		if perm != "" {
			if err := a.Require(perm); err != nil {
				return err
			}
		}
		return h(w, r, a)
	})
}

// caller is the principal acting from the request's client address.
func (s *Server) caller(r *http.Request, p *authn.Principal) manage.Caller {
	return manage.Caller{Principal: p, IP: s.clientIP(r)}
}

// renderProblem writes an RFC 9457 problem detail. The type is about:blank, so the title is the
// status's reason phrase and the detail is the failure's safe, specific sentence.
func renderProblem(w http.ResponseWriter, r *http.Request, f *web.Failure) {
	if f.Status == http.StatusUnauthorized {
		challenge := `Bearer realm="keyward"`
		if len(r.Header.Values("Authorization")) > 0 {
			challenge += `, error="invalid_token"`
		}
		w.Header().Set("WWW-Authenticate", challenge)
	}
	_ = writeBody(w, f.Status, "application/problem+json", client.Problem{
		Type: "about:blank", Title: http.StatusText(f.Status), Status: f.Status, Detail: f.Message,
	})
}

// writeJSON answers with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	return writeBody(w, status, "application/json", v)
}

func writeBody(w http.ResponseWriter, status int, contentType string, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	body = append(body, '\n')
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	// A failed write means the client went away; there is nobody left to tell.
	_, _ = w.Write(body)
	return nil
}

func (s *Server) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

func (s *Server) clientIP(r *http.Request) netip.Addr { return web.ClientIP(s.ClientIP, r) }

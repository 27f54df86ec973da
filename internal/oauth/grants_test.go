package oauth

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/apikey"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/internal/federation/fedtest"
	"github.com/keyward/keyward/internal/sqlstore"
	"github.com/keyward/keyward/internal/token"
)

// The driver's phases hold for every registered grant: a grant added without a case here fails,
// and one whose credential skips a phase fails its case.
func TestEveryGrantRunsEveryPhase(t *testing.T) {
	cases := map[string]struct {
		// valid returns a fresh request the grant accepts, for a credential holding
		// images-view and dns-view.
		valid func(e *grantEnv) (url.Values, string)
		// failed makes a request the grant refuses, as status and code, with audit event refused.
		failed        func(e *grantEnv) (url.Values, string)
		status        int
		code, refused string
		// succeeded is the audit event of a success; "" for none, so that an exchange and a
		// refresh remain one write each.
		succeeded string
		// unguessable: the credential cannot be guessed, so a valid one is let through from a
		// throttled address (only a failure is refused for the address's failures).
		unguessable bool
	}{
		"client_credentials": {
			valid: func(e *grantEnv) (url.Values, string) {
				return url.Values{"grant_type": {"client_credentials"}}, e.secret
			},
			failed: func(e *grantEnv) (url.Values, string) {
				unknown, _, err := apikey.New(rand.Reader)
				if err != nil {
					e.t.Fatal(err)
				}
				return url.Values{"grant_type": {"client_credentials"}}, unknown
			},
			status: http.StatusUnauthorized, code: errInvalidClient, refused: keyward.AuditExchangeFailed,
			unguessable: true,
		},
		"password": {
			valid: func(e *grantEnv) (url.Values, string) {
				return url.Values{"grant_type": {"password"}, "username": {e.user.Email}, "password": {"right"},
					"project": {e.project.Name}}, ""
			},
			failed: func(e *grantEnv) (url.Values, string) {
				return url.Values{"grant_type": {"password"}, "username": {e.user.Email}, "password": {"wrong"}}, ""
			},
			status: http.StatusBadRequest, code: errInvalidGrant, refused: keyward.AuditLoginFailed,
			succeeded: keyward.AuditLogin,
		},
		"refresh_token": {
			valid: func(e *grantEnv) (url.Values, string) {
				return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {e.session()}}, ""
			},
			failed: func(e *grantEnv) (url.Values, string) {
				spent := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {e.session()}}
				if status, _, _ := e.post(spent, ""); status != http.StatusOK {
					e.t.Fatalf("first use of a refresh token: %d", status)
				}
				return spent, ""
			},
			status: http.StatusBadRequest, code: errInvalidGrant, refused: keyward.AuditRefreshReused,
			unguessable: true,
		},
		client.GrantDeviceCode: {
			valid: func(e *grantEnv) (url.Values, string) {
				return e.approvedDevice(url.Values{"project": {e.project.Name}}), ""
			},
			failed: func(e *grantEnv) (url.Values, string) {
				spent := e.approvedDevice(url.Values{})
				if status, body, _ := e.post(spent, ""); status != http.StatusOK {
					e.t.Fatalf("first use of a device code: %d %v", status, body)
				}
				return spent, ""
			},
			status: http.StatusBadRequest, code: errInvalidGrant,
		},
		// federated_test.go: a replayed subject token is the refusal.
		client.GrantTokenExchange: {
			valid:  func(e *grantEnv) (url.Values, string) { return e.federatedForm(true), "" },
			failed: func(e *grantEnv) (url.Values, string) { return e.replayedForm(true), "" },
			status: http.StatusBadRequest, code: errInvalidGrant, refused: keyward.AuditExchangeFailed,
			succeeded: keyward.AuditTokenFederated, unguessable: true,
		},
		client.GrantJWTBearer: {
			valid:  func(e *grantEnv) (url.Values, string) { return e.federatedForm(false), "" },
			failed: func(e *grantEnv) (url.Values, string) { return e.replayedForm(false), "" },
			status: http.StatusBadRequest, code: errInvalidGrant, refused: keyward.AuditExchangeFailed,
			succeeded: keyward.AuditTokenFederated, unguessable: true,
		},
	}
	for name := range grants {
		if _, ok := cases[name]; !ok {
			t.Errorf("grant %s has no case in this test", name)
		}
		if !strings.Contains(unsupportedGrant, name) {
			t.Errorf("the unsupported_grant_type description does not list %s", name)
		}
	}
	for name, tc := range cases {
		if grants[name] == nil {
			t.Errorf("case %s names no registered grant", name)
			continue
		}
		t.Run(name, func(t *testing.T) {
			e := newGrantEnv(t)
			expect := func(what string, form url.Values, basic string, status int, code string) map[string]any {
				t.Helper()
				got, body, hdr := e.post(form, basic)
				if got != status || (code != "" && body["error"] != code) {
					t.Fatalf("%s: got %d %v, want %d %s", what, got, body, status, code)
				}
				if n := len(e.metrics); n == 0 || e.metrics[n-1] != name+" "+resultOf(status, code) {
					t.Errorf("%s: metrics %v, want %s %s last", what, e.metrics, name, resultOf(status, code))
				}
				if status == http.StatusTooManyRequests && hdr.Get("Retry-After") == "" {
					t.Errorf("%s: 429 without Retry-After", what)
				}
				return body
			}

			e.byIP.blocked[e.addr.String()] = true
			form, basic := tc.valid(e)
			if tc.unguessable {
				expect("valid credential from a throttled address", form, basic, http.StatusOK, "")
				form, basic = tc.failed(e)
				e.audit.events, e.byIP.failed = nil, map[string]int{}
				expect("refused from a throttled address", form, basic, http.StatusTooManyRequests, errTemporarilyUnavailable)
				if got := e.audit.actions(); got != "" || len(e.byIP.failed) != 0 {
					t.Errorf("a refusal while throttled was audited (%q) or counted (%v)", got, e.byIP.failed)
				}
			} else {
				expect("throttled address", form, basic, http.StatusTooManyRequests, errTemporarilyUnavailable)
			}
			delete(e.byIP.blocked, e.addr.String())

			form, basic = tc.valid(e)
			form.Set("scope", "images-view containers-exec")
			expect("scope beyond the credential", form, basic, http.StatusBadRequest, errInvalidScope)
			// Refused before anything was spent: the same credential narrows next.
			form.Set("scope", "dns-view")
			if body := expect("narrowed scope", form, basic, http.StatusOK, ""); body["scope"] != "dns-view" {
				t.Errorf("narrowed scope: token scope %v, want dns-view", body["scope"])
			}

			form, basic = tc.valid(e)
			e.audit.events = nil
			if body := expect("whole credential", form, basic, http.StatusOK, ""); body["scope"] != "images-view dns-view" {
				t.Errorf("whole credential: token scope %v", body["scope"])
			}
			if got := e.audit.actions(); tc.succeeded == "" && len(got) != 0 || tc.succeeded != "" && got != tc.succeeded {
				t.Errorf("success audited as %q, want %q", got, tc.succeeded)
			}

			form, basic = tc.failed(e)
			e.audit.events, e.byIP.failed = nil, map[string]int{}
			expect("refused", form, basic, tc.status, tc.code)
			if got := e.audit.actions(); got != tc.refused {
				t.Errorf("refusal audited as %q, want %q", got, tc.refused)
			}
			if e.byIP.failed[e.addr.String()] != 1 {
				t.Errorf("refusal counted %d times against the address, want once", e.byIP.failed[e.addr.String()])
			}
		})
	}
}

func resultOf(status int, code string) string {
	if status == http.StatusOK {
		return "ok"
	}
	return code
}

// grantEnv is a token endpoint over a real store, with a user who is a member of a project and
// a key of that project, each holding images-view and dns-view.
type grantEnv struct {
	t       *testing.T
	srv     *Server
	audit   *auditLog
	byIP    *fakeLimiter
	metrics []string
	addr    netip.Addr
	user    *keyward.User
	project *keyward.Project
	secret  string
	keyID   string
	fed     *fedtest.Issuer // federated_test.go
}

func newGrantEnv(t *testing.T) *grantEnv {
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "keyward.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	newID := func(prefix string) string {
		id, err := keyward.NewID(rand.Reader, prefix)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	held := []string{"images-view", "dns-view"}
	e := &grantEnv{t: t, audit: &auditLog{Store: db}, byIP: newFakeLimiter(), addr: netip.MustParseAddr("192.0.2.7")}
	e.user = &keyward.User{ID: newID(keyward.PrefixUser), Email: "ada@example.com", PasswordHash: "right", CreatedAt: now}
	if err := db.CreateUser(ctx, e.user); err != nil {
		t.Fatal(err)
	}
	e.project = &keyward.Project{ID: newID(keyward.PrefixProject), Name: "default", CreatedAt: now}
	m := &keyward.Member{ProjectID: e.project.ID, UserID: e.user.ID, Permissions: held, CreatedAt: now, UpdatedAt: now}
	if err := db.CreateProject(ctx, e.project, m); err != nil {
		t.Fatal(err)
	}
	secret, id, err := apikey.New(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	e.secret, e.keyID = secret, id
	k := &keyward.APIKey{ID: id, ProjectID: e.project.ID, Name: "ci", Permissions: held, SecretHash: apikey.Hash(secret),
		Hint: apikey.Hint(secret), CreatedBy: "user:" + e.user.ID, Owner: e.user.ID, CreatedAt: now}
	if err := db.CreateAPIKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	e.srv = &Server{
		Config:    Config{Issuer: "https://keyward.test", Audience: "api", AccessTTL: time.Hour, RefreshGrace: time.Hour, SessionMaxAge: 24 * time.Hour, PasswordGrant: true},
		Store:     e.audit,
		Minter:    mintFunc(func(*token.Claims) (string, error) { return "access", nil }),
		Catalog:   keyward.DefaultCatalog(),
		Passwords: plainPasswords{},
		ClientIP:  func(*http.Request) netip.Addr { return e.addr },
		ByIP:      e.byIP, ByUser: newFakeLimiter(), ByKeyIP: newFakeLimiter(),
		DeviceRequests: newFakeLimiter(),
		Metrics:        metricsFunc(func(grant, result string) { e.metrics = append(e.metrics, grant+" "+result) }),
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now:            func() time.Time { return now },
		Rand:           rand.Reader,
	}
	return e
}

// session starts a user session of the project in the store and returns its refresh token.
func (e *grantEnv) session() string {
	now := e.srv.Now()
	sess := &keyward.Session{Kind: keyward.SessionUser, UserID: e.user.ID, ProjectID: e.project.ID,
		CreatedAt: now, ExpiresAt: now.Add(e.srv.SessionMaxAge)}
	id, err := keyward.NewSessionID(now, rand.Reader)
	if err != nil {
		e.t.Fatal(err)
	}
	sess.ID = id
	raw, rt, err := e.srv.newRefreshToken(sess, now)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.audit.Store.CreateSession(context.Background(), sess, rt); err != nil {
		e.t.Fatal(err)
	}
	return raw
}

// post sends form to the token endpoint, with secret as HTTP Basic when set.
func (e *grantEnv) post(form url.Values, secret string) (int, map[string]any, http.Header) {
	r := httptest.NewRequest(http.MethodPost, "/oauth/token", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if secret != "" {
		r.SetBasicAuth("", secret)
	}
	w := httptest.NewRecorder()
	e.srv.handleToken(w, r)
	var body map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		e.t.Fatalf("token response is not JSON: %q", w.Body.String())
	}
	return w.Code, body, w.Header()
}

// auditLog is the store, with the audit events appended through it kept for the test to read.
type auditLog struct {
	keyward.Store
	events []*keyward.AuditEvent
}

func (a *auditLog) AppendAudit(ctx context.Context, e *keyward.AuditEvent) error {
	a.events = append(a.events, e)
	return a.Store.AppendAudit(ctx, e)
}

// actions lists the recorded actions, space-separated.
func (a *auditLog) actions() string {
	var out []string
	for _, e := range a.events {
		out = append(out, e.Action)
	}
	return strings.Join(out, " ")
}

type fakeLimiter struct {
	blocked map[string]bool
	failed  map[string]int
}

func newFakeLimiter() *fakeLimiter {
	return &fakeLimiter{blocked: map[string]bool{}, failed: map[string]int{}}
}

func (l *fakeLimiter) Blocked(key string) (time.Duration, bool) {
	if l.blocked[key] {
		return 30 * time.Second, true
	}
	return 0, false
}

func (l *fakeLimiter) Fail(key string) { l.failed[key]++ }

// plainPasswords stores passwords as themselves: hashing is internal/password's concern.
type plainPasswords struct{}

func (plainPasswords) Verify(_ context.Context, encoded, password string) (bool, error) {
	return encoded == password, nil
}

func (plainPasswords) VerifyDummy(context.Context, string) {}

type mintFunc func(*token.Claims) (string, error)

func (f mintFunc) Mint(c *token.Claims) (string, error) { return f(c) }

type metricsFunc func(grant, result string)

func (f metricsFunc) ObserveToken(grant, result string, _ time.Duration) { f(grant, result) }

package web_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/api"
	"github.com/keyward/keyward/internal/authn"
	"github.com/keyward/keyward/internal/dashboard"
	"github.com/keyward/keyward/internal/manage"
	"github.com/keyward/keyward/internal/web"
)

var now = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// failingStore answers the reads that bring a request to a handler, then fails with err where a
// handler reads: the revocation feed on /v1, the project list on the dashboard. ping is what the
// database's health check answers.
type failingStore struct {
	keyward.Store // any other method panics: the requests below must not reach it
	err, ping     error
}

func (f *failingStore) Ping(context.Context) error { return f.ping }

func (f *failingStore) Revocations(context.Context, int64, int) ([]keyward.Revocation, error) {
	return nil, f.err
}

func (f *failingStore) ProjectsForUser(context.Context, string) ([]*keyward.Project, error) {
	return nil, f.err
}

func (f *failingStore) WebSession(_ context.Context, hash []byte) (*keyward.WebSession, error) {
	return &keyward.WebSession{Hash: hash, UserID: "usr_1", CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)}, nil
}

func (f *failingStore) UserByID(context.Context, string) (*keyward.User, error) {
	return &keyward.User{ID: "usr_1", Email: "ann@example.com", CreatedAt: now}, nil
}

// surfaces serves the /v1 API and the dashboard over one failing store.
type surfaces struct {
	api, dashboard http.Handler
}

func newSurfaces(store *failingStore) surfaces {
	catalog := keyward.DefaultCatalog()
	clock := func() time.Time { return now }
	auth := &authn.Authenticator{Store: store, Now: clock}
	mgr := &manage.Service{Store: store, Catalog: catalog, Now: clock}
	a := &api.Server{Store: store, Auth: auth, Catalog: catalog, Manage: mgr, Now: clock}
	d := &dashboard.Server{Store: store, Manage: mgr, Catalog: catalog, Now: clock}
	return surfaces{api: a.Handler(), dashboard: d.Handler()}
}

func serve(h http.Handler, r *http.Request) *http.Response {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Result()
}

// signedIn is a dashboard request with a well-formed session cookie, which failingStore accepts.
func signedIn(method, path string) *http.Request {
	r := httptest.NewRequest(method, path, nil)
	r.AddCookie(&http.Cookie{Name: "keyward_session", Value: base64.RawURLEncoding.EncodeToString(make([]byte, 32))})
	return r
}

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestStatusesAgree: every error code becomes the same status on /v1 and on the dashboard, and
// what the client reads of a server error is never its cause.
func TestStatusesAgree(t *testing.T) {
	for _, tt := range []struct {
		code   string
		status int
	}{
		{keyward.EINVALID, http.StatusBadRequest},
		{keyward.EUNAUTHORIZED, http.StatusUnauthorized},
		{keyward.EFORBIDDEN, http.StatusForbidden},
		{keyward.ENOTFOUND, http.StatusNotFound},
		{keyward.ECONFLICT, http.StatusConflict},
		{keyward.EUNAVAILABLE, http.StatusServiceUnavailable},
		{keyward.ETOOMANY, http.StatusTooManyRequests},
		{keyward.EINTERNAL, http.StatusInternalServerError},
		{keyward.EREFRESHREUSED, http.StatusInternalServerError},
		{keyward.EEXPIRED, http.StatusInternalServerError},
		{keyward.EREVOKED, http.StatusInternalServerError},
	} {
		t.Run(tt.code, func(t *testing.T) {
			const message = "Message for the client."
			s := newSurfaces(&failingStore{err: fmt.Errorf("read: %w", keyward.Errorf(tt.code, message))})
			fromAPI := serve(s.api, httptest.NewRequest("GET", "/v1/revocations", nil))
			fromPage := serve(s.dashboard, signedIn("GET", "/projects"))
			if fromAPI.StatusCode != tt.status || fromPage.StatusCode != tt.status {
				t.Fatalf("%s: /v1 answered %d, the dashboard %d; want %d on both", tt.code, fromAPI.StatusCode, fromPage.StatusCode, tt.status)
			}
			for name, resp := range map[string]*http.Response{"/v1": fromAPI, "dashboard": fromPage} {
				shown := strings.Contains(body(t, resp), message)
				if shown != (tt.status != http.StatusInternalServerError) {
					t.Errorf("%s, %d: message shown = %v", name, tt.status, shown)
				}
			}
		})
	}
}

// TestOutage: an internal error while the database does not answer is an outage on both surfaces:
// 503 with Retry-After, so that clients and people try again rather than report a bug.
func TestOutage(t *testing.T) {
	s := newSurfaces(&failingStore{err: errors.New("dial tcp 10.0.0.5:5432: connection refused"), ping: errors.New("down")})
	for name, resp := range map[string]*http.Response{
		"/v1":       serve(s.api, httptest.NewRequest("GET", "/v1/revocations", nil)),
		"dashboard": serve(s.dashboard, signedIn("GET", "/projects")),
	} {
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s during an outage: HTTP %d, Retry-After %q; want 503 with Retry-After", name, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
		if b := body(t, resp); strings.Contains(b, "10.0.0.5") {
			t.Errorf("%s shows the cause of the outage: %s", name, b)
		}
	}
}

// TestSecurityHeaders: each surface's headers are on its error responses too, whatever produced
// them: the mux (404), a handler's refusal of bad input (400), a failure inside (500).
func TestSecurityHeaders(t *testing.T) {
	s := newSurfaces(&failingStore{err: errors.New("disk I/O error")})
	login := httptest.NewRequest("POST", "/login", strings.NewReader(`{"email":"ann@example.com"}`))
	login.Header.Set("Content-Type", "application/json")
	for _, tt := range []struct {
		surface string
		resp    *http.Response
		status  int
		want    http.Header
	}{
		{"/v1", serve(s.api, httptest.NewRequest("GET", "/v1/nothing", nil)), 404, web.APIHeaders()},
		{"/v1", serve(s.api, httptest.NewRequest("GET", "/v1/revocations?after=x", nil)), 400, web.APIHeaders()},
		{"/v1", serve(s.api, httptest.NewRequest("GET", "/v1/revocations", nil)), 500, web.APIHeaders()},
		{"dashboard", serve(s.dashboard, httptest.NewRequest("GET", "/nothing", nil)), 404, web.PageHeaders()},
		{"dashboard", serve(s.dashboard, login), 400, web.PageHeaders()},
		{"dashboard", serve(s.dashboard, signedIn("GET", "/projects")), 500, web.PageHeaders()},
	} {
		if tt.resp.StatusCode != tt.status {
			t.Errorf("%s: HTTP %d, want %d", tt.surface, tt.resp.StatusCode, tt.status)
			continue
		}
		for k := range tt.want {
			if got, want := tt.resp.Header.Get(k), tt.want.Get(k); got != want {
				t.Errorf("%s %d: %s = %q, want %q", tt.surface, tt.status, k, got, want)
			}
		}
	}
	// The values themselves, so that a header dropped from a surface's set is noticed.
	for _, tt := range []struct {
		set  http.Header
		want map[string]string
	}{
		{web.APIHeaders(), map[string]string{"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer"}},
		{web.PageHeaders(), map[string]string{"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
			"Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Resource-Policy": "same-origin"}},
	} {
		for k, v := range tt.want {
			if got := tt.set.Get(k); got != v {
				t.Errorf("%s = %q, want %q", k, got, v)
			}
		}
	}
	if csp := web.PageHeaders().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("dashboard CSP %q is not strict", csp)
	}
	if web.APIHeaders().Get("Content-Security-Policy") != "" {
		t.Error("the dashboard's CSP leaked into the API's headers")
	}
}

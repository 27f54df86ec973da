package oauth

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/internal/devicecode"
	"github.com/keyward/keyward/internal/token"
)

// authorizeDevice calls the device authorization endpoint with form.
func (e *grantEnv) authorizeDevice(form url.Values) (int, map[string]any, http.Header) {
	e.t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/oauth/device_authorization", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	e.srv.handleDeviceAuthorization(w, r)
	var body map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		e.t.Fatalf("device authorization response is not JSON: %q", w.Body.String())
	}
	return w.Code, body, w.Header()
}

// startDevice starts a device sign-in and returns its answer.
func (e *grantEnv) startDevice(form url.Values) *client.DeviceAuthorization {
	e.t.Helper()
	form.Set("client_id", client.DeviceClientID)
	status, body, _ := e.authorizeDevice(form)
	if status != http.StatusOK {
		e.t.Fatalf("device authorization: %d %v", status, body)
	}
	raw, _ := json.Marshal(body)
	var d client.DeviceAuthorization
	if err := json.Unmarshal(raw, &d); err != nil {
		e.t.Fatal(err)
	}
	return &d
}

// decide approves or denies a user code as the env's user, as the dashboard does.
func (e *grantEnv) decide(userCode string, approve bool) {
	e.t.Helper()
	c, ok := devicecode.Canonical(userCode)
	if !ok {
		e.t.Fatalf("user code %q is not one", userCode)
	}
	if _, err := e.audit.Store.DecideDeviceAuthorization(context.Background(), devicecode.Hash(c), e.user.ID, approve, e.srv.Now()); err != nil {
		e.t.Fatal(err)
	}
}

// approvedDevice starts a device sign-in with form, approves it and returns the token request
// that redeems it.
func (e *grantEnv) approvedDevice(form url.Values) url.Values {
	d := e.startDevice(form)
	e.decide(d.UserCode, true)
	return url.Values{"grant_type": {client.GrantDeviceCode}, "device_code": {d.DeviceCode}, "client_id": {client.DeviceClientID}}
}

func TestDeviceAuthorizationEndpoint(t *testing.T) {
	e := newGrantEnv(t)
	d := e.startDevice(url.Values{"project": {e.project.Name}, "scope": {"dns-view"}})
	if !regexp.MustCompile(`^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$`).MatchString(d.UserCode) {
		t.Errorf("user code %q", d.UserCode)
	}
	if len(d.DeviceCode) < 22 || d.ExpiresIn != 600 || d.Interval != 5 {
		t.Errorf("answer %+v: want a device code of at least 128 bits, expires_in 600, interval 5", d)
	}
	if d.VerificationURI != "https://keyward.test/device" ||
		d.VerificationURIComplete != "https://keyward.test/device?user_code="+url.QueryEscape(d.UserCode) {
		t.Errorf("verification URIs %q, %q", d.VerificationURI, d.VerificationURIComplete)
	}
	// Stored by hashes only: the user code, typed any way, finds it; the codes are not in it.
	c, _ := devicecode.Canonical(strings.ToLower(strings.ReplaceAll(d.UserCode, "-", " ")))
	stored, err := e.audit.Store.DeviceAuthorization(context.Background(), devicecode.Hash(c))
	if err != nil {
		t.Fatal(err)
	}
	if raw, _ := json.Marshal(stored); strings.Contains(string(raw), d.DeviceCode) || strings.Contains(string(raw), c) {
		t.Errorf("a code is stored in clear: %s", raw)
	}
	if stored.Project != e.project.Name || strings.Join(stored.Scope, " ") != "dns-view" || stored.IP != e.addr.String() {
		t.Errorf("stored %+v", stored)
	}

	for name, tc := range map[string]struct {
		form   url.Values
		basic  bool
		status int
		code   string
	}{
		"client secret":      {form: url.Values{"client_id": {client.DeviceClientID}, "client_secret": {"x"}}, status: 400, code: errInvalidRequest},
		"basic auth":         {form: url.Values{}, basic: true, status: 400, code: errInvalidRequest},
		"unknown client":     {form: url.Values{"client_id": {"someone-else"}}, status: 401, code: errInvalidClient},
		"unknown scope":      {form: url.Values{"scope": {"dns-view no-such-permission"}}, status: 400, code: errInvalidScope},
		"empty project":      {form: url.Values{"project": {""}}, status: 400, code: errInvalidRequest},
		"long project":       {form: url.Values{"project": {strings.Repeat("a", 201)}}, status: 400, code: errInvalidRequest},
		"repeated client":    {form: url.Values{"client_id": {client.DeviceClientID, client.DeviceClientID}}, status: 400, code: errInvalidRequest},
		"no client_id is ok": {form: url.Values{}, status: 200},
	} {
		r := httptest.NewRequest(http.MethodPost, "/oauth/device_authorization", strings.NewReader(tc.form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if tc.basic {
			r.SetBasicAuth(client.DeviceClientID, "secret")
		}
		w := httptest.NewRecorder()
		e.srv.handleDeviceAuthorization(w, r)
		var body map[string]any
		_ = json.Unmarshal(w.Body.Bytes(), &body)
		if w.Code != tc.status || (tc.code != "" && body["error"] != tc.code) {
			t.Errorf("%s: %d %v, want %d %s", name, w.Code, body, tc.status, tc.code)
		}
	}
	r := httptest.NewRequest(http.MethodGet, "/oauth/device_authorization", nil)
	w := httptest.NewRecorder()
	e.srv.handleDeviceAuthorization(w, r)
	if w.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d, want 405", w.Code)
	}
}

// Every call costs against the address, and a throttled address gets 429 with Retry-After and
// no code.
func TestDeviceAuthorizationThrottled(t *testing.T) {
	e := newGrantEnv(t)
	limiter := e.srv.DeviceRequests.(*fakeLimiter)
	e.startDevice(url.Values{})
	e.startDevice(url.Values{})
	if n := limiter.failed[e.addr.String()]; n != 2 {
		t.Errorf("two calls counted %d times, want 2", n)
	}
	limiter.blocked[e.addr.String()] = true
	status, body, hdr := e.authorizeDevice(url.Values{})
	if status != http.StatusTooManyRequests || hdr.Get("Retry-After") == "" || body["device_code"] != nil {
		t.Errorf("throttled: %d %v Retry-After %q", status, body, hdr.Get("Retry-After"))
	}
}

func TestDeviceGrantStates(t *testing.T) {
	e := newGrantEnv(t)
	now := e.srv.Now()
	e.srv.Now = func() time.Time { return now }
	var claims *token.Claims
	e.srv.Minter = mintFunc(func(c *token.Claims) (string, error) { claims = c; return "access", nil })
	expect := func(what string, form url.Values, status int, code string) map[string]any {
		t.Helper()
		got, body, _ := e.post(form, "")
		if got != status || (code != "" && body["error"] != code) {
			t.Fatalf("%s: %d %v, want %d %s", what, got, body, status, code)
		}
		return body
	}
	poll := func(d *client.DeviceAuthorization) url.Values {
		return url.Values{"grant_type": {client.GrantDeviceCode}, "device_code": {d.DeviceCode}}
	}

	d := e.startDevice(url.Values{"project": {e.project.Name}, "scope": {"dns-view"}})
	expect("first poll", poll(d), 400, errAuthorizationPending)
	now = now.Add(2 * time.Second)
	body := expect("poll after 2 s", poll(d), 400, errSlowDown)
	t.Logf("slow_down: %v", body["error_description"])
	now = now.Add(6 * time.Second)
	expect("poll 6 s later, interval now 10 s", poll(d), 400, errSlowDown)
	now = now.Add(16 * time.Second)
	expect("poll after the grown interval", poll(d), 400, errAuthorizationPending)
	withSecret := poll(d)
	withSecret.Set("client_secret", "x")
	expect("client secret", withSecret, 400, errInvalidRequest)
	other := poll(d)
	other.Set("client_id", "someone-else")
	expect("another client", other, 401, errInvalidClient)
	e.decide(d.UserCode, true)
	body = expect("approved", poll(d), 200, "")
	if body["refresh_token"] == "" || body["scope"] != "dns-view" || claims.Project != e.project.ID || claims.Subject != "user:"+e.user.ID {
		t.Errorf("approved: %v, claims %+v: want a session of the user narrowed to the project and dns-view", body, claims)
	}
	e.byIP.failed = map[string]int{}
	expect("reuse", poll(d), 400, errInvalidGrant)
	if e.byIP.failed[e.addr.String()] != 1 {
		t.Errorf("reuse counted %d times against the address, want once", e.byIP.failed[e.addr.String()])
	}
	expect("unknown code", url.Values{"grant_type": {client.GrantDeviceCode}, "device_code": {"nope"}}, 400, errInvalidGrant)
	expect("no code", url.Values{"grant_type": {client.GrantDeviceCode}}, 400, errInvalidRequest)

	denied := e.startDevice(url.Values{})
	e.decide(denied.UserCode, false)
	expect("denied", poll(denied), 400, errAccessDenied)

	// The token request may narrow the approved scope, never widen it.
	scoped := e.startDevice(url.Values{"project": {e.project.Name}, "scope": {"dns-view"}})
	e.decide(scoped.UserCode, true)
	wider := poll(scoped)
	wider.Set("scope", "images-view dns-view")
	expect("wider than approved", wider, 400, errInvalidScope)

	late := e.startDevice(url.Values{})
	now = now.Add(10 * time.Minute)
	expect("expired", poll(late), 400, errExpiredToken)
	approvedLate := e.startDevice(url.Values{})
	e.decide(approvedLate.UserCode, true)
	now = now.Add(10 * time.Minute)
	expect("approved, then expired", poll(approvedLate), 400, errExpiredToken)

	// An approver who left the project gets no token for it.
	gone := e.startDevice(url.Values{"project": {e.project.Name}})
	e.decide(gone.UserCode, true)
	other2 := &keyward.User{ID: "usr_" + strings.Repeat("b", 22), Email: "bob@example.com", PasswordHash: "x", CreatedAt: now}
	if err := e.audit.Store.CreateUser(context.Background(), other2); err != nil {
		t.Fatal(err)
	}
	if err := e.audit.Store.PutMember(context.Background(), &keyward.Member{ProjectID: e.project.ID, UserID: other2.ID,
		Permissions: []string{"images-view", "dns-view"}, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := e.audit.Store.RemoveMember(context.Background(), e.project.ID, e.user.ID, now); err != nil {
		t.Fatal(err)
	}
	expect("approver no longer a member", poll(gone), 400, errInvalidScope)
}

func TestDeviceMetadata(t *testing.T) {
	e := newGrantEnv(t)
	w := httptest.NewRecorder()
	e.srv.handleMetadata(w, httptest.NewRequest(http.MethodGet, "/.well-known/oauth-authorization-server", nil))
	var m client.Metadata
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	if m.DeviceAuthorizationEndpoint != "https://keyward.test/oauth/device_authorization" ||
		!strings.Contains(strings.Join(m.GrantTypesSupported, " "), client.GrantDeviceCode) {
		t.Errorf("metadata %+v", m)
	}
}

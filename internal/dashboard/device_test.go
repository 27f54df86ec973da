package dashboard_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
)

// startDevice starts a device sign-in at the token endpoint, as `keyward login --web` does, from
// the client address from (via X-Forwarded-For).
func (e *env) startDevice(from string, form url.Values) *client.DeviceAuthorization {
	e.t.Helper()
	resp := e.do(request{method: "POST", path: "/oauth/device_authorization", form: form,
		header: http.Header{"X-Forwarded-For": {from}}})
	if resp.Status != http.StatusOK {
		e.t.Fatalf("device authorization: HTTP %d %s", resp.Status, resp.Body)
	}
	var d client.DeviceAuthorization
	if err := json.Unmarshal([]byte(resp.Body), &d); err != nil {
		e.t.Fatal(err)
	}
	return &d
}

// pollDevice asks the token endpoint once for the tokens of d and returns the answer.
func (e *env) pollDevice(d *client.DeviceAuthorization) tokenAnswer {
	e.t.Helper()
	resp := e.do(request{method: "POST", path: "/oauth/token", form: url.Values{
		"grant_type": {client.GrantDeviceCode}, "device_code": {d.DeviceCode}, "client_id": {"keyward-cli"}}})
	var a tokenAnswer
	if err := json.Unmarshal([]byte(resp.Body), &a); err != nil {
		e.t.Fatalf("token answer: %s", resp.Body)
	}
	a.Status = resp.Status
	return a
}

// TestDeviceApprovedInBrowser: the verification link sends a signed-out person through the
// sign-in and back; the page shows what asks (program, address, project) and Approve signs the
// device in, once.
func TestDeviceApprovedInBrowser(t *testing.T) {
	e := start(t)
	d := e.startDevice("198.51.100.23", url.Values{"client_id": {"keyward-cli"}, "project": {"default"}})
	b := newTab(t, e)
	b.open(strings.TrimPrefix(d.VerificationURIComplete, e.URL))
	b.see("Sign in to keyward")
	b.fill("Email address", adminEmail)
	b.fill("Password", adminPassword)
	b.press("Sign in")
	b.see("Sign in a device", d.UserCode, "keyward-cli", "198.51.100.23", "default", adminEmail)
	b.checkPage()
	if a := e.pollDevice(d); a.Error != "authorization_pending" {
		t.Fatalf("before approval: %+v", a)
	}
	b.press("Approve")
	b.see("Approved")
	e.Clock.Advance(6e9)
	a := e.pollDevice(d)
	if a.Status != http.StatusOK || a.AccessToken == "" {
		t.Fatalf("after approval: %+v", a)
	}
	if c := claims(t, a.AccessToken); c["sub"] == nil || c["project"] != e.project("default").ID {
		t.Errorf("token claims %v: want the admin's session narrowed to default", c)
	}
	if a := e.pollDevice(d); a.Error != "invalid_grant" {
		t.Errorf("second redemption: %+v", a)
	}
	page, _, err := e.Store.AuditPage(t.Context(), "", keyward.Page{Limit: 10, Search: keyward.AuditDeviceApproved})
	if err != nil || len(page) != 1 || !strings.Contains(page[0].Detail, "from=198.51.100.23") {
		t.Errorf("audit of the approval: %v %v", page, err)
	}
}

// TestDeviceCodeTyped: a code typed by hand, in lower case with a space, is found; Deny ends the
// sign-in.
func TestDeviceCodeTyped(t *testing.T) {
	e := start(t)
	d := e.startDevice("198.51.100.23", url.Values{})
	cookie := e.login(adminEmail, adminPassword)
	typed := strings.ToLower(strings.ReplaceAll(d.UserCode, "-", " "))
	resp := e.do(request{method: "GET", path: "/device?user_code=" + url.QueryEscape(typed), cookie: cookie})
	if resp.Status != http.StatusOK || !strings.Contains(resp.Body, d.UserCode) || !strings.Contains(resp.Body, "all your projects") {
		t.Fatalf("typed code: HTTP %d %s", resp.Status, resp.Body)
	}
	resp = e.do(request{method: "POST", path: "/device", cookie: cookie, form: url.Values{"user_code": {typed}, "decision": {"deny"}}})
	if resp.Status != http.StatusOK || !strings.Contains(resp.Body, "Denied") {
		t.Fatalf("deny: HTTP %d %s", resp.Status, resp.Body)
	}
	if a := e.pollDevice(d); a.Error != "access_denied" {
		t.Errorf("after denial: %+v", a)
	}
	resp = e.do(request{method: "POST", path: "/device", cookie: cookie, form: url.Values{"user_code": {d.UserCode}, "decision": {"approve"}}})
	if resp.Status != http.StatusConflict {
		t.Errorf("approve after deny: HTTP %d", resp.Status)
	}
	// Signed out, the page sends the person to sign in and back.
	resp = e.do(request{method: "GET", path: "/device?user_code=" + d.UserCode})
	if resp.Status != http.StatusSeeOther || resp.Header.Get("Location") != "/login?next="+url.QueryEscape("/device?user_code="+d.UserCode) {
		t.Errorf("signed out: HTTP %d to %q", resp.Status, resp.Header.Get("Location"))
	}
}

// TestDeviceApprovalCrossSiteRefused: an approval posted from another site is refused, and the
// sign-in stays pending.
func TestDeviceApprovalCrossSiteRefused(t *testing.T) {
	e := start(t)
	d := e.startDevice("198.51.100.23", url.Values{})
	cookie := e.login(adminEmail, adminPassword)
	resp := e.do(request{method: "POST", path: "/device", cookie: cookie,
		form:   url.Values{"user_code": {d.UserCode}, "decision": {"approve"}},
		header: http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"https://evil.example"}}})
	if resp.Status != http.StatusForbidden || !strings.Contains(resp.Body, "another site") {
		t.Fatalf("cross-site approval: HTTP %d %s", resp.Status, resp.Body)
	}
	if a := e.pollDevice(d); a.Error != "authorization_pending" {
		t.Fatalf("after a cross-site approval: %+v", a)
	}
}

// TestDeviceWrongCodesThrottled: wrong codes are throttled per person, so that guessing the codes
// of other people's sign-ins stops after a few; the person's own password sign-in is not
// affected.
func TestDeviceWrongCodesThrottled(t *testing.T) {
	e := start(t)
	d := e.startDevice("198.51.100.23", url.Values{})
	cookie := e.login(adminEmail, adminPassword)
	statuses := []int{}
	for range 12 {
		resp := e.do(request{method: "GET", path: "/device?user_code=BBBB-BBBB", cookie: cookie})
		statuses = append(statuses, resp.Status)
	}
	t.Logf("statuses of 12 wrong codes: %v", statuses)
	if statuses[0] != http.StatusBadRequest || statuses[len(statuses)-1] != http.StatusTooManyRequests {
		t.Fatalf("wrong codes: %v, want 400 first and 429 at last", statuses)
	}
	// Throttled, even the right code waits.
	resp := e.do(request{method: "GET", path: "/device?user_code=" + d.UserCode, cookie: cookie})
	if resp.Status != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("right code while throttled: HTTP %d", resp.Status)
	}
	// Malformed input is one more wrong code, never an error page.
	resp = e.do(request{method: "POST", path: "/device", cookie: cookie, form: url.Values{"user_code": {"<script>"}, "decision": {"approve"}}})
	if resp.Status != http.StatusTooManyRequests || strings.Contains(resp.Body, "<script>") {
		t.Errorf("malformed code: HTTP %d", resp.Status)
	}
	e.login(adminEmail, adminPassword)
}

// TestDeviceProjectOfAnotherTenant: a program that asks for a project the approver is not a
// member of can only be denied, and the page does not say whether the project exists.
func TestDeviceProjectOfAnotherTenant(t *testing.T) {
	e := start(t)
	e.user("eve@example.com", "eve's long password")
	cookie := e.login("eve@example.com", "eve's long password")
	pages := map[string]string{}
	for _, project := range []string{"default", "no-such-project"} {
		d := e.startDevice("198.51.100.23", url.Values{"project": {project}})
		resp := e.do(request{method: "GET", path: "/device?user_code=" + d.UserCode, cookie: cookie})
		if resp.Status != http.StatusOK || strings.Contains(resp.Body, `value="approve"`) || strings.Contains(resp.Body, project) {
			t.Fatalf("%s: HTTP %d, want the page without Approve and without the name:\n%s", project, resp.Status, resp.Body)
		}
		pages[project] = strings.ReplaceAll(resp.Body, d.UserCode, "CODE")
		resp = e.do(request{method: "POST", path: "/device", cookie: cookie, form: url.Values{"user_code": {d.UserCode}, "decision": {"approve"}}})
		if resp.Status != http.StatusForbidden {
			t.Errorf("%s: approve anyway: HTTP %d", project, resp.Status)
		}
		if a := e.pollDevice(d); a.Error != "authorization_pending" {
			t.Errorf("%s: after a refused approval: %+v", project, a)
		}
		resp = e.do(request{method: "POST", path: "/device", cookie: cookie, form: url.Values{"user_code": {d.UserCode}, "decision": {"deny"}}})
		if resp.Status != http.StatusOK {
			t.Errorf("%s: deny: HTTP %d", project, resp.Status)
		}
	}
	if pages["default"] != pages["no-such-project"] {
		t.Error("the page for an existing project of another tenant differs from the page for none")
	}
}

package dashboard_test

import (
	"fmt"
	"html"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/server"
)

// sameOrigin is what a browser sends with a form posted from the dashboard itself.
func sameOrigin(e *env) http.Header {
	return http.Header{"Sec-Fetch-Site": {"same-origin"}, "Origin": {e.URL}}
}

func signedIn(e *env, c *http.Cookie) bool {
	e.t.Helper()
	resp := e.do(request{method: "GET", path: "/projects", cookie: c})
	switch {
	case resp.Status == http.StatusOK:
		return true
	case resp.Status == http.StatusSeeOther && strings.HasPrefix(resp.Header.Get("Location"), "/login"):
		return false
	}
	e.t.Fatalf("GET /projects: HTTP %d %s", resp.Status, resp.Header.Get("Location"))
	return false
}

func TestCookieOverHTTPSHasHostPrefix(t *testing.T) {
	e := start(t, func(c *server.Config) { c.Issuer = "https://keyward.example" })
	c := e.login(adminEmail, adminPassword)
	if c.Name != "__Host-keyward_session" || !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Domain != "" {
		t.Fatalf("session cookie over https: %+v", c)
	}
	if len(c.Value) < 43 { // 256 bits in base64url
		t.Fatalf("session secret %q is shorter than 256 bits", c.Value)
	}
	// The same secret under the unprefixed name, which a sibling subdomain could plant, is no
	// session.
	if signedIn(e, &http.Cookie{Name: "keyward_session", Value: c.Value}) {
		t.Fatal("the unprefixed cookie was accepted over https")
	}
	if !signedIn(e, c) {
		t.Fatal("the session cookie was refused")
	}
}

func TestCookieOverPlainHTTP(t *testing.T) {
	e := start(t)
	c := e.login(adminEmail, adminPassword)
	if c.Name != "keyward_session" || c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode {
		t.Fatalf("session cookie over plain http: %+v", c)
	}
}

// TestSessionIsStoredAsHash: the database holds the SHA-256 of the cookie secret, never the
// secret, so reading the database gives nobody a login.
func TestSessionIsStoredAsHash(t *testing.T) {
	e := start(t)
	c := e.login(adminEmail, adminPassword)
	if _, err := e.Store.WebSession(t.Context(), []byte(c.Value)); keyward.ErrorCode(err) != keyward.ENOTFOUND {
		t.Fatalf("the cookie value itself finds a stored session: %v", err)
	}
	for _, forged := range []string{"", "x", c.Value + "A", strings.Repeat("A", 43), c.Value[:42]} {
		if signedIn(e, &http.Cookie{Name: c.Name, Value: forged}) {
			t.Errorf("cookie value %q was accepted", forged)
		}
	}
}

func TestNewSessionAtEveryLogin(t *testing.T) {
	e := start(t)
	first := e.login(adminEmail, adminPassword)
	// Signing in again from a browser that holds a session replaces it.
	resp := e.do(request{method: "POST", path: "/login", cookie: first,
		form: url.Values{"email": {adminEmail}, "password": {adminPassword}}})
	var cookies []*http.Cookie // the session's; the device cookie is not a login
	for _, c := range (&http.Response{Header: resp.Header}).Cookies() {
		if c.Name == first.Name {
			cookies = append(cookies, c)
		}
	}
	if resp.Status != http.StatusSeeOther || len(cookies) != 1 || cookies[0].Value == first.Value {
		t.Fatalf("second login: HTTP %d, cookies %v", resp.Status, cookies)
	}
	if signedIn(e, first) {
		t.Error("the session the browser brought to the login still works")
	}
	if !signedIn(e, cookies[0]) {
		t.Error("the new session does not work")
	}
}

func TestLogoutEndsTheSessionOnTheServer(t *testing.T) {
	e := start(t)
	c := e.login(adminEmail, adminPassword)
	stolen := *c
	resp := e.do(request{method: "POST", path: "/logout", cookie: c, form: url.Values{}})
	if resp.Status != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Set-Cookie"), "Max-Age=0") {
		t.Fatalf("logout: HTTP %d, Set-Cookie %q", resp.Status, resp.Header.Get("Set-Cookie"))
	}
	if signedIn(e, &stolen) {
		t.Fatal("a copy of the cookie still works after logout")
	}
	// A GET never logs out (nor changes anything else).
	c = e.login(adminEmail, adminPassword)
	if resp := e.do(request{method: "GET", path: "/logout", cookie: c}); resp.Status != http.StatusNotFound {
		t.Errorf("GET /logout: HTTP %d", resp.Status)
	}
	if !signedIn(e, c) {
		t.Error("GET /logout ended the session")
	}
}

func TestIdleTimeout(t *testing.T) {
	e := start(t)
	c := e.login(adminEmail, adminPassword)
	// Activity keeps the session alive well past one idle period...
	for range 4 {
		e.Clock.Advance(25 * time.Minute)
		if !signedIn(e, c) {
			t.Fatal("an active session timed out")
		}
	}
	// ...and 30 minutes without any ends it.
	e.Clock.Advance(30 * time.Minute)
	if signedIn(e, c) {
		t.Fatal("the session survived 30 idle minutes")
	}
}

func TestAbsoluteTimeout(t *testing.T) {
	e := start(t)
	c := e.login(adminEmail, adminPassword)
	for elapsed := 20 * time.Minute; elapsed < 12*time.Hour; elapsed += 20 * time.Minute {
		e.Clock.Advance(20 * time.Minute)
		if !signedIn(e, c) {
			t.Fatalf("the session ended after %s of activity", elapsed)
		}
	}
	e.Clock.Advance(20 * time.Minute)
	if signedIn(e, c) {
		t.Fatal("activity kept the session alive beyond 12 hours")
	}
}

func TestDisabledUserIsSignedOut(t *testing.T) {
	e := start(t)
	u := e.user("ada@example.com", "ada password 12345", "api-keys-view")
	c := e.login("ada@example.com", "ada password 12345")
	if err := e.Store.SetUserDisabled(t.Context(), u.ID, true, e.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	if signedIn(e, c) {
		t.Fatal("a disabled user is still signed in")
	}
	resp := e.do(request{method: "POST", path: "/login", form: url.Values{"email": {"ada@example.com"}, "password": {"ada password 12345"}}})
	if resp.Status != http.StatusUnauthorized || !strings.Contains(resp.Body, "The email address or password is wrong.") {
		t.Fatalf("login of a disabled user: HTTP %d", resp.Status)
	}
}

// TestMembershipReadPerRequest: permissions come from the membership at each request, so
// removing a member takes effect on their next click, not at their next login.
func TestMembershipReadPerRequest(t *testing.T) {
	e := start(t)
	u := e.user("ada@example.com", "ada password 12345", "api-keys-view")
	c := e.login("ada@example.com", "ada password 12345")
	if resp := e.do(request{method: "GET", path: "/projects/default/api-keys", cookie: c}); resp.Status != http.StatusOK {
		t.Fatalf("member: HTTP %d", resp.Status)
	}
	if err := e.Store.RemoveMember(t.Context(), e.project("default").ID, u.ID, e.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	if resp := e.do(request{method: "GET", path: "/projects/default/api-keys", cookie: c}); resp.Status != http.StatusNotFound {
		t.Fatalf("removed member: HTTP %d", resp.Status)
	}
}

func TestLoginFailuresAreGenericAndAudited(t *testing.T) {
	e := start(t)
	for _, tt := range []struct{ email, pw string }{
		{adminEmail, "wrong password"},
		{"nobody@example.com", adminPassword},
		{strings.ToUpper(adminEmail), "wrong password"},
	} {
		resp := e.do(request{method: "POST", path: "/login", form: url.Values{"email": {tt.email}, "password": {tt.pw}}})
		if resp.Status != http.StatusUnauthorized || !strings.Contains(resp.Body, "The email address or password is wrong.") {
			t.Errorf("login %s: HTTP %d", tt.email, resp.Status)
		}
		if strings.Contains(resp.Body, tt.pw) {
			t.Errorf("the login page repeats the password")
		}
		if len(resp.Header.Values("Set-Cookie")) != 0 {
			t.Errorf("a failed login set a cookie")
		}
	}
	if resp := e.do(request{method: "POST", path: "/login", form: url.Values{"email": {adminEmail}}}); resp.Status != http.StatusBadRequest {
		t.Errorf("login without a password: HTTP %d", resp.Status)
	}
	if strings.Contains(e.Logs(), "wrong password") {
		t.Error("a password reached the log")
	}
	// Instance-level events: who tried which address, from where, and why it failed.
	events, err := e.Store.AuditEvents(t.Context(), "", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range events {
		if ev.Action == keyward.AuditLoginFailed {
			got = append(got, ev.Target+" "+ev.IP+" "+ev.Detail)
		}
	}
	want := []string{
		adminEmail + " 127.0.0.1 dashboard: wrong password",
		"nobody@example.com 127.0.0.1 dashboard: unknown user",
		adminEmail + " 127.0.0.1 dashboard: wrong password",
	}
	if !slices.Equal(got, want) {
		t.Errorf("failed-login events (newest first) %q, want %q", got, want)
	}
	e.login(adminEmail, adminPassword)
	if events, _ := e.Store.AuditEvents(t.Context(), "", 0, 1); len(events) != 1 || events[0].Action != keyward.AuditLogin || events[0].Detail != "dashboard" {
		t.Errorf("no login event after a successful login: %+v", events)
	}
}

// TestLoginThrottleSharedWithTokenEndpoint: failed logins are counted per username and per
// address with the token endpoint's counters, so guesses split between the two doors add up.
func TestLoginThrottleSharedWithTokenEndpoint(t *testing.T) {
	e := start(t)
	e.user("ada@example.com", "ada password 12345", "api-keys-view")
	for i := range 10 {
		from := fmt.Sprintf("198.51.100.%d", i+1) // a different address each time: only the username counts
		var resp *response
		if i%2 == 0 {
			resp = e.do(request{method: "POST", path: "/oauth/token", header: http.Header{"X-Forwarded-For": {from}},
				form: url.Values{"grant_type": {"password"}, "username": {"ada@example.com"}, "password": {"guess"}}})
		} else {
			resp = e.do(request{method: "POST", path: "/login", header: http.Header{"X-Forwarded-For": {from}},
				form: url.Values{"email": {"ada@example.com"}, "password": {"guess"}}})
		}
		if resp.Status == http.StatusTooManyRequests {
			t.Fatalf("throttled after %d failures", i)
		}
	}
	resp := e.do(request{method: "POST", path: "/login", header: http.Header{"X-Forwarded-For": {"203.0.113.50"}},
		form: url.Values{"email": {"ADA@example.com"}, "password": {"ada password 12345"}}})
	if resp.Status != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || !strings.Contains(resp.Body, "Too many failed sign-in attempts") {
		t.Fatalf("11th attempt with the right password: HTTP %d Retry-After %q", resp.Status, resp.Header.Get("Retry-After"))
	}
	// Another user at another address is not affected; after a while Ada may try again.
	if c := e.login(adminEmail, adminPassword); c == nil {
		t.Fatal("admin login failed")
	}
	e.Clock.Advance(time.Minute)
	e.login("ada@example.com", "ada password 12345")
}

// TestLoginSameAddressesAtBothDoors: the dashboard and the token endpoint's password grant take
// an address exactly as user creation stored it, in any letter case, and refuse the same
// variants; one door that trimmed spaces while the other did not would let an address sign in
// at one and not the other.
func TestLoginSameAddressesAtBothDoors(t *testing.T) {
	e := start(t)
	e.user("ada@example.com", "ada password 12345")
	for _, tt := range []struct {
		email string
		ok    bool
	}{
		{"ada@example.com", true},
		{"ADA@Example.COM", true},
		{" ada@example.com", false},
		{"ada@example.com ", false},
		{"ada@example.com\u00a0", false},
		{"ada@example.co", false},
	} {
		email := tt.email
		dash := e.do(request{method: "POST", path: "/login", form: url.Values{"email": {email}, "password": {"ada password 12345"}}})
		tok := e.do(request{method: "POST", path: "/oauth/token",
			form: url.Values{"grant_type": {"password"}, "username": {email}, "password": {"ada password 12345"}}})
		if got := dash.Status == http.StatusSeeOther; got != tt.ok {
			t.Errorf("dashboard login as %q: HTTP %d, want success %t", email, dash.Status, tt.ok)
		}
		if got := tok.Status == http.StatusOK; got != tt.ok {
			t.Errorf("password grant as %q: HTTP %d, want success %t", email, tok.Status, tt.ok)
		}
	}
}

func TestLoginRedirectStaysOnSite(t *testing.T) {
	e := start(t)
	for next, want := range map[string]string{
		"/projects/default/audit?before=5": "/projects/default/audit?before=5",
		"https://evil.example/":            "/projects",
		"//evil.example/":                  "/projects",
		"/\\evil.example":                  "/projects",
		"javascript:alert(1)":              "/projects",
		"/%2Fevil.example%20":              "/%2Fevil.example%20", // a path, not a host
		"/%2F evil.example":                "/projects",
		"":                                 "/projects",
	} {
		resp := e.do(request{method: "POST", path: "/login",
			form: url.Values{"email": {adminEmail}, "password": {adminPassword}, "next": {next}}})
		if got := resp.Header.Get("Location"); resp.Status != http.StatusSeeOther || got != want {
			t.Errorf("next=%q: HTTP %d to %q, want %q", next, resp.Status, got, want)
		}
	}
	// A page that needs a session sends the browser to the form, remembering the page.
	resp := e.do(request{method: "GET", path: "/projects/default/members"})
	if got := resp.Header.Get("Location"); got != "/login?next=%2Fprojects%2Fdefault%2Fmembers" {
		t.Errorf("redirect to %q", got)
	}
	resp = e.do(request{method: "GET", path: "/login?next=%2Fprojects%2Fdefault%2Fmembers"})
	if !strings.Contains(resp.Body, `value="/projects/default/members"`) {
		t.Error("the login form forgets where to go next")
	}
}

// TestNoStateChangeOnGET: every address that changes something answers GET with a page (or
// nothing), never with the change.
func TestNoStateChangeOnGET(t *testing.T) {
	e := start(t)
	c := e.login(adminEmail, adminPassword)
	e.user("ada@example.com", "ada password 12345", "api-keys-view")
	create := e.do(request{method: "POST", path: "/projects/default/api-keys", cookie: c, header: sameOrigin(e),
		form: url.Values{"name": {"ci"}, "permissions": {"containers-view"}}})
	if create.Status != http.StatusSeeOther {
		t.Fatalf("create: HTTP %d", create.Status)
	}
	keys, err := e.Store.APIKeys(t.Context(), e.project("default").ID)
	if err != nil {
		t.Fatal(err)
	}
	members, err := e.Store.Members(t.Context(), e.project("default").ID)
	if err != nil {
		t.Fatal(err)
	}
	var ada string
	for _, m := range members {
		if m.Email == "ada@example.com" {
			ada = m.UserID
		}
	}
	for _, path := range []string{
		"/projects/default/api-keys/" + keys[0].ID + "/delete",
		"/projects/default/members/" + ada + "/remove",
		"/projects/default/members/" + ada,
		"/projects/default/api-keys/new",
	} {
		resp := e.do(request{method: "GET", path: path, cookie: c})
		if resp.Status != http.StatusOK {
			t.Errorf("GET %s: HTTP %d", path, resp.Status)
		}
	}
	if got := e.keys("default"); !slices.Equal(got, []string{"ci"}) {
		t.Errorf("keys after the GETs: %v", got)
	}
	if after, _ := e.Store.Members(t.Context(), e.project("default").ID); len(after) != 2 {
		t.Errorf("%d members after the GETs", len(after))
	}
	// The confirmation page (for browsers without script) names the key and posts the deletion.
	resp := e.do(request{method: "GET", path: "/projects/default/api-keys/" + keys[0].ID + "/delete", cookie: c})
	if !strings.Contains(resp.Body, "Delete API key “ci”?") || !strings.Contains(resp.Body, `method="post"`) {
		t.Errorf("confirmation page:\n%s", resp.Body)
	}
	resp = e.do(request{method: "POST", path: "/projects/default/api-keys/" + keys[0].ID + "/delete", cookie: c, header: sameOrigin(e), form: url.Values{}})
	if resp.Status != http.StatusSeeOther || len(e.keys("default")) != 0 {
		t.Errorf("POST delete: HTTP %d, keys %v", resp.Status, e.keys("default"))
	}
}

// TestCreateFormKeepsInputOnErrors: a rejected form comes back with what was typed, the
// message next to the field it is about, and nothing created.
func TestCreateFormKeepsInputOnErrors(t *testing.T) {
	e := start(t)
	c := e.login(adminEmail, adminPassword)
	post := func(form url.Values) *response {
		return e.do(request{method: "POST", path: "/projects/default/api-keys", cookie: c, header: sameOrigin(e), form: form})
	}
	if resp := post(url.Values{"name": {"taken"}, "permissions": {"dns-view"}}); resp.Status != http.StatusSeeOther {
		t.Fatalf("create: HTTP %d", resp.Status)
	}
	tomorrow := e.Clock.Now().UTC().AddDate(0, 0, 1).Format(time.DateOnly)
	for _, tt := range []struct {
		name   string
		form   url.Values
		status int
		field  string // the id of the message's paragraph
		msg    string
	}{
		{"bad CIDR", url.Values{"name": {"web"}, "ips": {"10.0.0.1\n10.0.0.0/33"}, "permissions": {"dns-view", "images-view"}, "expires": {tomorrow}},
			400, "key-ips-error", `"10.0.0.0/33" is not an IP address or a CIDR network.`},
		{"host bits", url.Values{"name": {"web"}, "ips": {"10.0.0.1/8"}, "permissions": {"dns-view"}},
			400, "key-ips-error", "did you mean 10.0.0.0/8?"},
		{"duplicate name", url.Values{"name": {"taken"}, "ips": {"10.0.0.1"}, "permissions": {"dns-view"}},
			409, "key-name-error", `An API key named "taken" already exists in this project.`},
		{"empty name", url.Values{"name": {""}, "permissions": {"dns-view"}},
			400, "key-name-error", "The name must be 1 to 100 characters long."},
		{"no permission", url.Values{"name": {"web"}},
			400, "permissions-error", "Choose a role or at least one of the permissions."},
		{"unknown permission", url.Values{"name": {"web"}, "permissions": {"root"}},
			400, "permissions-error", `Unknown permission "root".`},
		{"expiry in the past", url.Values{"name": {"web"}, "permissions": {"dns-view"}, "expires": {"2001-01-01"}},
			400, "key-expires-error", "The expiry must be in the future."},
		{"expiry not a date", url.Values{"name": {"web"}, "permissions": {"dns-view"}, "expires": {"soon"}},
			400, "key-expires-error", "Enter a date such as 2031-01-31."},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp := post(tt.form)
			body := html.UnescapeString(resp.Body)
			if resp.Status != tt.status {
				t.Errorf("HTTP %d, want %d", resp.Status, tt.status)
			}
			if !strings.Contains(body, `id="`+tt.field+`">`) || !strings.Contains(body, tt.msg) {
				t.Errorf("no %q next to the field %s", tt.msg, tt.field)
			}
			if name := tt.form.Get("name"); !strings.Contains(body, `value="`+name+`"`) {
				t.Errorf("the name %q was not kept", name)
			}
			if ips := tt.form.Get("ips"); ips != "" && !strings.Contains(body, ips+"</textarea>") {
				t.Errorf("the IP restriction %q was not kept", ips)
			}
			for _, p := range tt.form["permissions"] {
				if p != "root" && !strings.Contains(body, `value="`+p+`" checked`) {
					t.Errorf("the permission %s is no longer checked", p)
				}
			}
			if exp := tt.form.Get("expires"); exp != "" && !strings.Contains(body, `value="`+exp+`"`) {
				t.Errorf("the expiry %q was not kept", exp)
			}
		})
	}
	if got := e.keys("default"); !slices.Equal(got, []string{"taken"}) {
		t.Errorf("keys after the rejected forms: %v", got)
	}
	// A form that made it through stores what it said.
	resp := post(url.Values{"name": {"web"}, "ips": {"10.0.0.1, 2001:db8::/32\n192.0.2.0/24"}, "permissions": {"images-view", "dns-view"}, "expires": {tomorrow}})
	if resp.Status != http.StatusSeeOther {
		t.Fatalf("valid form: HTTP %d", resp.Status)
	}
	keys, err := e.Store.APIKeys(t.Context(), e.project("default").ID)
	if err != nil {
		t.Fatal(err)
	}
	k := keys[slices.IndexFunc(keys, func(k *keyward.APIKey) bool { return k.Name == "web" })]
	if fmt.Sprint(k.IPs) != "[10.0.0.1/32 2001:db8::/32 192.0.2.0/24]" || fmt.Sprint(k.Permissions) != "[images-view dns-view]" ||
		k.ExpiresAt == nil || k.ExpiresAt.Format(time.DateOnly) != tomorrow || k.ExpiresAt.Hour() != 0 {
		t.Errorf("stored key %+v", k)
	}
}

// TestKeyFormOffersOnlyHeldPermissions: the form lists the member's own permissions, and a
// tampered form asking for more is refused.
func TestKeyFormOffersOnlyHeldPermissions(t *testing.T) {
	e := start(t)
	e.user("ada@example.com", "ada password 12345", "api-keys-view", "api-keys-manage", "containers-view")
	c := e.login("ada@example.com", "ada password 12345")
	resp := e.do(request{method: "GET", path: "/projects/default/api-keys/new", cookie: c})
	for _, held := range []string{"api-keys-view", "api-keys-manage", "containers-view"} {
		if !strings.Contains(resp.Body, `value="`+held+`"`) {
			t.Errorf("the form does not offer %s", held)
		}
	}
	if strings.Contains(resp.Body, `value="containers-manage"`) || !strings.Contains(resp.Body, "16 of the catalog are not") {
		t.Error("the form offers permissions Ada does not hold")
	}
	resp = e.do(request{method: "POST", path: "/projects/default/api-keys", cookie: c, header: sameOrigin(e),
		form: url.Values{"name": {"wide"}, "permissions": {"containers-view", "containers-manage"}}})
	if resp.Status != http.StatusForbidden || !strings.Contains(html.UnescapeString(resp.Body), `You cannot give an API key the "containers-manage" permission`) {
		t.Errorf("escalating key: HTTP %d", resp.Status)
	}
	if len(e.keys("default")) != 0 {
		t.Error("an escalating key was created")
	}
}

// TestProjectsAreIsolated: a project someone is not a member of looks exactly like one that does
// not exist, on every tab and every form.
func TestProjectsAreIsolated(t *testing.T) {
	e := start(t)
	e.user("ada@example.com", "ada password 12345") // in no project
	c := e.login("ada@example.com", "ada password 12345")
	for _, path := range []string{"/projects/default", "/projects/default/api-keys", "/projects/default/members", "/projects/default/audit", "/projects/default/api-keys/new"} {
		hidden := e.do(request{method: "GET", path: path, cookie: c})
		missing := e.do(request{method: "GET", path: strings.Replace(path, "default", "nonexistent", 1), cookie: c})
		if hidden.Status != http.StatusNotFound || missing.Status != http.StatusNotFound ||
			strings.Replace(hidden.Body, "default", "nonexistent", -1) != missing.Body {
			t.Errorf("%s: HTTP %d vs %d for a missing project", path, hidden.Status, missing.Status)
		}
	}
	resp := e.do(request{method: "POST", path: "/projects/default/api-keys", cookie: c, header: sameOrigin(e),
		form: url.Values{"name": {"x"}, "permissions": {"dns-view"}}})
	if resp.Status != http.StatusNotFound || len(e.keys("default")) != 0 {
		t.Errorf("posting into another tenant's project: HTTP %d", resp.Status)
	}
	resp = e.do(request{method: "GET", path: "/projects", cookie: c})
	if strings.Contains(resp.Body, `href="/projects/default"`) || !strings.Contains(resp.Body, "You are not in any project yet") {
		t.Error("the project list shows a project Ada is not in")
	}
}

func TestMembersTab(t *testing.T) {
	e := start(t)
	e.user("ada@example.com", "ada password 12345")
	e.user("mia@example.com", "mia password 12345", "members-view", "members-manage", "containers-view")
	owner := e.login(adminEmail, adminPassword)
	post := func(c *http.Cookie, path string, form url.Values) *response {
		return e.do(request{method: "POST", path: path, cookie: c, header: sameOrigin(e), form: form})
	}
	// Add an existing user by email; an unknown address and an existing member are refused in place.
	if resp := post(owner, "/projects/default/members", url.Values{"email": {"nobody@example.com"}, "permissions": {"dns-view"}}); resp.Status != http.StatusNotFound ||
		!strings.Contains(html.UnescapeString(resp.Body), `User "nobody@example.com" was not found.`) || !strings.Contains(resp.Body, `value="dns-view" checked`) {
		t.Errorf("adding an unknown user: HTTP %d", resp.Status)
	}
	if resp := post(owner, "/projects/default/members", url.Values{"email": {"Ada@Example.com"}, "permissions": {"dns-view", "images-view"}}); resp.Status != http.StatusSeeOther {
		t.Fatalf("adding Ada: HTTP %d", resp.Status)
	}
	if resp := post(owner, "/projects/default/members", url.Values{"email": {"ada@example.com"}, "permissions": {"billing-view"}}); resp.Status != http.StatusConflict ||
		!strings.Contains(resp.Body, "already a member") {
		t.Errorf("adding Ada twice: HTTP %d", resp.Status)
	}
	ada, err := e.Store.UserByEmail(t.Context(), "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	list := e.do(request{method: "GET", path: "/projects/default/members", cookie: owner})
	if !strings.Contains(list.Body, "ada@example.com") || !strings.Contains(list.Body, "All 19 permissions") {
		t.Errorf("members list:\n%s", list.Body)
	}

	// Mia manages members but holds little: she can grant only what she holds, and cannot touch
	// the owner, who holds more.
	mia := e.login("mia@example.com", "mia password 12345")
	if resp := post(mia, "/projects/default/members/"+ada.ID, url.Values{"permissions": {"billing-view"}}); resp.Status != http.StatusForbidden {
		t.Errorf("Mia changing Ada, who holds more than her: HTTP %d", resp.Status)
	}
	if resp := post(owner, "/projects/default/members/"+ada.ID, url.Values{"permissions": {"containers-view"}}); resp.Status != http.StatusSeeOther {
		t.Fatalf("owner narrowing Ada: HTTP %d", resp.Status)
	}
	if resp := post(mia, "/projects/default/members/"+ada.ID, url.Values{"permissions": {"containers-view", "billing-view"}}); resp.Status != http.StatusForbidden ||
		!strings.Contains(html.UnescapeString(resp.Body), `You cannot give a member the "billing-view" permission`) {
		t.Errorf("Mia escalating Ada: HTTP %d", resp.Status)
	}
	page := e.do(request{method: "GET", path: "/projects/default/members", cookie: mia})
	if !strings.Contains(page.Body, "Holds permissions you do not") || strings.Count(page.Body, ">Remove</button>") != 2 {
		t.Errorf("Mia's members page offers the wrong buttons:\n%s", page.Body)
	}
	admin, err := e.Store.UserByEmail(t.Context(), adminEmail)
	if err != nil {
		t.Fatal(err)
	}
	if resp := post(mia, "/projects/default/members/"+admin.ID+"/remove", url.Values{}); resp.Status != http.StatusForbidden {
		t.Errorf("Mia removing the owner: HTTP %d", resp.Status)
	}
	if resp := post(mia, "/projects/default/members/"+ada.ID+"/remove", url.Values{}); resp.Status != http.StatusSeeOther {
		t.Errorf("Mia removing Ada: HTTP %d", resp.Status)
	}
	members, err := e.Store.Members(t.Context(), e.project("default").ID)
	if err != nil {
		t.Fatal(err)
	}
	var emails []string
	for _, m := range members {
		emails = append(emails, m.Email)
	}
	if !slices.Equal(emails, []string{adminEmail, "mia@example.com"}) {
		t.Errorf("members at the end: %v", emails)
	}
	audit := e.do(request{method: "GET", path: "/projects/default/audit", cookie: owner})
	for _, s := range []string{"Set member permissions", "Removed member", "mia@example.com"} {
		if !strings.Contains(audit.Body, s) {
			t.Errorf("the audit log does not mention %q", s)
		}
	}
}

// link returns the first link of body that begins with prefix, unescaped.
func link(t *testing.T, body, prefix string) string {
	t.Helper()
	i := strings.Index(body, prefix)
	if i < 0 {
		t.Fatalf("no link to %s in\n%s", prefix, body)
	}
	return html.UnescapeString(body[i : i+strings.IndexByte(body[i:], '"')])
}

func TestAuditPages(t *testing.T) {
	e := start(t)
	p := e.project("default")
	for i := range 30 {
		ev := &keyward.AuditEvent{ProjectID: p.ID, At: e.Clock.Now(), Actor: "key:abc", Action: keyward.AuditExchangeFailed,
			Target: "key:abc", IP: fmt.Sprintf("192.0.2.%d", i), Detail: "wrong key"}
		if err := e.Store.AppendAudit(t.Context(), ev); err != nil {
			t.Fatal(err)
		}
	}
	c := e.login(adminEmail, adminPassword)
	first := e.do(request{method: "GET", path: "/projects/default/audit", cookie: c})
	if !strings.Contains(first.Body, "192.0.2.29") || strings.Contains(first.Body, "192.0.2.4<") || !strings.Contains(first.Body, "Older events") {
		t.Fatalf("first page:\n%s", first.Body)
	}
	next := link(t, first.Body, "/projects/default/audit?cursor=")
	second := e.do(request{method: "GET", path: next, cookie: c})
	if !strings.Contains(second.Body, "192.0.2.4<") || strings.Contains(second.Body, "192.0.2.29") || !strings.Contains(second.Body, "Newest") {
		t.Fatalf("second page %s:\n%s", next, second.Body)
	}
	// A link of an earlier release, which named the event to start below, still leads there.
	events, err := e.Store.AuditEvents(t.Context(), p.ID, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range events {
		if ev.IP == "192.0.2.10" {
			old := e.do(request{method: "GET", path: fmt.Sprintf("/projects/default/audit?before=%d", ev.ID), cookie: c})
			if old.Status != http.StatusOK || !strings.Contains(old.Body, "192.0.2.9<") || strings.Contains(old.Body, "192.0.2.10<") {
				t.Errorf("a link of an earlier release: HTTP %d\n%s", old.Status, old.Body)
			}
		}
	}

	// A search keeps its text in the box and in the paging links, and a page of it holds only
	// the events it names.
	for i := range 30 {
		ev := &keyward.AuditEvent{ProjectID: p.ID, At: e.Clock.Now(), Actor: "key:def", Action: keyward.AuditExchangeFailed,
			Target: "key:def", IP: fmt.Sprintf("198.51.100.%d", i), Detail: "wrong key"}
		if err := e.Store.AppendAudit(t.Context(), ev); err != nil {
			t.Fatal(err)
		}
	}
	found := e.do(request{method: "GET", path: "/projects/default/audit?q=key%3Aabc", cookie: c})
	if !strings.Contains(found.Body, `value="key:abc"`) || !strings.Contains(found.Body, "192.0.2.29") || strings.Contains(found.Body, "198.51.100.") {
		t.Fatalf("search key:abc:\n%s", found.Body)
	}
	older := link(t, found.Body, "/projects/default/audit?cursor=")
	if !strings.Contains(older, "q=key%3Aabc") {
		t.Fatalf("the next page's link %q drops the search", older)
	}
	rest := e.do(request{method: "GET", path: older, cookie: c})
	if !strings.Contains(rest.Body, "192.0.2.4<") || strings.Contains(rest.Body, "198.51.100.") || !strings.Contains(rest.Body, `value="key:abc"`) ||
		!strings.Contains(rest.Body, `href="/projects/default/audit?q=key%3Aabc"`) {
		t.Fatalf("second page of the search %s:\n%s", older, rest.Body)
	}
	// The search's cursor is refused with another search.
	other := strings.Replace(older, "q=key%3Aabc", "q=key%3Adef", 1)
	if resp := e.do(request{method: "GET", path: other, cookie: c}); resp.Status != http.StatusBadRequest || !strings.Contains(resp.Body, "another search") {
		t.Errorf("a cursor with another search: HTTP %d", resp.Status)
	}
	if resp := e.do(request{method: "GET", path: "/projects/default/audit?q=nothing", cookie: c}); resp.Status != http.StatusOK || !strings.Contains(resp.Body, "No event has") {
		t.Errorf("a search that finds nothing: HTTP %d %s", resp.Status, resp.Body)
	}
	for _, bad := range []string{"?before=x", "?before=-1", "?before=0", "?cursor=x", "?q=%00", "?q=" + strings.Repeat("x", 201)} {
		if resp := e.do(request{method: "GET", path: "/projects/default/audit" + bad, cookie: c}); resp.Status != http.StatusBadRequest {
			t.Errorf("before %s: HTTP %d", bad, resp.Status)
		}
	}
	// Without audit-view the tab says so, and shows nothing.
	e.user("ada@example.com", "ada password 12345", "api-keys-view")
	ada := e.login("ada@example.com", "ada password 12345")
	if resp := e.do(request{method: "GET", path: "/projects/default/audit", cookie: ada}); resp.Status != http.StatusForbidden ||
		strings.Contains(resp.Body, "192.0.2") || !strings.Contains(resp.Body, "audit-view") {
		t.Errorf("audit without audit-view: HTTP %d", resp.Status)
	}
}

func TestProjectsPage(t *testing.T) {
	e := start(t)
	c := e.login(adminEmail, adminPassword)
	post := func(name string) *response {
		return e.do(request{method: "POST", path: "/projects", cookie: c, header: sameOrigin(e), form: url.Values{"name": {name}}})
	}
	if resp := post("web-shop"); resp.Status != http.StatusSeeOther || resp.Header.Get("Location") != "/projects/web-shop/api-keys" {
		t.Fatalf("new project: HTTP %d to %q", resp.Status, resp.Header.Get("Location"))
	}
	for name, status := range map[string]int{"web-shop": http.StatusConflict, "Web Shop": http.StatusBadRequest, "": http.StatusBadRequest} {
		resp := post(name)
		if resp.Status != status || !strings.Contains(resp.Body, `id="project-name-error"`) || !strings.Contains(resp.Body, `value="`+name+`"`) {
			t.Errorf("project %q: HTTP %d, want %d with the message in place", name, resp.Status, status)
		}
	}
	list := e.do(request{method: "GET", path: "/projects", cookie: c})
	if !strings.Contains(list.Body, `href="/projects/default"`) || !strings.Contains(list.Body, `href="/projects/web-shop"`) {
		t.Errorf("project list:\n%s", list.Body)
	}
	perms := e.do(request{method: "GET", path: "/permissions", cookie: c})
	for _, p := range keyward.DefaultCatalog().All() {
		if !strings.Contains(perms.Body, "<code>"+p.Name+"</code>") || !strings.Contains(html.UnescapeString(perms.Body), p.Description) {
			t.Errorf("the permissions page lacks %s", p.Name)
		}
	}
}

func TestFormsAreParsedStrictly(t *testing.T) {
	e := start(t)
	c := e.login(adminEmail, adminPassword)
	// JSON is not a form.
	resp := e.do(request{method: "POST", path: "/projects", cookie: c, header: http.Header{"Content-Type": {"application/json"}}})
	if resp.Status != http.StatusBadRequest {
		t.Errorf("JSON body: HTTP %d", resp.Status)
	}
	// A field sent twice counts as missing, so two readers of one form cannot disagree.
	resp = e.do(request{method: "POST", path: "/projects", cookie: c, header: sameOrigin(e), form: url.Values{"name": {"one", "two"}}})
	if resp.Status != http.StatusBadRequest {
		t.Errorf("duplicated field: HTTP %d", resp.Status)
	}
	resp = e.do(request{method: "POST", path: "/projects", cookie: c, header: sameOrigin(e), form: url.Values{"name": {strings.Repeat("a", 70<<10)}}})
	if resp.Status != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized form: HTTP %d", resp.Status)
	}
	resp = e.do(request{method: "POST", path: "/projects", cookie: c, header: sameOrigin(e), form: url.Values{"name": {"caf\xe9"}}})
	if resp.Status != http.StatusBadRequest {
		t.Errorf("invalid UTF-8: HTTP %d", resp.Status)
	}
}

func TestStaticFilesAndUnknownPages(t *testing.T) {
	e := start(t)
	page := e.do(request{method: "GET", path: "/login"})
	i := strings.Index(page.Body, "/static/app.css?v=")
	if i < 0 {
		t.Fatal("the page links no style sheet")
	}
	css := e.do(request{method: "GET", path: page.Body[i : i+strings.IndexByte(page.Body[i:], '"')]})
	if css.Status != http.StatusOK || !strings.HasPrefix(css.Header.Get("Content-Type"), "text/css") || !strings.Contains(css.Header.Get("Cache-Control"), "max-age") {
		t.Errorf("style sheet: HTTP %d %v", css.Status, css.Header)
	}
	for _, path := range []string{"/static/", "/static/missing.js", "/static/../dashboard.go", "/nope", "/projects/default/nope"} {
		resp := e.do(request{method: "GET", path: path})
		if resp.Status == http.StatusOK {
			t.Errorf("GET %s: HTTP %d", path, resp.Status)
		}
		if resp.Status == http.StatusNotFound && resp.Header.Get("Content-Security-Policy") != wantCSP {
			t.Errorf("GET %s: no CSP on the 404", path)
		}
	}
	// The API and the OAuth endpoints keep their own answers under the dashboard at "/".
	if resp := e.do(request{method: "GET", path: "/v1/nope"}); !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
		t.Errorf("/v1/nope answered %s", resp.Header.Get("Content-Type"))
	}
	if resp := e.do(request{method: "GET", path: "/healthz"}); resp.Status != http.StatusOK {
		t.Errorf("/healthz: HTTP %d", resp.Status)
	}
}

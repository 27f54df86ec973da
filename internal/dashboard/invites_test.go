package dashboard_test

import (
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// cookies is a request header carrying each cookie, and the same-origin headers of a form post.
func cookies(e *env, cs ...*http.Cookie) http.Header {
	h := sameOrigin(e)
	var parts []string
	for _, c := range cs {
		if c != nil {
			parts = append(parts, c.Name+"="+c.Value)
		}
	}
	h.Set("Cookie", strings.Join(parts, "; "))
	return h
}

// inviteCookie follows an invitation's link and returns the cookie it leaves.
func inviteCookie(t *testing.T, e *env, link string) *http.Cookie {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	resp := e.do(request{method: "GET", path: u.Path})
	if resp.Status != http.StatusSeeOther || resp.Header.Get("Location") != "/invite" || resp.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Fatalf("the link: HTTP %d to %q, Referrer-Policy %q", resp.Status, resp.Header.Get("Location"), resp.Header.Get("Referrer-Policy"))
	}
	for _, c := range (&http.Response{Header: resp.Header}).Cookies() {
		if c.Name == "keyward_invite" {
			if !c.HttpOnly || c.MaxAge <= 0 || c.MaxAge > 3600 || c.SameSite != http.SameSiteLaxMode {
				t.Errorf("the invitation cookie: %+v", c)
			}
			return c
		}
	}
	t.Fatalf("the link set no invitation cookie: %v", resp.Header)
	return nil
}

// invite makes an invitation through the members page's form as c and returns the page that
// follows, with the link shown once.
func invite(t *testing.T, e *env, c *http.Cookie, email, role string) (page, link string) {
	t.Helper()
	resp := e.post(c, "/projects/default/invites", url.Values{"email": {email}, "role": {role}})
	if resp.Status != http.StatusSeeOther || resp.Header.Get("Location") != "/projects/default/members?invited" {
		t.Fatalf("inviting %s: HTTP %d %s\n%s", email, resp.Status, resp.Header.Get("Location"), resp.Body)
	}
	page = e.do(request{method: "GET", path: "/projects/default/members?invited", cookie: c}).Body
	return page, inviteLink.FindString(html.UnescapeString(page))
}

// TestInviteAnswersAlike: a members-manage holder who is not an instance administrator invites
// with the same answer for an address with an account, one without and a member; the form to add
// someone directly is an administrator's alone.
func TestInviteAnswersAlike(t *testing.T) {
	e := start(t)
	e.user("ada@example.com", "ada password 12345")
	viewer := e.role("viewer")
	e.user("mia@example.com", "mia password 12345", append(viewer.Permissions, "members-manage")...)
	c := e.login("mia@example.com", "mia password 12345")
	pages := map[string]string{}
	for _, email := range []string{"ada@example.com", "nobody@example.com", adminEmail} {
		page, link := invite(t, e, c, email, viewer.ID)
		if link == "" || !strings.Contains(page, "Give "+email+" the link below; it is shown only once.") {
			t.Fatalf("inviting %s shows no link:\n%s", email, page)
		}
		// The lists name the addresses; compare the notice and the link's field.
		page = html.UnescapeString(page)
		notice := page[strings.Index(page, "Invitation made."):]
		notice = notice[:strings.Index(notice, "</div>")]
		field := page[strings.Index(page, `<label for="invite-link">`):]
		field = field[:strings.Index(field, "</p>")]
		pages[strings.NewReplacer(email, "EMAIL", link, "LINK").Replace(notice+field)] = email
		again := e.do(request{method: "GET", path: "/projects/default/members?invited", cookie: c}).Body
		if strings.Contains(again, link) {
			t.Error("the link is shown a second time")
		}
	}
	if len(pages) != 1 {
		t.Errorf("the answers differ by address: %v", pages)
	}
	members := e.do(request{method: "GET", path: "/projects/default/members", cookie: c}).Body
	if strings.Contains(members, "Add a member") || !strings.Contains(members, "Invite someone") {
		t.Error("Mia, no administrator, is offered the form that adds directly, or not the invitation")
	}
	if resp := e.post(c, "/projects/default/members", url.Values{"email": {"ada@example.com"}, "role": {viewer.ID}}); resp.Status != http.StatusNotFound {
		t.Errorf("Mia adding Ada directly: HTTP %d", resp.Status)
	}
	if owner := e.login(adminEmail, adminPassword); !strings.Contains(e.do(request{method: "GET", path: "/projects/default/members", cookie: owner}).Body, "Add a member") {
		t.Error("the administrator lost the form that adds directly")
	}
	// A role holding more than Mia is refused next to the field; so is a bad address.
	resp := e.post(c, "/projects/default/invites", url.Values{"email": {"cy@example.com"}, "role": {e.role("developer").ID}})
	if resp.Status != http.StatusForbidden || !strings.Contains(resp.Body, `id="invite-role-error"`) || !strings.Contains(resp.Body, `value="cy@example.com"`) {
		t.Errorf("inviting with a role above Mia's: HTTP %d", resp.Status)
	}
	resp = e.post(c, "/projects/default/invites", url.Values{"email": {"cy@example.com\r\nBcc: eve@example.com"}, "role": {viewer.ID}})
	if resp.Status != http.StatusBadRequest || !strings.Contains(resp.Body, `id="invite-email-error"`) {
		t.Errorf("inviting a header injection: HTTP %d", resp.Status)
	}
}

// TestAcceptInvite: an address with an account accepts after signing in as it, and nobody else
// can; an address without one chooses a password that meets the rules; a spent, revoked or made-up
// link gets the same page.
func TestAcceptInvite(t *testing.T) {
	e := start(t)
	e.user("ada@example.com", "ada password 12345")
	e.user("eve@example.com", "eve password 12345")
	owner := e.login(adminEmail, adminPassword)
	viewer := e.role("viewer")

	_, link := invite(t, e, owner, "ada@example.com", viewer.ID)
	ic := inviteCookie(t, e, link)
	page := e.do(request{method: "GET", path: "/invite", cookie: ic})
	if page.Status != http.StatusOK || !strings.Contains(page.Body, "has a keyward account: sign in, then accept.") || strings.Contains(page.Body, "Choose a password") {
		t.Fatalf("the page for an address with an account: HTTP %d\n%s", page.Status, page.Body)
	}
	// Without a session, a password does not create a second account of the address.
	if resp := e.do(request{method: "POST", path: "/invite", header: cookies(e, ic), form: url.Values{"password": {"another long one"}, "confirm": {"another long one"}}}); resp.Status != http.StatusConflict {
		t.Errorf("a new account for a taken address: HTTP %d", resp.Status)
	}
	eve := e.login("eve@example.com", "eve password 12345")
	page = e.do(request{method: "GET", path: "/invite", header: cookies(e, ic, eve)})
	if !strings.Contains(page.Body, "you are signed in as eve@example.com") {
		t.Errorf("Eve's page:\n%s", page.Body)
	}
	if resp := e.do(request{method: "POST", path: "/invite", header: cookies(e, ic, eve), form: url.Values{}}); resp.Status != http.StatusForbidden {
		t.Errorf("Eve accepting Ada's invitation: HTTP %d", resp.Status)
	}
	ada := e.login("ada@example.com", "ada password 12345")
	resp := e.do(request{method: "POST", path: "/invite", header: cookies(e, ic, ada), form: url.Values{}})
	if resp.Status != http.StatusSeeOther || resp.Header.Get("Location") != "/projects/default?joined" {
		t.Fatalf("Ada accepting: HTTP %d %s\n%s", resp.Status, resp.Header.Get("Location"), resp.Body)
	}
	if m := e.member("ada@example.com"); m.RoleID != viewer.ID {
		t.Errorf("Ada's role: %q", m.RoleID)
	}
	for _, path := range []string{"/invite"} {
		if resp := e.do(request{method: "GET", path: path, cookie: ic}); resp.Status != http.StatusNotFound || !strings.Contains(resp.Body, "This invitation is not valid any more.") {
			t.Errorf("a spent link: HTTP %d", resp.Status)
		}
	}

	// A new account: the password rules apply, the two entries must match, then it signs in.
	_, link = invite(t, e, owner, "bea@example.com", viewer.ID)
	ic = inviteCookie(t, e, link)
	for _, tt := range []struct{ pw, confirm, field string }{
		{"short", "short", "new-password-error"},
		{"a long passphrase", "a long passphrasE", "confirm-password-error"},
	} {
		resp := e.do(request{method: "POST", path: "/invite", header: cookies(e, ic), form: url.Values{"password": {tt.pw}, "confirm": {tt.confirm}}})
		if resp.Status != http.StatusBadRequest || !strings.Contains(resp.Body, `id="`+tt.field+`"`) {
			t.Errorf("password %q/%q: HTTP %d", tt.pw, tt.confirm, resp.Status)
		}
	}
	resp = e.do(request{method: "POST", path: "/invite", header: cookies(e, ic), form: url.Values{"password": {"a long passphrase"}, "confirm": {"a long passphrase"}}})
	if resp.Status != http.StatusSeeOther || !strings.Contains(strings.Join(resp.Header.Values("Set-Cookie"), "\n"), "keyward_session=") {
		t.Fatalf("Bea accepting: HTTP %d %v", resp.Status, resp.Header)
	}
	e.login("bea@example.com", "a long passphrase")

	// Revoked, or made up: the same page.
	_, link = invite(t, e, owner, "cy@example.com", viewer.ID)
	ic = inviteCookie(t, e, link)
	list := e.do(request{method: "GET", path: "/projects/default/members", cookie: owner}).Body
	i := strings.Index(list, `/invites/inv_`)
	id := list[i+len("/invites/") : i+len("/invites/")+20]
	if resp := e.post(owner, "/projects/default/invites/"+id+"/revoke", url.Values{}); resp.Status != http.StatusSeeOther {
		t.Fatalf("revoking: HTTP %d", resp.Status)
	}
	madeUp := inviteCookie(t, e, e.URL+"/invite/"+strings.Repeat("A", 43))
	for _, rq := range []request{
		{method: "GET", path: "/invite", cookie: ic},
		{method: "GET", path: "/invite", cookie: madeUp},
		{method: "POST", path: "/invite", header: cookies(e, madeUp), form: url.Values{"password": {"a long passphrase"}, "confirm": {"a long passphrase"}}},
		{method: "GET", path: "/invite/%3Cscript%3E"},
		{method: "GET", path: "/invite"},
	} {
		resp := e.do(rq)
		if resp.Status != http.StatusNotFound || !strings.Contains(resp.Body, "This invitation is not valid any more.") {
			t.Errorf("%s %s: HTTP %d", rq.method, rq.path, resp.Status)
		}
	}
}

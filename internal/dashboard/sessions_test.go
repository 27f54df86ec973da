package dashboard_test

import (
	"encoding/hex"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/kwtest"
)

// TestOwnSessionsPage: a person sees their dashboard sign-ins (this browser marked) and their
// token sessions, never another person's, and ends each: an ended login is signed out, an ended
// token session neither refreshes nor authenticates, through the revocation feed.
func TestOwnSessionsPage(t *testing.T) {
	e := start(t)
	ada := e.user("ada@example.com", "ada password 12345", "api-keys-view")
	e.user("bob@example.com", "bob password 12345", "api-keys-view")
	here := e.login("ada@example.com", "ada password 12345")
	there := e.login("ada@example.com", "ada password 12345")
	tok := e.Login(t, "ada@example.com", "ada password 12345", "default")
	bobs := e.Login(t, "bob@example.com", "bob password 12345", "")
	bobSession := claims(t, bobs.AccessToken)["sid"].(string)

	page := e.do(request{method: "GET", path: "/sessions", cookie: here})
	if page.Status != http.StatusOK {
		t.Fatalf("GET /sessions: HTTP %d", page.Status)
	}
	mine := claims(t, tok.AccessToken)["sid"].(string)
	if !strings.Contains(page.Body, mine) || strings.Contains(page.Body, bobSession) {
		t.Fatalf("the page lists %s: %t, Bob's %s: %t", mine, strings.Contains(page.Body, mine),
			bobSession, strings.Contains(page.Body, bobSession))
	}
	if n := strings.Count(page.Body, `name="kind" value="web"`); n != 2 || strings.Count(page.Body, "(this browser)") != 1 {
		t.Fatalf("want 2 dashboard sign-ins, one of them this browser: %d", n)
	}
	logins, err := e.Store.UserWebSessions(t.Context(), ada.ID, e.Clock.Now(), 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, ws := range logins {
		if strings.Contains(page.Body, hex.EncodeToString(ws.Hash)) {
			t.Fatal("the page shows a login's stored hash")
		}
	}

	// End the other browser's login: find its id, the one not marked as this browser.
	rows := regexp.MustCompile(`(?s)<tr( aria-current="true")?>.*?name="kind" value="web"><input type="hidden" name="id" value="([0-9a-f]+)"`).FindAllStringSubmatch(page.Body, -1)
	var other string
	for _, m := range rows {
		if m[1] == "" {
			other = m[2]
		}
	}
	if other == "" {
		t.Fatalf("no other login on the page: %v", rows)
	}
	end := func(kind, id string, c *http.Cookie, header http.Header) *response {
		return e.do(request{method: "POST", path: "/sessions/end", cookie: c, header: header, form: url.Values{"kind": {kind}, "id": {id}}})
	}
	if r := end("web", other, here, http.Header{"Sec-Fetch-Site": {"cross-site"}}); r.Status != http.StatusForbidden {
		t.Fatalf("a cross-site POST: HTTP %d, want 403", r.Status)
	}
	if !signedIn(e, there) {
		t.Fatal("a cross-site POST ended a login")
	}
	if r := end("web", other, here, nil); r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/sessions?ended" {
		t.Fatalf("ending the other login: HTTP %d %s", r.Status, r.Header.Get("Location"))
	}
	if signedIn(e, there) || !signedIn(e, here) {
		t.Fatal("ending the other login did not sign that browser out, or signed this one out")
	}

	// Bob's session is not Ada's to end, and neither is a made-up one.
	for _, id := range []string{bobSession, "ses_unknown", ""} {
		if r := end("token", id, here, nil); r.Status != http.StatusNotFound {
			t.Fatalf("ending session %q: HTTP %d, want 404", id, r.Status)
		}
	}
	kwtest.RequireToken(t, e.Refresh(t, bobs.RefreshToken))

	if r := end("token", mine, here, nil); r.Status != http.StatusSeeOther {
		t.Fatalf("ending the token session: HTTP %d %s", r.Status, r.Body)
	}
	kwtest.RequireOAuthError(t, e.Refresh(t, tok.RefreshToken), http.StatusBadRequest, "invalid_grant")
	kwtest.RequireProblem(t, e.API(t, http.MethodGet, "/v1/me", tok.AccessToken, nil), http.StatusUnauthorized)
	if r := e.do(request{method: "GET", path: "/sessions?ended", cookie: here}); strings.Contains(r.Body, mine) || !strings.Contains(r.Body, "The session was ended") {
		t.Fatal("the ended token session is still listed, or the page does not say it ended")
	}
	feed, err := e.Store.Revocations(t.Context(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	inFeed := false
	for _, rv := range feed {
		inFeed = inFeed || rv.ID == mine
	}
	if !inFeed {
		t.Error("the ended token session is not in the revocation feed")
	}
	events, err := e.Store.AuditEvents(t.Context(), "", 0, 5)
	if err != nil || events[0].Action != keyward.AuditSessionRevoked || events[0].Target != "session:"+mine || events[0].Actor != "user:"+ada.ID {
		t.Fatalf("newest instance event: %+v, %v", events[0], err)
	}

	// Ending this browser's own login signs it out.
	page = e.do(request{method: "GET", path: "/sessions", cookie: here})
	current := regexp.MustCompile(`name="kind" value="web"><input type="hidden" name="id" value="([0-9a-f]+)"`).FindStringSubmatch(page.Body)
	if r := end("web", current[1], here, nil); r.Status != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/login") {
		t.Fatalf("ending this login: HTTP %d %s", r.Status, r.Header.Get("Location"))
	}
	if signedIn(e, here) {
		t.Fatal("this browser is still signed in")
	}
}

// TestInstanceAuditPage: the admin's Audit page shows failed sign-ins and filters them by
// action; to anyone else it does not exist.
func TestInstanceAuditPage(t *testing.T) {
	e := start(t)
	e.user("ada@example.com", "ada password 12345", "api-keys-view")
	ada := e.login("ada@example.com", "ada password 12345")
	e.do(request{method: "POST", path: "/login", header: http.Header{"X-Forwarded-For": {"198.51.100.44"}},
		form: url.Values{"email": {"mallory-typed@example.com"}, "password": {"guess"}}})
	admin := e.login(adminEmail, adminPassword)

	all := e.do(request{method: "GET", path: "/audit", cookie: admin})
	if all.Status != http.StatusOK || !strings.Contains(all.Body, "Failed sign-in") || !strings.Contains(all.Body, "198.51.100.44") || !strings.Contains(all.Body, "Signed in") {
		t.Fatalf("GET /audit: HTTP %d", all.Status)
	}
	failed := e.do(request{method: "GET", path: "/audit?action=login.failed", cookie: admin})
	if !strings.Contains(failed.Body, "mallory-typed@example.com") || strings.Contains(failed.Body, "<td data-label=\"What\">Signed in") {
		t.Fatal("the failed sign-ins filter shows other events or misses the failure")
	}
	if r := e.do(request{method: "GET", path: "/audit", cookie: ada}); r.Status != http.StatusNotFound {
		t.Fatalf("a member's GET /audit: HTTP %d, want 404", r.Status)
	}
	if strings.Contains(e.do(request{method: "GET", path: "/projects", cookie: ada}).Body, `href="/audit"`) {
		t.Error("a member's menu links to the instance audit")
	}
}

package dashboard_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/kwtest"
)

var sessionCount = regexp.MustCompile(`<span class="session-count">(\d+)</span>`)

// keyPageSessions reads the number of live sessions a key's page shows.
func (e *env) keyPageSessions(c *http.Cookie, id string) string {
	e.t.Helper()
	page := e.do(request{method: "GET", path: "/projects/default/api-keys/" + id, cookie: c})
	m := sessionCount.FindStringSubmatch(page.Body)
	if page.Status != http.StatusOK || m == nil {
		e.t.Fatalf("key page: HTTP %d without a session count:\n%s", page.Status, page.Body)
	}
	return m[1]
}

// TestKeyPageRoll: the key page counts the key's live sessions; its Roll form gives the key a new
// secret, shown once as at creation, with the end of the previous secret's grace; the new secret
// exchanges, the old one too until the grace ends, when its sessions stop counting. Rolling without a grace ends the sessions,
// which the count shows, and so does deleting the key.
func TestKeyPageRoll(t *testing.T) {
	e := start(t)
	c := e.login(adminEmail, adminPassword)
	admin := e.Login(t, adminEmail, adminPassword, "")
	k := e.CreateKey(t, admin.AccessToken, "default", kwtest.KeyRequest{Name: "ci", Permissions: []string{"containers-view"}})
	path := "/projects/default/api-keys/" + k.ID

	page := e.do(request{method: "GET", path: path, cookie: c}).Body
	for _, want := range []string{`<form class="roll-form" method="post" action="` + path + `/roll">`, `<option value="1h" selected>`,
		`<option value="0s">`, `<option value="24h">`} {
		if !strings.Contains(page, want) {
			t.Errorf("the key page lacks %q:\n%s", want, page)
		}
	}
	if n := e.keyPageSessions(c, k.ID); n != "0" {
		t.Fatalf("a key never exchanged shows %s live sessions", n)
	}
	if got := e.exchange(k.Secret, ""); got.Status != http.StatusOK {
		t.Fatalf("exchange: %+v", got)
	}
	if n := e.keyPageSessions(c, k.ID); n != "1" {
		t.Fatalf("after one exchange the page shows %s live sessions", n)
	}

	roll := func(c *http.Cookie, grace string, h http.Header) *response {
		return e.do(request{method: "POST", path: path + "/roll", cookie: c, header: h, form: url.Values{"grace": {grace}}})
	}
	resp := roll(c, "1h", sameOrigin(e))
	if resp.Status != http.StatusSeeOther || resp.Header.Get("Location") != "/projects/default/api-keys/created" || strings.Contains(resp.Body, "kw_") {
		t.Fatalf("roll: HTTP %d to %q:\n%s", resp.Status, resp.Header.Get("Location"), resp.Body)
	}
	shown := e.do(request{method: "GET", path: "/projects/default/api-keys/created", cookie: c})
	m := newKeyValue.FindStringSubmatch(shown.Body)
	if shown.Status != http.StatusOK || m == nil {
		t.Fatalf("rolled page: HTTP %d without the key:\n%s", shown.Status, shown.Body)
	}
	secret := m[1]
	graceEnd := e.Clock.Now().Add(time.Hour).UTC().Format("2 Jan 2006, 15:04 UTC")
	body := html.UnescapeString(shown.Body)
	if secret == k.Secret || strings.Count(shown.Body, secret) != 1 || !strings.Contains(body, `API key “ci” rolled`) ||
		!strings.Contains(body, "The previous secret keeps working until") || !strings.Contains(body, graceEnd) {
		t.Errorf("the rolled page does not show the new secret once with the grace's end %s:\n%s", graceEnd, body)
	}
	if reload := e.do(request{method: "GET", path: "/projects/default/api-keys/created", cookie: c}); strings.Contains(reload.Body, secret) {
		t.Errorf("the new secret is shown twice")
	}
	if got := e.exchange(secret, ""); got.Status != http.StatusOK {
		t.Errorf("the new secret does not exchange: %+v", got)
	}
	if got := e.exchange(k.Secret, ""); got.Status != http.StatusOK {
		t.Errorf("the previous secret does not exchange within the grace: %+v", got)
	}
	if n := e.keyPageSessions(c, k.ID); n != "3" {
		t.Errorf("after two more exchanges the page shows %s live sessions", n)
	}
	e.Clock.Advance(time.Hour)
	c = e.login(adminEmail, adminPassword) // the dashboard's idle timeout is shorter than the grace
	if got := e.exchange(k.Secret, ""); got.Status != http.StatusUnauthorized {
		t.Errorf("the previous secret exchanges after the grace: %+v", got)
	}
	if n := e.keyPageSessions(c, k.ID); n != "1" {
		t.Errorf("after the grace the page shows %s live sessions, want the new secret's one", n)
	}
	trail := html.UnescapeString(e.do(request{method: "GET", path: path, cookie: c}).Body)
	if !strings.Contains(trail, "Rolled API key") {
		t.Errorf("the key's trail does not show the roll:\n%s", trail)
	}

	// Rolling with no grace ends every session at once, which the page shows.
	if resp := roll(c, "0s", sameOrigin(e)); resp.Status != http.StatusSeeOther {
		t.Fatalf("roll without grace: HTTP %d %s", resp.Status, resp.Body)
	}
	shown = e.do(request{method: "GET", path: "/projects/default/api-keys/created", cookie: c})
	if m = newKeyValue.FindStringSubmatch(shown.Body); m == nil || !strings.Contains(shown.Body, "The previous secret stopped working") {
		t.Fatalf("rolled without grace:\n%s", shown.Body)
	}
	if got := e.exchange(secret, ""); got.Status != http.StatusUnauthorized {
		t.Errorf("the replaced secret still exchanges: %+v", got)
	}
	if n := e.keyPageSessions(c, k.ID); n != "0" {
		t.Errorf("after a roll without grace the page shows %s live sessions", n)
	}
	newest := m[1]
	if got := e.exchange(newest, ""); got.Status != http.StatusOK {
		t.Fatalf("the newest secret does not exchange: %+v", got)
	}
	if n := e.keyPageSessions(c, k.ID); n != "1" {
		t.Errorf("after exchanging the newest secret the page shows %s live sessions", n)
	}
	// Out-of-range and unreadable graces are refused, and change nothing.
	for _, grace := range []string{"25h", "-1m", "soon", ""} {
		if resp := roll(c, grace, sameOrigin(e)); resp.Status != http.StatusBadRequest {
			t.Errorf("grace %q: HTTP %d", grace, resp.Status)
		}
	}
	if got := e.exchange(newest, ""); got.Status != http.StatusOK {
		t.Errorf("a refused roll changed the secret: %+v", got)
	}
	sessions, err := e.Store.KeySessionCount(t.Context(), k.ID, e.Clock.Now())
	if err != nil || sessions != 2 {
		t.Fatalf("live sessions before the deletion: %d, %v", sessions, err)
	}
	if resp := e.do(request{method: "POST", path: path + "/delete", cookie: c, header: sameOrigin(e), form: url.Values{}}); resp.Status != http.StatusSeeOther {
		t.Fatalf("delete: HTTP %d", resp.Status)
	}
	if sessions, err := e.Store.KeySessionCount(t.Context(), k.ID, e.Clock.Now()); err != nil || sessions != 0 {
		t.Errorf("live sessions after the deletion: %d, %v", sessions, err)
	}
}

// TestRollRefused: a member without api-keys-manage sees no Roll form and cannot roll by posting
// the form anyway, and a roll posted from another site is refused; the key's secret stays.
func TestRollRefused(t *testing.T) {
	e := start(t)
	admin := e.Login(t, adminEmail, adminPassword, "")
	k := e.CreateKey(t, admin.AccessToken, "default", kwtest.KeyRequest{Name: "ci", Permissions: []string{"containers-view"}})
	path := "/projects/default/api-keys/" + k.ID
	form := url.Values{"grace": {"0s"}}

	e.user("vic@example.com", "vic password 12345", "api-keys-view", "containers-view")
	vic := e.login("vic@example.com", "vic password 12345")
	page := e.do(request{method: "GET", path: path, cookie: vic})
	if page.Status != http.StatusOK || strings.Contains(page.Body, "/roll") || strings.Contains(page.Body, ">Roll<") {
		t.Errorf("a viewer's key page: HTTP %d, with a Roll form:\n%s", page.Status, page.Body)
	}
	if resp := e.do(request{method: "POST", path: path + "/roll", cookie: vic, header: sameOrigin(e), form: form}); resp.Status != http.StatusForbidden ||
		!strings.Contains(resp.Body, "api-keys-manage") || strings.Contains(resp.Body, "kw_") {
		t.Errorf("a viewer rolling: HTTP %d %s", resp.Status, resp.Body)
	}

	c := e.login(adminEmail, adminPassword)
	for _, h := range []http.Header{
		{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"https://evil.example"}},
		{"Origin": {"https://evil.example"}},
	} {
		if resp := e.do(request{method: "POST", path: path + "/roll", cookie: c, header: h, form: form}); resp.Status != http.StatusForbidden ||
			!strings.Contains(resp.Body, "another site") {
			t.Errorf("cross-site roll with %v: HTTP %d", h, resp.Status)
		}
	}
	// Another project's key is not found.
	if resp := e.do(request{method: "POST", path: "/projects/default/api-keys/0000000000000000/roll", cookie: c, header: sameOrigin(e), form: form}); resp.Status != http.StatusNotFound {
		t.Errorf("rolling an unknown key: HTTP %d", resp.Status)
	}
	if got := e.exchange(k.Secret, ""); got.Status != http.StatusOK {
		t.Errorf("after the refused rolls the secret does not exchange: %+v", got)
	}
}

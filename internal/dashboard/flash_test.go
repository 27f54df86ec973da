package dashboard_test

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/keyward/keyward"
)

var newKeyValue = regexp.MustCompile(`id="new-key" class="key-value" value="(kw_[^"]+)"`)

// TestKeyCreatedOnce: creating a key answers with a redirect whose address holds no secret; the
// page it leads to shows the key once, uncached, and reloading that page neither shows the key
// again nor sends the form again.
func TestKeyCreatedOnce(t *testing.T) {
	e := start(t)
	c := e.login(adminEmail, adminPassword)
	resp := e.do(request{method: "POST", path: "/projects/default/api-keys", cookie: c, header: sameOrigin(e),
		form: url.Values{"name": {"ci"}, "ips": {"10.0.0.0/8"}, "permissions": {"containers-view"}}})
	if resp.Status != http.StatusSeeOther || resp.Header.Get("Location") != "/projects/default/api-keys/created" {
		t.Fatalf("create: HTTP %d to %q, want 303 to /projects/default/api-keys/created", resp.Status, resp.Header.Get("Location"))
	}
	if strings.Contains(resp.Body, "kw_") {
		t.Fatalf("the redirect carries a key:\n%s", resp.Body)
	}

	// Until it is shown, the store holds the key only sealed with the cookie's secret.
	secret, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil {
		t.Fatal(err)
	}
	hash := sha256.Sum256(secret)
	sealed, err := e.Store.TakeWebSessionFlash(t.Context(), hash[:])
	if err != nil || sealed == nil {
		t.Fatalf("no flash stored with the session: %v", err)
	}
	if err := e.Store.SetWebSessionFlash(t.Context(), hash[:], sealed); err != nil {
		t.Fatal(err)
	}

	page := e.do(request{method: "GET", path: "/projects/default/api-keys/created", cookie: c})
	m := newKeyValue.FindStringSubmatch(page.Body)
	if page.Status != http.StatusOK || m == nil {
		t.Fatalf("created page: HTTP %d without the key:\n%s", page.Status, page.Body)
	}
	key := m[1]
	if strings.Count(page.Body, key) != 1 || !strings.Contains(page.Body, `API key “ci” created`) || !strings.Contains(page.Body, "10.0.0.0/8") {
		t.Errorf("the created page does not show the key ci once:\n%s", page.Body)
	}
	if got := page.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control %q on the page that shows the key, want no-store", got)
	}
	if strings.Contains(string(sealed), key[len(key)-12:]) {
		t.Error("the store holds the key in clear")
	}
	if got := e.exchange(key, "10.1.2.3"); got.Status != http.StatusOK {
		t.Errorf("the shown key does not exchange: %+v", got)
	}

	// Without script, the key is text to select, the Copy button is hidden and a hint says how.
	if !strings.Contains(page.Body, `data-copy="new-key" hidden>`) || !strings.Contains(page.Body, "Select the key and copy it") {
		t.Errorf("without script the Copy button shows, or no hint says how to copy:\n%s", page.Body)
	}

	reload := e.do(request{method: "GET", path: "/projects/default/api-keys/created", cookie: c})
	if reload.Status != http.StatusOK || strings.Contains(reload.Body, key) || !strings.Contains(reload.Body, "This API key was shown once") {
		t.Errorf("reload: HTTP %d; want the key gone and the page saying so:\n%s", reload.Status, reload.Body)
	}
	if got := e.keys("default"); !slices.Equal(got, []string{"ci"}) {
		t.Errorf("keys after the reload: %v", got)
	}

	// Another person's session has no flash to show.
	e.user("ada@example.com", "ada password 12345", "api-keys-manage")
	ada := e.login("ada@example.com", "ada password 12345")
	if resp := e.do(request{method: "POST", path: "/projects/default/api-keys", cookie: c, header: sameOrigin(e),
		form: url.Values{"name": {"ci2"}, "permissions": {"containers-view"}}}); resp.Status != http.StatusSeeOther {
		t.Fatalf("create ci2: HTTP %d", resp.Status)
	}
	if other := e.do(request{method: "GET", path: "/projects/default/api-keys/created", cookie: ada}); newKeyValue.MatchString(other.Body) {
		t.Error("another person's session shows the new key")
	}
}

// TestKeyDeletedOnce: after a deletion the list names the key once, at a clean address.
func TestKeyDeletedOnce(t *testing.T) {
	e := start(t)
	c := e.login(adminEmail, adminPassword)
	if resp := e.do(request{method: "POST", path: "/projects/default/api-keys", cookie: c, header: sameOrigin(e),
		form: url.Values{"name": {"old-bot"}, "permissions": {"containers-view"}}}); resp.Status != http.StatusSeeOther {
		t.Fatalf("create: HTTP %d", resp.Status)
	}
	keys, err := e.Store.APIKeys(t.Context(), e.project("default").ID)
	if err != nil || len(keys) != 1 {
		t.Fatalf("keys %v, %v", keys, err)
	}
	id := keys[0].ID
	resp := e.do(request{method: "POST", path: "/projects/default/api-keys/" + id + "/delete", cookie: c, header: sameOrigin(e), form: url.Values{}})
	if resp.Status != http.StatusSeeOther || resp.Header.Get("Location") != "/projects/default/api-keys" {
		t.Fatalf("delete: HTTP %d to %q, want 303 to /projects/default/api-keys", resp.Status, resp.Header.Get("Location"))
	}
	want := "Deleted API key old-bot (" + id + ")."
	if list := e.do(request{method: "GET", path: "/projects/default/api-keys", cookie: c}); !strings.Contains(list.Body, want) {
		t.Errorf("the list after deleting does not say %q:\n%s", want, list.Body)
	}
	if again := e.do(request{method: "GET", path: "/projects/default/api-keys", cookie: c}); strings.Contains(again.Body, "Deleted API key") {
		t.Error("the deletion notice shows again on the next visit")
	}
}

// TestAuditNamesKeys: the audit log names a key next to its id, for keys that exist and for keys
// deleted since, and never names a key of another project.
func TestAuditNamesKeys(t *testing.T) {
	e := start(t)
	c := e.login(adminEmail, adminPassword)
	post := func(path string, form url.Values) {
		t.Helper()
		if resp := e.do(request{method: "POST", path: path, cookie: c, header: sameOrigin(e), form: form}); resp.Status != http.StatusSeeOther {
			t.Fatalf("POST %s: HTTP %d", path, resp.Status)
		}
	}
	keyID := func(project, name string) string {
		t.Helper()
		keys, err := e.Store.APIKeys(t.Context(), e.project(project).ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if k.Name == name {
				return k.ID
			}
		}
		t.Fatalf("no key %s in %s", name, project)
		return ""
	}
	post("/projects", url.Values{"name": {"other"}})
	post("/projects/other/api-keys", url.Values{"name": {"other-project-bot"}, "permissions": {"dns-view"}})
	post("/projects/default/api-keys", url.Values{"name": {"live-bot"}, "permissions": {"dns-view"}})
	post("/projects/default/api-keys", url.Values{"name": {"gone-bot"}, "permissions": {"dns-view"}})
	live, gone, foreign := keyID("default", "live-bot"), keyID("default", "gone-bot"), keyID("other", "other-project-bot")
	post("/projects/default/api-keys/"+gone+"/delete", url.Values{})
	// A key of another project named as the actor of an event here (its id is in the event).
	if err := e.Store.AppendAudit(t.Context(), &keyward.AuditEvent{ProjectID: e.project("default").ID, At: e.Clock.Now(),
		Actor: "key:" + foreign, Action: keyward.AuditExchangeFailed}); err != nil {
		t.Fatal(err)
	}

	page := e.do(request{method: "GET", path: "/projects/default/audit", cookie: c})
	for _, want := range []string{"API key live-bot (" + live + ")", "API key gone-bot (" + gone + ")", "API key " + foreign} {
		if !strings.Contains(page.Body, want) {
			t.Errorf("the audit log does not say %q", want)
		}
	}
	if strings.Contains(page.Body, "other-project-bot") {
		t.Error("the audit log names a key of another project")
	}
}

package dashboard_test

import (
	"fmt"
	"html"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// TestKeysTabPagesAndSearch: the keys tab shows 100 keys a page with a link to the next, and a
// search box that finds keys by the beginning of their name.
func TestKeysTabPagesAndSearch(t *testing.T) {
	e := start(t)
	p := e.project("default")
	for i := range 120 {
		k := &keyward.APIKey{ID: fmt.Sprintf("pagekey%09d", i), ProjectID: p.ID, Name: fmt.Sprintf("bot-%03d", i),
			Permissions: []string{"containers-view"}, SecretHash: make([]byte, 32), Hint: "abcd", CreatedBy: "user:x", Owner: "usr_x",
			CreatedAt: e.Clock.Now().Add(time.Duration(i) * time.Second)}
		if err := e.Store.CreateAPIKey(t.Context(), k); err != nil {
			t.Fatal(err)
		}
	}
	c := e.login(adminEmail, adminPassword)
	first := e.do(request{method: "GET", path: "/projects/default/api-keys", cookie: c})
	if first.Status != http.StatusOK || !strings.Contains(first.Body, ">bot-099<") || strings.Contains(first.Body, ">bot-100<") ||
		!strings.Contains(first.Body, "Next page") || strings.Contains(first.Body, "First page") {
		t.Fatalf("first page: HTTP %d\n%s", first.Status, first.Body)
	}
	i := strings.Index(first.Body, "/projects/default/api-keys?cursor=")
	next := html.UnescapeString(first.Body[i : i+strings.IndexByte(first.Body[i:], '"')])
	second := e.do(request{method: "GET", path: next, cookie: c})
	if !strings.Contains(second.Body, ">bot-100<") || !strings.Contains(second.Body, ">bot-119<") || strings.Contains(second.Body, ">bot-099<") ||
		strings.Contains(second.Body, "Next page") || !strings.Contains(second.Body, "First page") {
		t.Fatalf("second page %s:\n%s", next, second.Body)
	}

	found := e.do(request{method: "GET", path: "/projects/default/api-keys?q=BOT-11", cookie: c})
	if strings.Count(found.Body, `class="key-name"`) != 10 || !strings.Contains(found.Body, `value="BOT-11"`) || strings.Contains(found.Body, "Next page") {
		t.Errorf("search BOT-11:\n%s", found.Body)
	}
	none := e.do(request{method: "GET", path: "/projects/default/api-keys?q=nothing", cookie: c})
	if !strings.Contains(none.Body, "No key has that id or a name beginning with") {
		t.Errorf("search nothing:\n%s", none.Body)
	}
	if resp := e.do(request{method: "GET", path: "/projects/default/api-keys?cursor=junk", cookie: c}); resp.Status != http.StatusBadRequest {
		t.Errorf("a bad cursor: HTTP %d", resp.Status)
	}
}

func TestMembersTabSearch(t *testing.T) {
	e := start(t)
	e.user("ada@example.com", "ada password 12345", "containers-view")
	e.user("bob@example.com", "bob password 12345", "containers-view")
	c := e.login(adminEmail, adminPassword)
	resp := e.do(request{method: "GET", path: "/projects/default/members?q=Ada", cookie: c})
	if !strings.Contains(resp.Body, "ada@example.com") || strings.Contains(resp.Body, "bob@example.com") {
		t.Errorf("search Ada:\n%s", resp.Body)
	}
	resp = e.do(request{method: "GET", path: "/projects/default/members?q=zed", cookie: c})
	if !strings.Contains(resp.Body, "No member's email address begins with") {
		t.Errorf("search zed:\n%s", resp.Body)
	}
}

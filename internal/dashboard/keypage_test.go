package dashboard_test

import (
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/kwtest"
)

// TestKeyPage: a key's page, linked from the keys table, shows its settings, owner and last use,
// and the audit events about it and no others; an unknown key is not found.
func TestKeyPage(t *testing.T) {
	e := start(t)
	c := e.login(adminEmail, adminPassword)
	admin := e.Login(t, adminEmail, adminPassword, "")
	k := e.CreateKey(t, admin.AccessToken, "default", kwtest.KeyRequest{Name: "ci", IPs: []string{"127.0.0.1", "::1"},
		Permissions: []string{"containers-view", "containers-manage"}})
	other := e.CreateKey(t, admin.AccessToken, "default", kwtest.KeyRequest{Name: "other", Permissions: []string{"containers-view"}})
	e.Exchange(t, k.Secret)
	// Last use is written in batches; the store records it as the token endpoint would.
	if err := e.Store.TouchAPIKey(t.Context(), k.ID, e.Clock.Now(), "192.0.2.44"); err != nil {
		t.Fatal(err)
	}
	name := "ci2"
	if r := e.API(t, "PATCH", "/v1/projects/default/api-keys/"+k.ID, admin.AccessToken, map[string]any{"name": name}); r.Status != http.StatusOK {
		t.Fatalf("rename: %s", r)
	}
	path := "/projects/default/api-keys/" + k.ID

	list := e.do(request{method: "GET", path: "/projects/default/api-keys", cookie: c}).Body
	if !strings.Contains(list, `<a href="`+path+`"><span class="key-name">ci2</span></a>`) {
		t.Errorf("the keys table does not link the key's page:\n%s", list)
	}
	resp := e.do(request{method: "GET", path: path, cookie: c})
	body := html.UnescapeString(resp.Body)
	if resp.Status != http.StatusOK {
		t.Fatalf("key page: HTTP %d %s", resp.Status, body)
	}
	for _, want := range []string{`API key “ci2”`, k.ID, adminEmail, "containers-manage", "127.0.0.1", "::1",
		"Last used", "from <code>192.0.2.44</code>", "Audit trail", "Created API key", "Edited API key", `href="` + path + `/edit"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the key page lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, other.ID) {
		t.Errorf("the key page shows another key's events")
	}
	if strings.Contains(body, ">Disabled<") {
		t.Errorf("a working key is shown disabled")
	}

	if resp := e.do(request{method: "GET", path: "/projects/default/api-keys/nosuchkey", cookie: c}); resp.Status != http.StatusNotFound {
		t.Errorf("an unknown key: HTTP %d", resp.Status)
	}
}

// TestLeakedKeyPage: a leaked key says so, and that a roll (not a transfer) brings it back.
func TestLeakedKeyPage(t *testing.T) {
	e := start(t)
	c := e.login(adminEmail, adminPassword)
	admin := e.Login(t, adminEmail, adminPassword, "")
	k := e.CreateKey(t, admin.AccessToken, "default", kwtest.KeyRequest{Name: "leaky", Permissions: []string{"containers-view"}})
	if r := e.PostForm(t, "/oauth/revoke", url.Values{"token": {k.Secret}, "token_type_hint": {"api_key"}}.Encode()); r.Status != http.StatusOK {
		t.Fatalf("self-revocation: %s", r)
	}
	body := html.UnescapeString(e.do(request{method: "GET", path: "/projects/default/api-keys/" + k.ID, cookie: c}).Body)
	for _, want := range []string{"because its secret leaked", "once rolled", "Disabled leaked API key"} {
		if !strings.Contains(body, want) {
			t.Errorf("the leaked key's page lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "when its owner lost the project") {
		t.Error("the leaked key's page blames its owner's departure")
	}
	if list := e.do(request{method: "GET", path: "/projects/default/api-keys", cookie: c}).Body; !strings.Contains(list, ">Leaked</span>") {
		t.Errorf("the keys table does not mark the leaked key:\n%s", list)
	}
}

package dashboard_test

import (
	"html"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/kwtest"
)

// TestEditKeyForm edits a key through the dashboard's form: it comes filled in, a cross-site post
// and a taken name change nothing, and taking a permission away revokes the key's tokens at once.
func TestEditKeyForm(t *testing.T) {
	e := start(t)
	c := e.login(adminEmail, adminPassword)
	admin := e.Login(t, adminEmail, adminPassword, "")
	e.CreateKey(t, admin.AccessToken, "default", kwtest.KeyRequest{Name: "taken", Permissions: []string{"containers-view"}})
	k := e.CreateKey(t, admin.AccessToken, "default", kwtest.KeyRequest{Name: "ci", IPs: []string{"127.0.0.1", "::1"},
		Permissions: []string{"containers-view", "containers-manage"}})
	tok := e.Exchange(t, k.Secret)
	editPath := "/projects/default/api-keys/" + k.ID + "/edit"

	list := e.do(request{method: "GET", path: "/projects/default/api-keys", cookie: c})
	if !strings.Contains(list.Body, `href="`+editPath+`"`) {
		t.Fatalf("the key list has no edit link:\n%s", list.Body)
	}
	form := e.do(request{method: "GET", path: editPath, cookie: c})
	body := html.UnescapeString(form.Body)
	for _, want := range []string{`Edit API key “ci”`, `action="` + editPath + `"`, `value="ci"`, "127.0.0.1, ::1</textarea>",
		`value="containers-view" checked`, `value="containers-manage" checked`, "Save changes"} {
		if !strings.Contains(body, want) {
			t.Errorf("the edit form lacks %q", want)
		}
	}

	post := func(h http.Header, f url.Values) *response {
		return e.do(request{method: "POST", path: editPath, cookie: c, header: h, form: f})
	}
	narrower := url.Values{"name": {"ci"}, "ips": {"127.0.0.1, ::1"}, "permissions": {"containers-view"}}
	if resp := post(http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"https://evil.example"}}, narrower); resp.Status != http.StatusForbidden {
		t.Errorf("cross-site edit: HTTP %d", resp.Status)
	}
	resp := post(sameOrigin(e), url.Values{"name": {"taken"}, "ips": {"127.0.0.1, ::1"}, "permissions": {"containers-view"}})
	if resp.Status != http.StatusConflict || !strings.Contains(html.UnescapeString(resp.Body), `An API key named "taken" already exists`) {
		t.Errorf("a taken name: HTTP %d", resp.Status)
	}
	if r := e.API(t, "GET", "/v1/me", tok.AccessToken, nil); r.Status != http.StatusOK {
		t.Fatalf("the key's token after refused edits: %s", r)
	}

	resp = post(sameOrigin(e), narrower)
	if resp.Status != http.StatusSeeOther || resp.Header.Get("Location") != "/projects/default/api-keys" {
		t.Fatalf("edit: HTTP %d %s", resp.Status, resp.Body)
	}
	if r := e.API(t, "GET", "/v1/me", tok.AccessToken, nil); r.Status != http.StatusUnauthorized {
		t.Errorf("the key's old token after the narrowing: %s", r)
	}
	kwtest.RequireOAuthError(t, e.Refresh(t, tok.RefreshToken), http.StatusBadRequest, "invalid_grant")
	if got := e.Exchange(t, k.Secret).Scope; got != "containers-view" {
		t.Errorf("a new exchange carries %q", got)
	}
	list = e.do(request{method: "GET", path: "/projects/default/api-keys", cookie: c})
	if !strings.Contains(list.Body, "Updated API key ci ("+k.ID+"). Its tokens were revoked") {
		t.Errorf("no notice after the edit:\n%s", list.Body)
	}
	stored, err := e.Store.APIKey(t.Context(), k.ID)
	if err != nil || !slices.Equal(stored.Permissions, []string{"containers-view"}) || len(stored.IPs) != 2 {
		t.Fatalf("stored key %+v, %v", stored, err)
	}

	// A form saved as it came changes nothing.
	if resp := post(sameOrigin(e), narrower); resp.Status != http.StatusSeeOther {
		t.Errorf("an unchanged form: HTTP %d", resp.Status)
	}
	if again, _ := e.Store.APIKey(t.Context(), k.ID); again.Revision != stored.Revision {
		t.Errorf("an unchanged form edited the key (revision %d → %d)", stored.Revision, again.Revision)
	}
}

// TestKeysTableShowsDisabledKeys: a key disabled because its owner left is marked so in the keys
// table; the others are not.
func TestKeysTableShowsDisabledKeys(t *testing.T) {
	e := start(t)
	c := e.login(adminEmail, adminPassword)
	admin := e.Login(t, adminEmail, adminPassword, "")
	eve := e.user("eve@example.com", "correct horse battery staple 3", "api-keys-manage", "containers-view")
	eveTok := e.Login(t, "eve@example.com", "correct horse battery staple 3", "")
	e.CreateKey(t, eveTok.AccessToken, "default", kwtest.KeyRequest{Name: "eves", Permissions: []string{"containers-view"}})
	e.CreateKey(t, admin.AccessToken, "default", kwtest.KeyRequest{Name: "admins", Permissions: []string{"containers-view"}})
	if err := e.Store.RemoveMember(t.Context(), e.project("default").ID, eve.ID, e.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	body := e.do(request{method: "GET", path: "/projects/default/api-keys", cookie: c}).Body
	row := func(name string) string {
		i := strings.Index(body, `<span class="key-name">`+name+`</span>`)
		if i < 0 {
			t.Fatalf("no row for %s:\n%s", name, body)
		}
		return body[i : i+strings.Index(body[i:], "</tr>")]
	}
	if !strings.Contains(row("eves"), ">Disabled</span>") {
		t.Errorf("the removed owner's key is not marked disabled:\n%s", row("eves"))
	}
	if strings.Contains(row("admins"), "Disabled") {
		t.Errorf("a working key is marked disabled:\n%s", row("admins"))
	}
}

package dashboard_test

import (
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/kwtest"
)

// TestRemoveMemberTransfersKeys: the confirmation of a member's removal lists their keys, each with
// the members who may take it over; the keys chosen are transferred and keep exchanging, the
// others are disabled by the removal, and a transfer the rules refuse removes no one.
func TestRemoveMemberTransfersKeys(t *testing.T) {
	e := start(t)
	c := e.login(adminEmail, adminPassword)
	eve := e.user("eve@example.com", "correct horse battery staple 3", "api-keys-view", "api-keys-manage", "containers-view", "containers-manage")
	bob := e.user("bob@example.com", "bob password 123456", "containers-view", "containers-manage")
	carl := e.user("carl@example.com", "carl password 123456", "containers-view")
	eveTok := e.Login(t, "eve@example.com", "correct horse battery staple 3", "")
	deploy := e.CreateKey(t, eveTok.AccessToken, "default", kwtest.KeyRequest{Name: "deploy", Permissions: []string{"containers-view", "containers-manage"}})
	watch := e.CreateKey(t, eveTok.AccessToken, "default", kwtest.KeyRequest{Name: "watch", Permissions: []string{"containers-view"}})
	spare := e.CreateKey(t, eveTok.AccessToken, "default", kwtest.KeyRequest{Name: "spare", Permissions: []string{"containers-view"}})
	admin := e.Login(t, adminEmail, adminPassword, "")
	e.CreateKey(t, admin.AccessToken, "default", kwtest.KeyRequest{Name: "admins", Permissions: []string{"containers-view"}})

	removePath := "/projects/default/members/" + eve.ID + "/remove"
	members := e.do(request{method: "GET", path: "/projects/default/members", cookie: c}).Body
	if !strings.Contains(members, `action="`+removePath+`"`) || strings.Contains(members, `data-confirm-title="Remove eve@example.com`) {
		t.Errorf("the members list does not lead to the confirmation page, which lists the keys:\n%s", members)
	}
	page := html.UnescapeString(e.do(request{method: "GET", path: removePath, cookie: c}).Body)
	for _, want := range []string{"Remove eve@example.com from default?", "They own 3 API keys in this project",
		"disables every key not transferred", "deploy", deploy.ID, "watch", watch.ID, "spare", spare.ID, `name="owner-` + deploy.ID + `"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the confirmation lacks %q:\n%s", want, page)
		}
	}
	if strings.Contains(page, "admins") {
		t.Errorf("the confirmation lists a key Eve does not own")
	}
	choices := func(id string) string {
		i := strings.Index(page, `<select id="owner-`+id+`"`)
		if i < 0 {
			t.Fatalf("no choice for %s", id)
		}
		return page[i : i+strings.Index(page[i:], "</select>")]
	}
	d, w := choices(deploy.ID), choices(watch.ID)
	for _, who := range []string{adminEmail, "bob@example.com"} {
		if !strings.Contains(d, "Transfer to "+who) || !strings.Contains(w, "Transfer to "+who) {
			t.Errorf("%s, who holds every permission of both keys, is not offered both", who)
		}
	}
	if strings.Contains(d, "carl@example.com") || !strings.Contains(w, "Transfer to carl@example.com") {
		t.Errorf("Carl holds containers-view only: offered deploy or not watch:\n%s\n%s", d, w)
	}
	if strings.Contains(d+w, "eve@example.com") || !strings.Contains(d, `<option value="">Disable it</option>`) {
		t.Errorf("the choices offer Eve herself or no way to leave the key:\n%s", d)
	}

	post := func(f url.Values) *response {
		return e.do(request{method: "POST", path: removePath, cookie: c, header: sameOrigin(e), form: f})
	}
	// A transfer the rules refuse (Carl lacks containers-manage) removes no one.
	resp := post(url.Values{"owner-" + deploy.ID: {carl.ID}})
	if resp.Status != http.StatusForbidden || !strings.Contains(html.UnescapeString(resp.Body), "API key deploy was not transferred, and eve@example.com is still a member") {
		t.Fatalf("a refused transfer: HTTP %d\n%s", resp.Status, resp.Body)
	}
	if _, err := e.Store.Member(t.Context(), e.project("default").ID, eve.ID); err != nil {
		t.Fatalf("Eve after a refused transfer: %v", err)
	}

	resp = post(url.Values{"owner-" + deploy.ID: {bob.ID}, "owner-" + watch.ID: {carl.ID}, "owner-" + spare.ID: {""}})
	if resp.Status != http.StatusSeeOther {
		t.Fatalf("removal: HTTP %d %s", resp.Status, resp.Body)
	}
	list := e.do(request{method: "GET", path: resp.Header.Get("Location"), cookie: c}).Body
	if !strings.Contains(list, "The member was removed from the project. 2 API keys were transferred first. 1 API key of theirs was disabled.") {
		t.Errorf("the notice after the removal:\n%s", list)
	}
	for _, k := range []struct {
		key   *kwtest.Key
		owner string
	}{{deploy, bob.ID}, {watch, carl.ID}, {spare, eve.ID}} {
		stored, err := e.Store.APIKey(t.Context(), k.key.ID)
		if err != nil {
			t.Fatal(err)
		}
		if stored.Owner != k.owner || (stored.DisabledAt != nil) != (k.owner == eve.ID) {
			t.Errorf("%s: owner %s, disabled at %v", k.key.Name, stored.Owner, stored.DisabledAt)
		}
	}
	if got := e.exchange(deploy.Secret, ""); got.Status != http.StatusOK || got.Scope != "containers-view containers-manage" {
		t.Errorf("the transferred key's exchange: %+v", got)
	}
	if got := e.exchange(spare.Secret, ""); got.Error != "invalid_client" {
		t.Errorf("the key left to the removed member still exchanges: %+v", got)
	}
}

// TestRemoveMemberWithoutKeyPermissions: someone who manages members but cannot see keys is told
// that the member's keys are disabled, and can still remove them.
func TestRemoveMemberWithoutKeyPermissions(t *testing.T) {
	e := start(t)
	e.user("mia@example.com", "mia password 12345", "members-manage", "members-view", "containers-view")
	ada := e.user("ada@example.com", "ada password 12345", "containers-view")
	c := e.login("mia@example.com", "mia password 12345")
	path := "/projects/default/members/" + ada.ID + "/remove"
	page := e.do(request{method: "GET", path: path, cookie: c}).Body
	if !strings.Contains(page, "Their API keys in this project, if any, are disabled") {
		t.Errorf("the confirmation does not say the keys are disabled:\n%s", page)
	}
	if resp := e.do(request{method: "POST", path: path, cookie: c, header: sameOrigin(e), form: url.Values{}}); resp.Status != http.StatusSeeOther {
		t.Errorf("removal: HTTP %d %s", resp.Status, resp.Body)
	}
}

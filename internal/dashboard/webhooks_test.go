package dashboard_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/kwtest"
)

var webhookSecretValue = regexp.MustCompile(`id="webhook-secret" class="key-value" value="(whsec_[^"]+)"`)

// hookURL is a receiver's address; https and a public name, so that no operator setting is
// needed. Nothing is sent in these tests: no sender runs.
const hookURL = "https://hooks.example.com/keyward"

// webhookSecret reads the secret the page after a creation or roll shows, failing when it is
// not there.
func (e *env) webhookSecret(c *http.Cookie) string {
	e.t.Helper()
	page := e.do(request{method: "GET", path: "/projects/default/webhooks/secret", cookie: c})
	m := webhookSecretValue.FindStringSubmatch(page.Body)
	if page.Status != http.StatusOK || m == nil {
		e.t.Fatalf("secret page: HTTP %d without the secret:\n%s", page.Status, page.Body)
	}
	if strings.Count(page.Body, m[1]) != 1 || !strings.Contains(page.Body, "will not be shown again") {
		e.t.Errorf("the secret is not shown once with its warning:\n%s", page.Body)
	}
	return m[1]
}

// onlyWebhook returns the project's one webhook, from the store.
func (e *env) onlyWebhook() *keyward.Webhook {
	e.t.Helper()
	list, err := e.Store.Webhooks(e.t.Context(), e.project("default").ID)
	if err != nil || len(list) != 1 {
		e.t.Fatalf("webhooks: %v %v", list, err)
	}
	return list[0]
}

// TestWebhooksTab: a key manager adds a webhook and sees its signing secret once (not on reload,
// never in the list), lists it, edits it, rolls its secret, sends a test event and deletes it;
// bad input comes back next to its field.
func TestWebhooksTab(t *testing.T) {
	e := start(t)
	c := e.login(adminEmail, adminPassword)

	page := e.do(request{method: "GET", path: "/projects/default/webhooks", cookie: c})
	body := html.UnescapeString(page.Body)
	if page.Status != http.StatusOK || !strings.Contains(body, "No webhook yet") || !strings.Contains(body, `aria-current="page">Webhooks`) {
		t.Fatalf("webhooks tab: HTTP %d\n%s", page.Status, body)
	}
	for _, ev := range keyward.WebhookEvents() {
		if !strings.Contains(body, `name="events" value="`+ev+`"`) {
			t.Errorf("the form offers no %s", ev)
		}
	}
	if strings.Contains(body, "members-view</code> permission in this project, which you do not hold") {
		t.Error("an owner is told they lack members-view")
	}

	// Bad input: the message next to its field, what was typed kept.
	resp := e.post(c, "/projects/default/webhooks", url.Values{"url": {"http://hooks.example.com/x"}, "events": {keyward.EventKeyCreated}})
	body = html.UnescapeString(resp.Body)
	if resp.Status != http.StatusBadRequest || !strings.Contains(body, `id="webhook-url-error"`) || !strings.Contains(body, "must use https") ||
		!strings.Contains(body, `value="http://hooks.example.com/x"`) || !strings.Contains(body, `value="api_key.created" checked`) {
		t.Errorf("an http URL: HTTP %d\n%s", resp.Status, body)
	}
	resp = e.post(c, "/projects/default/webhooks", url.Values{"url": {hookURL}})
	if resp.Status != http.StatusBadRequest || !strings.Contains(resp.Body, `id="webhook-events-error"`) {
		t.Errorf("no event: HTTP %d\n%s", resp.Status, resp.Body)
	}
	resp = e.post(c, "/projects/default/webhooks", url.Values{"url": {"https://127.0.0.1/hook"}, "events": {keyward.EventKeyCreated}})
	if resp.Status != http.StatusBadRequest || !strings.Contains(resp.Body, `id="webhook-url-error"`) {
		t.Errorf("a loopback URL: HTTP %d", resp.Status)
	}

	resp = e.post(c, "/projects/default/webhooks", url.Values{"url": {hookURL}, "events": {keyward.EventKeyCreated, keyward.EventMemberAdded}})
	if resp.Status != http.StatusSeeOther || resp.Header.Get("Location") != "/projects/default/webhooks/secret" || strings.Contains(resp.Body, "whsec_") {
		t.Fatalf("create: HTTP %d to %q\n%s", resp.Status, resp.Header.Get("Location"), resp.Body)
	}
	secret := e.webhookSecret(c)
	reload := e.do(request{method: "GET", path: "/projects/default/webhooks/secret", cookie: c})
	if strings.Contains(reload.Body, secret) || !strings.Contains(reload.Body, "was shown once") {
		t.Errorf("the secret is shown again on reload:\n%s", reload.Body)
	}
	h := e.onlyWebhook()
	self := "/projects/default/webhooks/" + h.ID

	list := html.UnescapeString(e.do(request{method: "GET", path: "/projects/default/webhooks", cookie: c}).Body)
	for _, want := range []string{hookURL, `href="` + self + `"`, "api_key.created", "member.added", adminEmail} {
		if !strings.Contains(list, want) {
			t.Errorf("the list lacks %q", want)
		}
	}
	if strings.Contains(list, secret) || strings.Contains(list, "whsec_") {
		t.Error("the list shows a secret")
	}
	shown := e.do(request{method: "GET", path: self, cookie: c})
	if shown.Status != http.StatusOK || strings.Contains(shown.Body, "whsec_") || !strings.Contains(shown.Body, "No message yet") {
		t.Fatalf("webhook page: HTTP %d\n%s", shown.Status, shown.Body)
	}

	// Edit: the form filled in, and what is saved is what was ticked.
	if !strings.Contains(shown.Body, `value="member.added" checked`) || !strings.Contains(shown.Body, `value="`+hookURL+`"`) {
		t.Errorf("the edit form is not filled in:\n%s", shown.Body)
	}
	moved := "https://hooks.example.com/v2"
	resp = e.post(c, self, url.Values{"url": {moved}, "events": {keyward.EventKeyDeleted, keyward.EventKeyRolled}})
	if resp.Status != http.StatusSeeOther || resp.Header.Get("Location") != self+"?saved" {
		t.Fatalf("edit: HTTP %d %s", resp.Status, resp.Body)
	}
	if h = e.onlyWebhook(); h.URL != moved || strings.Join(h.Events, ",") != "api_key.deleted,api_key.rolled" {
		t.Errorf("after the edit: %s %v", h.URL, h.Events)
	}
	resp = e.post(c, self, url.Values{"url": {moved}, "events": {"api_key.nonsense"}})
	if resp.Status != http.StatusBadRequest || !strings.Contains(html.UnescapeString(resp.Body), `Unknown event "api_key.nonsense"`) {
		t.Errorf("an unknown event: HTTP %d", resp.Status)
	}

	// Roll: a new secret shown once, the previous one signing for the grace chosen.
	resp = e.post(c, self+"/roll", url.Values{"grace": {"1h"}})
	if resp.Status != http.StatusSeeOther || resp.Header.Get("Location") != "/projects/default/webhooks/secret" {
		t.Fatalf("roll: HTTP %d %s", resp.Status, resp.Body)
	}
	rolled := e.do(request{method: "GET", path: "/projects/default/webhooks/secret", cookie: c})
	end := e.Clock.Now().Add(time.Hour).UTC().Format("2 Jan 2006, 15:04 UTC")
	if m := webhookSecretValue.FindStringSubmatch(rolled.Body); m == nil || m[1] == secret || !strings.Contains(rolled.Body, "Signing secret rolled") ||
		!strings.Contains(rolled.Body, end) {
		t.Errorf("the rolled secret is not shown with the grace's end %s:\n%s", end, rolled.Body)
	}
	if resp := e.post(c, self+"/roll", url.Values{"grace": {"100h"}}); resp.Status != http.StatusBadRequest ||
		!strings.Contains(resp.Body, `id="webhook-grace-error"`) {
		t.Errorf("a grace too long: HTTP %d", resp.Status)
	}

	// A test event is queued and listed.
	if resp := e.post(c, self+"/test", url.Values{}); resp.Status != http.StatusSeeOther || resp.Header.Get("Location") != self+"?test-sent" {
		t.Fatalf("test: HTTP %d %s", resp.Status, resp.Body)
	}
	shown = e.do(request{method: "GET", path: self + "?test-sent", cookie: c})
	if !strings.Contains(shown.Body, "webhook.test") || !strings.Contains(shown.Body, `<span class="badge badge-pending">pending</span>`) {
		t.Errorf("the test message is not listed pending:\n%s", shown.Body)
	}

	// Delete: a confirmation page, then the post.
	confirm := e.do(request{method: "GET", path: self + "/delete", cookie: c})
	if confirm.Status != http.StatusOK || !strings.Contains(confirm.Body, `action="`+self+`/delete"`) {
		t.Fatalf("delete confirmation: HTTP %d", confirm.Status)
	}
	if resp := e.post(c, self+"/delete", url.Values{}); resp.Status != http.StatusSeeOther {
		t.Fatalf("delete: HTTP %d", resp.Status)
	}
	if list, err := e.Store.Webhooks(t.Context(), e.project("default").ID); err != nil || len(list) != 0 {
		t.Errorf("after deletion: %v %v", list, err)
	}
	if resp := e.do(request{method: "GET", path: self, cookie: c}); resp.Status != http.StatusNotFound {
		t.Errorf("a deleted webhook's page: HTTP %d", resp.Status)
	}
	// A cross-site post changes nothing.
	if resp := e.do(request{method: "POST", path: "/projects/default/webhooks", cookie: c, header: http.Header{"Origin": {"https://evil.example"}},
		form: url.Values{"url": {hookURL}, "events": {keyward.EventKeyCreated}}}); resp.Status != http.StatusForbidden {
		t.Errorf("a cross-site creation: HTTP %d", resp.Status)
	}
}

// TestWebhooksWithoutMembersView: a key manager who may not see the members is offered member
// events disabled, with the reason, and a forged form asking for one is refused next to the field;
// so is a roll of a webhook that has member events.
func TestWebhooksWithoutMembersView(t *testing.T) {
	e := start(t)
	e.user("keys@example.com", "correct horse battery", "api-keys-view", "api-keys-manage")
	c := e.login("keys@example.com", "correct horse battery")
	body := e.do(request{method: "GET", path: "/projects/default/webhooks", cookie: c}).Body
	if !strings.Contains(body, `value="member.added" disabled`) || strings.Contains(body, `value="api_key.created" disabled`) ||
		!strings.Contains(body, "which you do not hold") {
		t.Errorf("member events are not disabled with a note:\n%s", body)
	}
	resp := e.post(c, "/projects/default/webhooks", url.Values{"url": {hookURL}, "events": {keyward.EventKeyCreated, keyward.EventMemberRemoved}})
	if resp.Status != http.StatusForbidden || !strings.Contains(resp.Body, `id="webhook-events-error"`) || !strings.Contains(html.UnescapeString(resp.Body), "members-view") {
		t.Errorf("a forged member event: HTTP %d\n%s", resp.Status, resp.Body)
	}
	if list, _ := e.Store.Webhooks(t.Context(), e.project("default").ID); len(list) != 0 {
		t.Errorf("a webhook was created: %v", list)
	}

	// A roll re-checks the events for whoever rolls: the refusal is shown on the edit form,
	// next to the events, and nothing is rolled.
	admin := e.login(adminEmail, adminPassword)
	e.post(admin, "/projects/default/webhooks", url.Values{"url": {hookURL}, "events": {keyward.EventMemberRemoved}})
	list, err := e.Store.Webhooks(t.Context(), e.project("default").ID)
	if err != nil || len(list) != 1 {
		t.Fatalf("the admin's webhook: %v, %v", list, err)
	}
	resp = e.post(c, "/projects/default/webhooks/"+list[0].ID+"/roll", url.Values{"grace": {"24h"}})
	if resp.Status != http.StatusForbidden || !strings.Contains(resp.Body, `id="webhook-events-error"`) || !strings.Contains(html.UnescapeString(resp.Body), "members-view") {
		t.Errorf("a roll of member events without members-view: HTTP %d\n%s", resp.Status, resp.Body)
	}
	if after, _ := e.Store.Webhook(t.Context(), list[0].ProjectID, list[0].ID); string(after.Secret) != string(list[0].Secret) {
		t.Error("the refused roll changed the secret")
	}
}

// TestWebhooksHiddenFromViewers: a member without api-keys-manage gets no tab and no page, and
// another project's webhook is not found even for its owner elsewhere.
func TestWebhooksHiddenFromViewers(t *testing.T) {
	e := start(t)
	admin := e.login(adminEmail, adminPassword)
	if resp := e.post(admin, "/projects/default/webhooks", url.Values{"url": {hookURL}, "events": {keyward.EventKeyCreated}}); resp.Status != http.StatusSeeOther {
		t.Fatalf("create: HTTP %d", resp.Status)
	}
	h := e.onlyWebhook()
	self := "/projects/default/webhooks/" + h.ID

	e.user("viewer@example.com", "correct horse battery", "api-keys-view", "members-view")
	viewer := e.login("viewer@example.com", "correct horse battery")
	if body := e.do(request{method: "GET", path: "/projects/default/api-keys", cookie: viewer}).Body; strings.Contains(body, ">Webhooks</a>") {
		t.Error("a viewer sees the Webhooks tab")
	}
	for _, path := range []string{"/projects/default/webhooks", self, self + "/delete"} {
		if resp := e.do(request{method: "GET", path: path, cookie: viewer}); resp.Status != http.StatusForbidden && resp.Status != http.StatusNotFound ||
			strings.Contains(resp.Body, hookURL) {
			t.Errorf("GET %s as a viewer: HTTP %d", path, resp.Status)
		}
	}
	for _, path := range []string{"/projects/default/webhooks", self, self + "/roll", self + "/test", self + "/delete"} {
		if resp := e.post(viewer, path, url.Values{"url": {hookURL}, "events": {keyward.EventKeyCreated}, "grace": {"0s"}}); resp.Status != http.StatusForbidden {
			t.Errorf("POST %s as a viewer: HTTP %d", path, resp.Status)
		}
	}
	if got := e.onlyWebhook(); got.UpdatedAt != h.UpdatedAt || string(got.Secret) != string(h.Secret) {
		t.Error("a viewer's post changed the webhook")
	}

	// The admin's other project does not reach the default project's webhook.
	token := e.AdminToken(t)
	if r := e.API(t, "POST", "/v1/projects", token, map[string]any{"name": "other"}); r.Status != http.StatusCreated {
		t.Fatalf("create project: %s", r)
	}
	other := "/projects/other/webhooks/" + h.ID
	if resp := e.do(request{method: "GET", path: other, cookie: admin}); resp.Status != http.StatusNotFound {
		t.Errorf("another project's webhook: HTTP %d", resp.Status)
	}
	if resp := e.post(admin, other+"/delete", url.Values{}); resp.Status != http.StatusNotFound {
		t.Errorf("deleting another project's webhook: HTTP %d", resp.Status)
	}
	e.onlyWebhook()
}

// TestWebhookDeliveries: a key change queues a message, which the webhook's page lists; its page
// shows the body and each attempt with the receiver's answer escaped; Redeliver makes a failed
// message pending again.
func TestWebhookDeliveries(t *testing.T) {
	e := start(t)
	c := e.login(adminEmail, adminPassword)
	if resp := e.post(c, "/projects/default/webhooks", url.Values{"url": {hookURL}, "events": {keyward.EventKeyCreated}}); resp.Status != http.StatusSeeOther {
		t.Fatalf("create: HTTP %d", resp.Status)
	}
	h := e.onlyWebhook()
	self := "/projects/default/webhooks/" + h.ID
	k := e.CreateKey(t, e.AdminToken(t), "default", kwtest.KeyRequest{Name: "deployer", Permissions: []string{"containers-view"}})

	msgs, _, err := e.Store.WebhookMessagePage(t.Context(), h.ProjectID, h.ID, keyward.Page{Limit: 10})
	if err != nil || len(msgs) != 1 {
		t.Fatalf("messages: %v %v", msgs, err)
	}
	m := msgs[0]
	at := e.Clock.Now()
	if err := e.Store.RecordWebhookAttempt(t.Context(), &keyward.WebhookAttempt{MessageID: m.ID, At: at, Duration: 1234 * time.Millisecond,
		Status: 500, Response: `<script>alert("receiver")</script>`}, nil, false); err != nil {
		t.Fatal(err)
	}

	page := e.do(request{method: "GET", path: self, cookie: c})
	msgPath := self + "/messages/" + m.ID
	for _, want := range []string{`href="` + msgPath + `"`, "api_key.created", `<span class="badge badge-failed">failed</span>`, ">500<"} {
		if !strings.Contains(page.Body, want) {
			t.Errorf("the deliveries lack %q:\n%s", want, page.Body)
		}
	}

	resp := e.do(request{method: "GET", path: msgPath, cookie: c})
	if resp.Status != http.StatusOK {
		t.Fatalf("message page: HTTP %d %s", resp.Status, resp.Body)
	}
	if strings.Contains(resp.Body, "<script>alert") {
		t.Fatalf("the receiver's answer is not escaped:\n%s", resp.Body)
	}
	for _, want := range []string{`&lt;script&gt;alert(&#34;receiver&#34;)&lt;/script&gt;`, "1.234s", "<code>500</code>", k.ID, `&#34;type&#34;: &#34;api_key.created&#34;`,
		`action="` + msgPath + `/redeliver"`} {
		if !strings.Contains(resp.Body, want) {
			t.Errorf("the message page lacks %q:\n%s", want, resp.Body)
		}
	}

	resp = e.post(c, msgPath+"/redeliver", url.Values{})
	if resp.Status != http.StatusSeeOther || resp.Header.Get("Location") != msgPath+"?redelivered" {
		t.Fatalf("redeliver: HTTP %d %s", resp.Status, resp.Body)
	}
	again, _, err := e.Store.WebhookMessage(t.Context(), h.ProjectID, m.ID)
	if err != nil || again.State != keyward.MessagePending {
		t.Fatalf("after redelivery: %+v %v", again, err)
	}
	if body := e.do(request{method: "GET", path: msgPath + "?redelivered", cookie: c}).Body; !strings.Contains(body, `badge-pending`) ||
		!strings.Contains(body, "will be sent again") {
		t.Errorf("the message page does not show it pending:\n%s", body)
	}
	if resp := e.do(request{method: "GET", path: self + "/messages/msg_nosuchmessage00", cookie: c}); resp.Status != http.StatusNotFound {
		t.Errorf("an unknown message: HTTP %d", resp.Status)
	}
	if resp := e.do(request{method: "POST", path: msgPath + "/redeliver", cookie: c, header: http.Header{"Origin": {"https://evil.example"}},
		form: url.Values{}}); resp.Status != http.StatusForbidden {
		t.Errorf("a cross-site redelivery: HTTP %d", resp.Status)
	}
}

// TestKeyDisableEnable: an active key's page offers Disable (a confirmation page without script);
// a disabled key no longer exchanges and offers Enable, which brings it back; a leaked key offers
// neither and says a roll brings it back.
func TestKeyDisableEnable(t *testing.T) {
	e := start(t)
	c := e.login(adminEmail, adminPassword)
	k := e.CreateKey(t, e.AdminToken(t), "default", kwtest.KeyRequest{Name: "ci", Permissions: []string{"containers-view"}})
	path := "/projects/default/api-keys/" + k.ID

	page := e.do(request{method: "GET", path: path, cookie: c}).Body
	if !strings.Contains(page, `action="`+path+`/disable"`) || strings.Contains(page, `action="`+path+`/enable"`) {
		t.Fatalf("an active key's page:\n%s", page)
	}
	confirm := e.do(request{method: "GET", path: path + "/disable", cookie: c})
	if confirm.Status != http.StatusOK || !strings.Contains(confirm.Body, "Its tokens stop working at once") {
		t.Fatalf("disable confirmation: HTTP %d\n%s", confirm.Status, confirm.Body)
	}
	if got := e.exchange(k.Secret, ""); got.Status != http.StatusOK {
		t.Fatalf("exchange: %+v", got)
	}
	resp := e.post(c, path+"/disable", url.Values{})
	if resp.Status != http.StatusSeeOther || resp.Header.Get("Location") != path+"?disabled" {
		t.Fatalf("disable: HTTP %d %s", resp.Status, resp.Body)
	}
	if got := e.exchange(k.Secret, ""); got.Status != http.StatusUnauthorized {
		t.Errorf("a disabled key exchanges: %+v", got)
	}
	page = html.UnescapeString(e.do(request{method: "GET", path: path + "?disabled", cookie: c}).Body)
	if !strings.Contains(page, "A member disabled this key") || !strings.Contains(page, `action="`+path+`/enable"`) ||
		strings.Contains(page, `action="`+path+`/disable"`) || !strings.Contains(page, "Edited API key (disabled)") || !strings.Contains(page, "The key was disabled") {
		t.Errorf("a disabled key's page:\n%s", page)
	}
	if resp := e.post(c, path+"/enable", url.Values{}); resp.Status != http.StatusSeeOther || resp.Header.Get("Location") != path+"?enabled" {
		t.Fatalf("enable: HTTP %d %s", resp.Status, resp.Body)
	}
	if got := e.exchange(k.Secret, ""); got.Status != http.StatusOK {
		t.Errorf("an enabled key does not exchange: %+v", got)
	}

	// A viewer may do neither.
	e.user("viewer@example.com", "correct horse battery", "api-keys-view")
	viewer := e.login("viewer@example.com", "correct horse battery")
	if body := e.do(request{method: "GET", path: path, cookie: viewer}).Body; strings.Contains(body, "/disable") {
		t.Error("a viewer is offered Disable")
	}
	if resp := e.post(viewer, path+"/disable", url.Values{}); resp.Status != http.StatusForbidden {
		t.Errorf("a viewer's disable: HTTP %d", resp.Status)
	}

	// A leaked key: neither button, and Enable forged is refused with what does enable it.
	if r := e.PostForm(t, "/oauth/revoke", url.Values{"token": {k.Secret}, "token_type_hint": {"api_key"}}.Encode()); r.Status != http.StatusOK {
		t.Fatalf("self-revocation: %s", r)
	}
	page = e.do(request{method: "GET", path: path, cookie: c}).Body
	if strings.Contains(page, `action="`+path+`/enable"`) || strings.Contains(page, `action="`+path+`/disable"`) || !strings.Contains(page, "once rolled") {
		t.Errorf("a leaked key's page:\n%s", page)
	}
	resp = e.post(c, path+"/enable", url.Values{})
	if resp.Status != http.StatusBadRequest || !strings.Contains(resp.Body, "roll it") {
		t.Errorf("enabling a leaked key: HTTP %d\n%s", resp.Status, resp.Body)
	}
}

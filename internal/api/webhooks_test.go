package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/internal/manage"
)

// tourWebhooks walks the webhook routes on their successful paths: a webhook of the tour's
// project receives the events of a key disabled and enabled by a member.
func tourWebhooks(t *testing.T, e *env, tok, base, keyID string) {
	t.Helper()
	var created client.Webhook
	resp := e.do(req{method: "POST", path: base + "/webhooks", token: tok, body: map[string]any{
		"url": "https://hooks.example.com/keyward", "events": []string{"api_key.updated", "api_key.disabled", "member.added"},
	}}).expect(t, http.StatusCreated)
	resp.decode(t, &created)
	if !strings.HasPrefix(created.Secret, "whsec_") || resp.header.Get("Location") == "" ||
		strings.Join(created.Events, " ") != "api_key.disabled api_key.updated member.added" {
		t.Errorf("created webhook %+v, Location %q", created, resp.header.Get("Location"))
	}
	hook := base + "/webhooks/" + created.ID
	e.do(req{method: "GET", path: base + "/webhooks", token: tok}).expect(t, http.StatusOK)
	e.do(req{method: "GET", path: hook, token: tok}).expect(t, http.StatusOK)

	var k client.Key
	e.do(req{method: "PATCH", path: base + "/api-keys/" + keyID, token: tok, body: map[string]any{"disabled": true}}).
		expect(t, http.StatusOK).decode(t, &k)
	if k.State != "disabled" || k.DisabledReason != keyward.KeyDisabledByMember || k.DisabledAt == nil {
		t.Errorf("disabled key: state %q, reason %q, disabled_at %v", k.State, k.DisabledReason, k.DisabledAt)
	}
	k = client.Key{} // a fresh decode: disabled_reason is left out while the key works
	e.do(req{method: "PATCH", path: base + "/api-keys/" + keyID, token: tok, body: map[string]any{"disabled": false}}).
		expect(t, http.StatusOK).decode(t, &k)
	if k.State != "active" || k.DisabledReason != "" || k.DisabledAt != nil {
		t.Errorf("enabled key: state %q, reason %q, disabled_at %v", k.State, k.DisabledReason, k.DisabledAt)
	}

	var msgs client.Page[client.WebhookMessage]
	e.do(req{method: "GET", path: hook + "/messages?limit=10", token: tok}).expect(t, http.StatusOK).decode(t, &msgs)
	if len(msgs.Data) != 2 || msgs.Data[0].Type != keyward.EventKeyUpdated || msgs.Data[1].Type != keyward.EventKeyDisabled {
		t.Fatalf("messages after a disable and an enable, newest first: %+v", msgs.Data)
	}
	disabled := msgs.Data[1]
	var detail client.WebhookMessageDetail
	e.do(req{method: "GET", path: hook + "/messages/" + disabled.ID, token: tok}).expect(t, http.StatusOK).decode(t, &detail)
	var body struct {
		Type string            `json:"type"`
		Data keyward.EventData `json:"data"`
	}
	if err := json.Unmarshal(detail.Body, &body); err != nil || body.Type != keyward.EventKeyDisabled || body.Data.KeyID != keyID ||
		body.Data.Reason != keyward.KeyDisabledByMember || !strings.HasPrefix(body.Data.Actor, "user:") || len(detail.History) != 0 {
		t.Errorf("message %s: %+v (%v)", detail.Body, detail, err)
	}
	var again client.WebhookMessage
	e.do(req{method: "POST", path: hook + "/messages/" + disabled.ID + "/redeliver", token: tok}).expect(t, http.StatusAccepted).decode(t, &again)
	if again.ID != disabled.ID || again.State != keyward.MessagePending {
		t.Errorf("redelivered %+v", again)
	}
	var test client.WebhookMessage
	e.do(req{method: "POST", path: hook + "/test", token: tok}).expect(t, http.StatusAccepted).decode(t, &test)
	if test.Type != keyward.EventWebhookTest || test.WebhookID != created.ID || test.State != keyward.MessagePending {
		t.Errorf("test message %+v", test)
	}
	e.do(req{method: "PATCH", path: hook, token: tok, body: map[string]any{"events": []string{"api_key.created"}}}).expect(t, http.StatusOK)
	var rolled client.Webhook
	e.do(req{method: "POST", path: hook + "/roll-secret", token: tok, body: map[string]any{"grace": "1h"}}).expect(t, http.StatusOK).decode(t, &rolled)
	if !strings.HasPrefix(rolled.Secret, "whsec_") || rolled.Secret == created.Secret || rolled.PreviousSecretExpiresAt == nil ||
		!rolled.PreviousSecretExpiresAt.Equal(e.clock.Now().Add(time.Hour)) {
		t.Errorf("rolled webhook %+v", rolled)
	}
	e.do(req{method: "DELETE", path: hook, token: tok}).expect(t, http.StatusNoContent)
	e.do(req{method: "GET", path: hook, token: tok}).expect(t, http.StatusNotFound).problem(t)
}

// allowPrivateWebhooks serves e with a manage.Service that admits webhooks at private
// addresses and over http, as keyward serve --webhook-allow-private does.
func (e *env) allowPrivateWebhooks() {
	s := e.srv
	s.Manage = &manage.Service{Store: s.Store, Catalog: s.Catalog, Passwords: s.Passwords, Now: s.Now, Rand: s.Rand, Logger: s.logger(),
		WebhookAllowPrivate: true}
	e.handler = s.Handler()
}

func (e *env) createWebhook(tok, project string, events ...string) client.Webhook {
	e.t.Helper()
	var w client.Webhook
	e.do(req{method: "POST", path: "/v1/projects/" + project + "/webhooks", token: tok, body: map[string]any{
		"url": "https://hooks.example.com/" + project, "events": events,
	}}).expect(e.t, http.StatusCreated).decode(e.t, &w)
	return w
}

// TestWebhookSecretShownOnce: the signing secret is in the answers to creation and roll only;
// a roll keeps the previous one signing for its grace, and says until when.
func TestWebhookSecretShownOnce(t *testing.T) {
	e := newEnv(t)
	owner := e.user("owner@example.com", false)
	e.project("shop", owner, nil)
	tok := e.userToken(owner, "")
	w := e.createWebhook(tok, "shop", "api_key.created")
	path := "/v1/projects/shop/webhooks/" + w.ID
	noSecret := func(what string, r *response) {
		t.Helper()
		if strings.Contains(string(r.body), w.Secret) || strings.Contains(string(r.body), "whsec_") || strings.Contains(string(r.body), `"secret"`) {
			t.Errorf("%s shows a secret: %s", what, r.body)
		}
	}
	noSecret("the list", e.do(req{method: "GET", path: "/v1/projects/shop/webhooks", token: tok}).expect(t, http.StatusOK))
	noSecret("the webhook", e.do(req{method: "GET", path: path, token: tok}).expect(t, http.StatusOK))
	noSecret("an edit", e.do(req{method: "PATCH", path: path, token: tok, body: map[string]any{"url": "https://hooks.example.com/v2"}}).expect(t, http.StatusOK))
	noSecret("the audit log", e.do(req{method: "GET", path: "/v1/projects/shop/audit", token: tok}).expect(t, http.StatusOK))

	// Without a grace, the previous secret signs for the default one.
	var rolled client.Webhook
	e.do(req{method: "POST", path: path + "/roll-secret", token: tok, body: map[string]any{}}).expect(t, http.StatusOK).decode(t, &rolled)
	if rolled.Secret == "" || rolled.Secret == w.Secret || rolled.PreviousSecretExpiresAt == nil ||
		!rolled.PreviousSecretExpiresAt.Equal(e.clock.Now().Add(manage.DefaultWebhookGrace)) {
		t.Errorf("rolled without a grace: %+v", rolled)
	}
	var got client.Webhook
	e.do(req{method: "GET", path: path, token: tok}).expect(t, http.StatusOK).decode(t, &got)
	if got.Secret != "" || got.PreviousSecretExpiresAt == nil || !got.PreviousSecretExpiresAt.Equal(*rolled.PreviousSecretExpiresAt) {
		t.Errorf("after the roll: %+v", got)
	}
	for _, tt := range []struct {
		body   any
		detail string
	}{
		{map[string]any{"grace": "73h"}, "72h"},
		{map[string]any{"grace": "-1s"}, "72h"},
		{map[string]any{"grace": "soon"}, "grace"},
		{map[string]any{"grace": 3600}, "grace"},
		{map[string]any{"grace": "1h", "secret": "whsec_mine"}, "secret"},
		{"", "empty"},
	} {
		r := e.do(req{method: "POST", path: path + "/roll-secret", token: tok, body: tt.body, contentType: []string{"application/json"}}).expect(t, http.StatusBadRequest)
		if p := r.problem(t); !strings.Contains(p.Detail, tt.detail) {
			t.Errorf("roll with %v: %q does not mention %q", tt.body, p.Detail, tt.detail)
		}
	}
	// A refused roll changed nothing.
	e.do(req{method: "GET", path: path, token: tok}).expect(t, http.StatusOK).decode(t, &got)
	if !got.PreviousSecretExpiresAt.Equal(*rolled.PreviousSecretExpiresAt) {
		t.Errorf("a refused roll moved the previous secret's expiry to %v", got.PreviousSecretExpiresAt)
	}
}

// TestWebhookAccess: webhooks need api-keys-manage, member events members-view too, and one
// project never reaches another's webhooks or messages.
func TestWebhookAccess(t *testing.T) {
	e := newEnv(t)
	owner := e.user("owner@example.com", false)
	shop := e.project("shop", owner, nil)
	e.project("blog", owner, nil)
	ownerTok := e.userToken(owner, "")
	keeper := e.user("keeper@example.com", false) // manages keys, does not see members
	e.member(shop, keeper, "api-keys-view", "api-keys-manage")
	keeperTok := e.userToken(keeper, "")
	viewer := e.user("viewer@example.com", false)
	e.member(shop, viewer, "api-keys-view", "members-view")
	viewerTok := e.userToken(viewer, "")
	stranger := e.userToken(e.user("stranger@example.com", false), "")

	members := e.createWebhook(ownerTok, "shop", "member.added", "api_key.created")
	blog := e.createWebhook(ownerTok, "blog", "api_key.created")
	e.member(shop, e.user("new@example.com", false), "containers-view") // a member.added message
	var msgs client.Page[client.WebhookMessage]
	e.do(req{method: "GET", path: "/v1/projects/shop/webhooks/" + members.ID + "/messages", token: ownerTok}).expect(t, http.StatusOK).decode(t, &msgs)
	if len(msgs.Data) != 1 || msgs.Data[0].Type != keyward.EventMemberAdded || msgs.Data[0].State != keyward.MessagePending || msgs.Data[0].NextAttemptAt == nil {
		t.Fatalf("messages after a member joined: %+v", msgs.Data)
	}
	msg := "/v1/projects/shop/webhooks/" + members.ID + "/messages/" + msgs.Data[0].ID

	// Member events: refused to subscribe without members-view, and their bodies hidden.
	r := e.do(req{method: "POST", path: "/v1/projects/shop/webhooks", token: keeperTok, body: map[string]any{
		"url": "https://hooks.example.com/k", "events": []string{"api_key.created", "member.removed"}}}).expect(t, http.StatusForbidden)
	if p := r.problem(t); !strings.Contains(p.Detail, "member.removed") || !strings.Contains(p.Detail, "members-view") {
		t.Errorf("member event without members-view: %q", p.Detail)
	}
	e.do(req{method: "PATCH", path: "/v1/projects/shop/webhooks/" + members.ID, token: keeperTok, body: map[string]any{"url": "https://evil.example.com/"}}).
		expect(t, http.StatusForbidden).problem(t)
	var hidden client.WebhookMessageDetail
	e.do(req{method: "GET", path: msg, token: keeperTok}).expect(t, http.StatusOK).decode(t, &hidden)
	if string(hidden.Body) != "null" {
		t.Errorf("a member event's body shown without members-view: %s", hidden.Body)
	}
	var shown client.WebhookMessageDetail
	e.do(req{method: "GET", path: msg, token: ownerTok}).expect(t, http.StatusOK).decode(t, &shown)
	if !strings.Contains(string(shown.Body), "new@example.com") {
		t.Errorf("member event body for the owner: %s", shown.Body)
	}
	keeperOwn := e.createWebhook(keeperTok, "shop", "api_key.created")
	if keeperOwn.Owner != keeper.ID {
		t.Errorf("webhook owner %q, want the creator %q", keeperOwn.Owner, keeper.ID)
	}

	// Without api-keys-manage, nothing: not even the list.
	own := "/v1/projects/shop/webhooks/" + members.ID
	for _, rq := range []req{
		{method: "GET", path: "/v1/projects/shop/webhooks"},
		{method: "POST", path: "/v1/projects/shop/webhooks", body: map[string]any{"url": "https://hooks.example.com/v", "events": []string{"api_key.created"}}},
		{method: "GET", path: own},
		{method: "PATCH", path: own, body: map[string]any{"events": []string{"api_key.created"}}},
		{method: "DELETE", path: own},
		{method: "POST", path: own + "/roll-secret"},
		{method: "POST", path: own + "/test"},
		{method: "GET", path: own + "/messages"},
		{method: "GET", path: msg},
		{method: "POST", path: msg + "/redeliver"},
	} {
		rq.token = viewerTok
		e.do(rq).expect(t, http.StatusForbidden).problem(t)
		rq.token = stranger
		e.do(rq).expect(t, http.StatusNotFound).problem(t)
	}

	// Another project's webhook, and messages under the wrong webhook, are not found.
	for _, path := range []string{
		"/v1/projects/shop/webhooks/" + blog.ID,
		"/v1/projects/shop/webhooks/" + blog.ID + "/messages",
		"/v1/projects/shop/webhooks/whk_0000000000000000",
		"/v1/projects/shop/webhooks/" + keeperOwn.ID + "/messages/" + msgs.Data[0].ID,
		"/v1/projects/blog/webhooks/" + blog.ID + "/messages/" + msgs.Data[0].ID,
		own + "/messages/msg_0000000000000000",
	} {
		e.do(req{method: "GET", path: path, token: ownerTok}).expect(t, http.StatusNotFound).problem(t)
	}
	e.do(req{method: "POST", path: "/v1/projects/shop/webhooks/" + blog.ID + "/test", token: ownerTok}).expect(t, http.StatusNotFound).problem(t)
	e.do(req{method: "POST", path: "/v1/projects/blog/webhooks/" + blog.ID + "/messages/" + msgs.Data[0].ID + "/redeliver", token: ownerTok}).
		expect(t, http.StatusNotFound).problem(t)
	e.do(req{method: "DELETE", path: "/v1/projects/shop/webhooks/" + blog.ID, token: ownerTok}).expect(t, http.StatusNotFound).problem(t)
	e.do(req{method: "GET", path: "/v1/projects/blog/webhooks/" + blog.ID, token: ownerTok}).expect(t, http.StatusOK)
}

// TestWebhookURLs: a webhook's target must be https on a public address unless the operator
// allows private ones; what the body holds is checked strictly.
func TestWebhookURLs(t *testing.T) {
	e := newEnv(t)
	owner := e.user("owner@example.com", false)
	e.project("shop", owner, nil)
	tok := e.userToken(owner, "")
	w := e.createWebhook(tok, "shop", "api_key.created")
	create := func(body any) *response {
		return e.do(req{method: "POST", path: "/v1/projects/shop/webhooks", token: tok, body: body})
	}
	events := []string{"api_key.created"}
	for _, tt := range []struct {
		name   string
		body   any
		detail string
	}{
		{"http", map[string]any{"url": "http://hooks.example.com/", "events": events}, "https"},
		{"loopback", map[string]any{"url": "https://127.0.0.1/hook", "events": events}, "URL"},
		{"loopback IPv6", map[string]any{"url": "https://[::1]:8443/hook", "events": events}, "URL"},
		{"private", map[string]any{"url": "https://10.1.2.3/hook", "events": events}, "URL"},
		{"metadata service", map[string]any{"url": "https://169.254.169.254/latest", "events": events}, "URL"},
		{"mapped loopback", map[string]any{"url": "https://[::ffff:127.0.0.1]/", "events": events}, "URL"},
		{"credentials", map[string]any{"url": "https://u:p@hooks.example.com/", "events": events}, "password"},
		{"relative", map[string]any{"url": "/hook", "events": events}, "URL"},
		{"no url", map[string]any{"events": events}, "URL"},
		{"no events", map[string]any{"url": "https://hooks.example.com/"}, "event"},
		{"unknown event", map[string]any{"url": "https://hooks.example.com/", "events": []string{"key.created"}}, "key.created"},
		{"test event", map[string]any{"url": "https://hooks.example.com/", "events": []string{"webhook.test"}}, "webhook.test"},
		{"events not a list", map[string]any{"url": "https://hooks.example.com/", "events": "api_key.created"}, "events"},
		{"unknown field", map[string]any{"url": "https://hooks.example.com/", "events": events, "secret": "whsec_x"}, "secret"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if p := create(tt.body).expect(t, http.StatusBadRequest).problem(t); !strings.Contains(p.Detail, tt.detail) {
				t.Errorf("detail %q does not mention %q", p.Detail, tt.detail)
			}
		})
	}
	path := "/v1/projects/shop/webhooks/" + w.ID
	for _, tt := range []struct {
		body   any
		detail string
	}{
		{map[string]any{}, "Nothing to change"},
		{map[string]any{"url": nil}, "null"},
		{map[string]any{"events": nil}, "null"},
		{map[string]any{"events": []string{}}, "event"},
		{map[string]any{"url": "https://192.168.1.1/"}, "URL"},
		{map[string]any{"owner": "usr_x"}, "owner"},
	} {
		if p := e.do(req{method: "PATCH", path: path, token: tok, body: tt.body}).expect(t, http.StatusBadRequest).problem(t); !strings.Contains(p.Detail, tt.detail) {
			t.Errorf("PATCH %v: %q does not mention %q", tt.body, p.Detail, tt.detail)
		}
	}
	e.do(req{method: "GET", path: "/v1/projects/shop/webhooks?all=1", token: tok}).expect(t, http.StatusBadRequest).problem(t)

	// The operator's choice admits local receivers.
	e.allowPrivateWebhooks()
	var local client.Webhook
	create(map[string]any{"url": "http://127.0.0.1:9999/hook", "events": events}).expect(t, http.StatusCreated).decode(t, &local)
	if local.URL != "http://127.0.0.1:9999/hook" {
		t.Errorf("local receiver stored as %q", local.URL)
	}
}

// TestWebhookMessagesOfKeyChanges: each key change of the API queues a pending message for the
// webhooks subscribed to it, listed newest first a page at a time.
func TestWebhookMessagesOfKeyChanges(t *testing.T) {
	e := newEnv(t)
	owner := e.user("owner@example.com", false)
	e.project("shop", owner, nil)
	tok := e.userToken(owner, "")
	all := e.createWebhook(tok, "shop", "api_key.created", "api_key.deleted", "api_key.rolled")
	onlyDeleted := e.createWebhook(tok, "shop", "api_key.deleted")
	var k client.Key
	e.do(req{method: "POST", path: "/v1/projects/shop/api-keys", token: tok, body: map[string]any{"name": "ci", "permissions": []string{"images-view"}}}).
		expect(t, http.StatusCreated).decode(t, &k)
	e.do(req{method: "POST", path: "/v1/projects/shop/api-keys/" + k.ID + "/roll", token: tok, body: map[string]any{}}).expect(t, http.StatusCreated)
	e.do(req{method: "DELETE", path: "/v1/projects/shop/api-keys/" + k.ID, token: tok}).expect(t, http.StatusNoContent)

	page := func(webhook, query string) client.Page[client.WebhookMessage] {
		t.Helper()
		var p client.Page[client.WebhookMessage]
		e.do(req{method: "GET", path: "/v1/projects/shop/webhooks/" + webhook + "/messages" + query, token: tok}).expect(t, http.StatusOK).decode(t, &p)
		return p
	}
	var types []string
	cursor := ""
	for range 4 {
		p := page(all.ID, "?limit=1"+cursor)
		for _, m := range p.Data {
			if m.State != keyward.MessagePending || m.Attempts != 0 || m.WebhookID != all.ID || !strings.HasPrefix(m.ID, "msg_") {
				t.Errorf("queued message %+v", m)
			}
			types = append(types, m.Type)
		}
		if p.Next == nil {
			break
		}
		cursor = "&cursor=" + *p.Next
	}
	if strings.Join(types, " ") != "api_key.deleted api_key.rolled api_key.created" {
		t.Errorf("messages newest first, a page at a time: %v", types)
	}
	if p := page(onlyDeleted.ID, ""); len(p.Data) != 1 || p.Data[0].Type != keyward.EventKeyDeleted || p.Next != nil {
		t.Errorf("the webhook of deletions only got %+v", p.Data)
	}
	if p := page(all.ID, "?q=api_key.rolled"); len(p.Data) != 1 || p.Data[0].Type != keyward.EventKeyRolled {
		t.Errorf("the messages of one type: %+v", p.Data)
	}
	if p := page(all.ID, "?q=delivered"); len(p.Data) != 0 {
		t.Errorf("no message was delivered, yet: %+v", p.Data)
	}
	for _, q := range []string{"?limit=0", "?limit=1001", "?cursor=", "?cursor=bogus", "?sort=asc"} {
		e.do(req{method: "GET", path: "/v1/projects/shop/webhooks/" + all.ID + "/messages" + q, token: tok}).expect(t, http.StatusBadRequest).problem(t)
	}

	// The deliveries as a sender records them: a failed attempt, whose answer is kept (cut, and
	// made valid text), then a delivered one. Both answers are checked against the document.
	ctx := t.Context()
	claimed, err := e.store.ClaimWebhookMessages(ctx, e.clock.Now(), time.Minute, 10)
	if err != nil || len(claimed) == 0 {
		t.Fatalf("claim: %d, %v", len(claimed), err)
	}
	m := claimed[0].Message
	next := e.clock.Now().Add(time.Minute)
	answer := strings.Repeat("x", 3000) + "\xff"
	if err := e.store.RecordWebhookAttempt(ctx, &keyward.WebhookAttempt{MessageID: m.ID, At: e.clock.Now(), Status: 503, Response: answer}, &next, false); err != nil {
		t.Fatal(err)
	}
	msgPath := "/v1/projects/shop/webhooks/" + m.WebhookID + "/messages/" + m.ID
	var failed client.WebhookMessageDetail
	e.do(req{method: "GET", path: msgPath, token: tok}).expect(t, http.StatusOK).decode(t, &failed)
	if failed.State != keyward.MessagePending || failed.LastStatus != 503 || len(failed.History) != 1 ||
		len(failed.History[0].Response) != keyward.WebhookResponseMaxLen || failed.NextAttemptAt == nil {
		t.Errorf("a message after a failed attempt: %+v", failed)
	}
	if err := e.store.RecordWebhookAttempt(ctx, &keyward.WebhookAttempt{MessageID: m.ID, At: next, Status: 204}, nil, false); err != nil {
		t.Fatal(err)
	}
	var delivered client.WebhookMessageDetail
	e.do(req{method: "GET", path: msgPath, token: tok}).expect(t, http.StatusOK).decode(t, &delivered)
	if delivered.State != keyward.MessageDelivered || delivered.DeliveredAt == nil || len(delivered.History) != 2 || delivered.History[0].Status != 204 {
		t.Errorf("a delivered message: %+v", delivered)
	}
	if p := page(m.WebhookID, "?q=delivered"); len(p.Data) != 1 || p.Data[0].ID != m.ID {
		t.Errorf("the delivered messages: %+v", p.Data)
	}
}

// TestKeyDisabledByMember: a member disables a key, which stops acting at once, and enables it
// again; a leaked key is enabled by a roll only.
func TestKeyDisabledByMember(t *testing.T) {
	e := newEnv(t)
	owner := e.user("owner@example.com", false)
	p := e.project("shop", owner, nil)
	tok := e.userToken(owner, "")
	k, _ := e.apiKey(p, "ci", "api-keys-view")
	path := "/v1/projects/shop/api-keys/" + k.ID
	keyTok := e.keyToken(k)
	e.do(req{method: "GET", path: "/v1/me", token: keyTok}).expect(t, http.StatusOK)

	var got client.Key
	e.do(req{method: "PATCH", path: path, token: tok, body: map[string]any{"disabled": true}}).expect(t, http.StatusOK).decode(t, &got)
	if got.State != "disabled" || got.DisabledReason != "member" {
		t.Errorf("disabled: state %q reason %q", got.State, got.DisabledReason)
	}
	e.do(req{method: "GET", path: "/v1/me", token: keyTok}).expect(t, http.StatusUnauthorized).problem(t)
	// The store refuses the session an exchange would start from the key as it now is.
	current, err := e.store.APIKey(e.ctx, k.ID)
	if err != nil {
		t.Fatal(err)
	}
	sid := e.newID(keyward.PrefixSession)
	err = e.store.CreateSession(e.ctx, &keyward.Session{ID: sid, Kind: keyward.SessionKey, KeyID: k.ID, ProjectID: p.ID, KeyRevision: current.Revision,
		CreatedAt: e.clock.Now(), ExpiresAt: e.clock.Now().Add(time.Hour)},
		&keyward.RefreshToken{Hash: []byte("h"), SessionID: sid, IssuedAt: e.clock.Now(), ExpiresAt: e.clock.Now().Add(time.Hour)})
	if keyward.ErrorCode(err) != keyward.ENOTFOUND {
		t.Errorf("a session of the disabled key: %v, want not found", err)
	}
	// Disabling again changes nothing; null is refused.
	e.do(req{method: "PATCH", path: path, token: tok, body: map[string]any{"disabled": true}}).expect(t, http.StatusOK)
	e.do(req{method: "PATCH", path: path, token: tok, body: map[string]any{"disabled": nil}}).expect(t, http.StatusBadRequest).problem(t)

	got = client.Key{}
	e.do(req{method: "PATCH", path: path, token: tok, body: map[string]any{"disabled": false}}).expect(t, http.StatusOK).decode(t, &got)
	if got.State != "active" || got.DisabledReason != "" {
		t.Errorf("enabled: state %q reason %q", got.State, got.DisabledReason)
	}
	if current, err = e.store.APIKey(e.ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	fresh, _ := e.session(&keyward.Session{Kind: keyward.SessionKey, KeyID: k.ID, ProjectID: p.ID, KeyRevision: current.Revision}, k.Permissions)
	e.do(req{method: "GET", path: "/v1/me", token: fresh}).expect(t, http.StatusOK)

	// Only a member who manages keys disables them.
	viewer := e.user("viewer@example.com", false)
	e.member(p, viewer, "api-keys-view")
	e.do(req{method: "PATCH", path: path, token: e.userToken(viewer, ""), body: map[string]any{"disabled": true}}).expect(t, http.StatusForbidden).problem(t)

	if _, _, err := e.store.DisableLeakedAPIKey(e.ctx, k.ID, keyward.AuditEvent{ProjectID: p.ID, At: e.clock.Now(), Actor: "leak-report", Action: "api_key.leaked", Target: "key:" + k.ID}); err != nil {
		t.Fatal(err)
	}
	r := e.do(req{method: "PATCH", path: path, token: tok, body: map[string]any{"disabled": false}}).expect(t, http.StatusBadRequest)
	if p := r.problem(t); !strings.Contains(p.Detail, "roll") {
		t.Errorf("enabling a leaked key: %q does not name the roll", p.Detail)
	}
	e.do(req{method: "GET", path: path, token: tok}).expect(t, http.StatusOK).decode(t, &got)
	if got.State != "disabled" || got.DisabledReason != keyward.KeyLeaked {
		t.Errorf("leaked key after a refused enable: %q %q", got.State, got.DisabledReason)
	}
	// A roll gives it a new secret, which enables it.
	var rolled client.Key
	e.do(req{method: "POST", path: path + "/roll", token: tok, body: map[string]any{}}).expect(t, http.StatusCreated).decode(t, &rolled)
	if rolled.State != "active" || rolled.DisabledReason != "" || rolled.Secret == "" {
		t.Errorf("leaked key after a roll: %q %q", rolled.State, rolled.DisabledReason)
	}
}

// TestWebhookLeavesNoTokenInTheAuditLog: a receiver's URL often carries its own token in the
// query; the audit log, read by people who may not manage webhooks, names the URL without it.
func TestWebhookLeavesNoTokenInTheAuditLog(t *testing.T) {
	e := newEnv(t)
	owner := e.user("owner@example.com", false)
	e.project("shop", owner, nil)
	tok := e.userToken(owner, "")
	var w client.Webhook
	e.do(req{method: "POST", path: "/v1/projects/shop/webhooks", token: tok, body: map[string]any{
		"url": "https://hooks.example.com/in?token=s3cr3t-receiver-token", "events": []string{"api_key.created"},
	}}).expect(t, http.StatusCreated).decode(t, &w)
	e.do(req{method: "DELETE", path: "/v1/projects/shop/webhooks/" + w.ID, token: tok}).expect(t, http.StatusNoContent)
	r := e.do(req{method: "GET", path: "/v1/projects/shop/audit", token: tok}).expect(t, http.StatusOK)
	if strings.Contains(string(r.body), "s3cr3t") || !strings.Contains(string(r.body), "hooks.example.com/in?…") {
		t.Errorf("the audit log of a webhook with a token in its URL: %s", r.body)
	}
}

// TestWebhookTestEventsAreBounded: test events waiting for a receiver that does not answer are
// bounded, so pressing the button cannot fill the outbox; redelivering one still works.
func TestWebhookTestEventsAreBounded(t *testing.T) {
	e := newEnv(t)
	owner := e.user("owner@example.com", false)
	e.project("shop", owner, nil)
	tok := e.userToken(owner, "")
	w := e.createWebhook(tok, "shop", "api_key.created")
	path := "/v1/projects/shop/webhooks/" + w.ID + "/test"
	var first client.WebhookMessage
	e.do(req{method: "POST", path: path, token: tok}).expect(t, http.StatusAccepted).decode(t, &first)
	for range 4 {
		e.do(req{method: "POST", path: path, token: tok}).expect(t, http.StatusAccepted)
	}
	r := e.do(req{method: "POST", path: path, token: tok}).expect(t, http.StatusConflict)
	if p := r.problem(t); !strings.Contains(p.Detail, "still waiting to be delivered") {
		t.Errorf("the sixth pending test event: %q", p.Detail)
	}
	e.do(req{method: "POST", path: "/v1/projects/shop/webhooks/" + w.ID + "/messages/" + first.ID + "/redeliver", token: tok}).
		expect(t, http.StatusAccepted)
}

package webhooktest_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/internal/kwtest"
	"github.com/keyward/keyward/internal/proctest"
	"github.com/keyward/keyward/internal/webhooktest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	proctest.Clean()
	os.Exit(code)
}

// instance is a running `keyward serve` with its admin signed in.
type instance struct {
	*kwtest.Client
	proc  *proctest.Process
	admin string // the admin's access token
}

// startKeyward runs keyward on a fresh SQLite database, delivering webhooks to loopback (the
// receiver's address) and retrying after 200 ms, 400 ms, 800 ms…, so that five failures take
// seconds.
func startKeyward(t *testing.T) *instance {
	t.Helper()
	s := proctest.ServeSpec(proctest.Keyward(t), "--db", "sqlite:"+filepath.Join(t.TempDir(), "keyward.db"),
		"--webhook-allow-private", "--webhook-retry-base", "200ms")
	s.Env = []string{"KEYWARD_ADMIN_EMAIL=" + kwtest.AdminEmail, "KEYWARD_ADMIN_PASSWORD=" + kwtest.AdminPassword,
		"KEYWARD_MASTER_KEY=" + kwtest.NewMasterKey()}
	in := &instance{proc: proctest.Start(t, s)}
	in.connect(t)
	return in
}

func (in *instance) connect(t *testing.T) {
	t.Helper()
	in.Client = kwtest.NewClient("http://" + in.proc.Addr())
	in.admin = in.Login(t, kwtest.AdminEmail, kwtest.AdminPassword, "").AccessToken
}

// restart starts keyward again on the same database and address, after a graceful stop or a
// kill.
func (in *instance) restart(t *testing.T) {
	t.Helper()
	in.proc = in.proc.RestartT(t)
	in.connect(t)
}

// call makes a management API call as the admin and fails the test unless it answers want.
func (in *instance) call(t *testing.T, want int, method, path string, body any, out any) {
	t.Helper()
	r := in.API(t, method, path, in.admin, body)
	if r.Status != want {
		t.Fatalf("%s %s: %s, want %d", method, path, r, want)
	}
	if out != nil {
		r.JSON(t, out)
	}
}

// hook and message are the client package's wire types: the test reads what the server sends
// as every client does.
type (
	hook    = client.Webhook
	message = client.WebhookMessageDetail
)

const project = "default" // created by the first start

func (in *instance) createWebhook(t *testing.T, hookURL string, events ...string) *hook {
	t.Helper()
	var w hook
	in.call(t, http.StatusCreated, http.MethodPost, "/v1/projects/"+project+"/webhooks", map[string]any{"url": hookURL, "events": events}, &w)
	if w.ID == "" || w.Secret == "" || w.URL != hookURL {
		t.Fatalf("created webhook = %+v", w)
	}
	var list struct{ Data []json.RawMessage }
	in.call(t, http.StatusOK, http.MethodGet, "/v1/projects/"+project+"/webhooks", nil, &list)
	if len(list.Data) == 0 {
		t.Fatal("the webhook list is empty")
	}
	for _, raw := range list.Data {
		var listed map[string]any
		if err := json.Unmarshal(raw, &listed); err != nil {
			t.Fatal(err)
		}
		if _, ok := listed["secret"]; ok {
			t.Fatalf("the webhook list shows a secret: %s", raw)
		}
	}
	return &w
}

func (in *instance) message(t *testing.T, w *hook, id string) *message {
	t.Helper()
	var m message
	in.call(t, http.StatusOK, http.MethodGet, "/v1/projects/"+project+"/webhooks/"+w.ID+"/messages/"+id, nil, &m)
	return &m
}

func (in *instance) createKey(t *testing.T, name string, expires *time.Time) *kwtest.Key {
	t.Helper()
	return in.CreateKey(t, in.admin, project, kwtest.KeyRequest{Name: name, Permissions: []string{"containers-view"}, ExpiresAt: expires})
}

// TestEveryEvent: a receiver that verifies signatures with the standardwebhooks package gets
// every event type a webhook may subscribe to, each caused through keyward's public surface.
func TestEveryEvent(t *testing.T) {
	kw := startKeyward(t)
	port := webhooktest.FreePort(t)
	w := kw.createWebhook(t, fmt.Sprintf("http://127.0.0.1:%d/hook", port), keyward.WebhookEvents()...)
	rcv := webhooktest.Start(t, webhooktest.Options{Port: port, Secrets: []string{w.Secret}})
	keyPath := func(id string) string { return "/v1/projects/" + project + "/api-keys/" + id }

	created := kw.createKey(t, "created", nil)
	kw.call(t, http.StatusOK, http.MethodPatch, keyPath(created.ID), map[string]any{"name": "updated"}, nil)
	kw.call(t, http.StatusCreated, http.MethodPost, keyPath(created.ID)+"/roll", map[string]any{"grace": "1h"}, nil)
	kw.call(t, http.StatusNoContent, http.MethodDelete, keyPath(created.ID), nil, nil)

	disabled := kw.createKey(t, "disabled", nil)
	kw.call(t, http.StatusOK, http.MethodPatch, keyPath(disabled.ID), map[string]any{"disabled": true}, nil)

	// A key's holder reports it leaked by revoking the key itself.
	leaked := kw.createKey(t, "leaked", nil)
	if r := kw.PostForm(t, "/oauth/revoke", url.Values{"token": {leaked.Secret}, "token_type_hint": {"api_key"}}.Encode()); r.Status != http.StatusOK {
		t.Fatalf("self-revocation: %s", r)
	}

	// A refresh token presented twice.
	reused := kw.createKey(t, "reused", nil)
	tok := kw.Exchange(t, reused.Secret)
	kwtest.RequireToken(t, kw.Refresh(t, tok.RefreshToken))
	kwtest.RequireOAuthError(t, kw.Refresh(t, tok.RefreshToken), http.StatusBadRequest, "invalid_grant")

	// A member added, changed, removed.
	u := kw.CreateUser(t, kw.admin, "member-"+fmt.Sprint(time.Now().UnixNano())+"@example.com", kwtest.AdminPassword)
	memberPath := "/v1/projects/" + project + "/members/" + u.ID
	kw.call(t, http.StatusCreated, http.MethodPut, memberPath, map[string]any{"permissions": []string{"containers-view"}}, nil)
	kw.call(t, http.StatusOK, http.MethodPut, memberPath, map[string]any{"permissions": []string{"containers-view", "api-keys-view"}}, nil)
	kw.call(t, http.StatusNoContent, http.MethodDelete, memberPath, nil, nil)

	// A key expiring in 3 days is reminded 7 days ahead; reminders are looked for at start.
	expiry := time.Now().Add(72 * time.Hour).Truncate(time.Second)
	expiring := kw.createKey(t, "expiring", &expiry)
	kw.restart(t)

	want := map[string]func(webhooktest.Event) bool{
		keyward.EventKeyCreated: func(e webhooktest.Event) bool { return e.Data.KeyID == created.ID && e.Data.KeyName == "created" },
		keyward.EventKeyUpdated: func(e webhooktest.Event) bool { return e.Data.KeyID == created.ID && e.Data.KeyName == "updated" },
		keyward.EventKeyRolled:  func(e webhooktest.Event) bool { return e.Data.KeyID == created.ID && e.Data.GraceEndsAt != nil },
		keyward.EventKeyDeleted: func(e webhooktest.Event) bool { return e.Data.KeyID == created.ID },
		keyward.EventKeyDisabled: func(e webhooktest.Event) bool {
			return e.Data.KeyID == disabled.ID && e.Data.Reason == keyward.KeyDisabledByMember
		},
		keyward.EventKeyLeaked: func(e webhooktest.Event) bool { return e.Data.KeyID == leaked.ID && e.Data.Reason == keyward.KeyLeaked },
		keyward.EventKeyExpiring: func(e webhooktest.Event) bool {
			return e.Data.KeyID == expiring.ID && e.Data.ExpiresAt != nil && e.Data.ExpiresAt.Equal(expiry)
		},
		keyward.EventSessionReuse: func(e webhooktest.Event) bool {
			return e.Data.KeyID == reused.ID && e.Data.SessionID != "" && e.Data.Subject == "key:"+reused.ID
		},
		keyward.EventMemberAdded:   func(e webhooktest.Event) bool { return e.Data.UserID == u.ID && e.Data.Email == u.Email },
		keyward.EventMemberChanged: func(e webhooktest.Event) bool { return e.Data.UserID == u.ID },
		keyward.EventMemberRemoved: func(e webhooktest.Event) bool { return e.Data.UserID == u.ID },
	}
	for _, typ := range keyward.WebhookEvents() {
		match, ok := want[typ]
		if !ok {
			t.Fatalf("the test does not cause %s", typ)
		}
		e := webhooktest.WaitEvent(t, rcv.Dir, time.Minute, typ, func(e webhooktest.Event) bool { return e.Type == typ && match(e) })
		if e.Data.ProjectID == "" {
			t.Errorf("%s names no project: %+v", typ, e.Data)
		}
	}
	for _, d := range webhooktest.Deliveries(t, rcv.Dir) {
		if d.Status == http.StatusUnauthorized {
			t.Errorf("delivery %s did not verify", d.ID)
		}
	}
}

// TestKilledBeforeDelivery: keyward killed with SIGKILL between a change and its delivery (the
// receiver is down, so the message waits in the outbox) delivers it after a restart, and every
// request the receiver got for it carries one webhook-id, so it accepts the event exactly once.
// A kill in the middle of a send leaves the message to the claim's lease, which the store's
// conformance suite covers (WebhookClaims).
func TestKilledBeforeDelivery(t *testing.T) {
	kw := startKeyward(t)
	port := webhooktest.FreePort(t)
	w := kw.createWebhook(t, fmt.Sprintf("http://127.0.0.1:%d/hook", port), keyward.EventKeyCreated)
	dir := t.TempDir()

	// The receiver is down: the change commits, its delivery cannot happen, and keyward dies.
	k := kw.createKey(t, "before-the-crash", nil)
	kw.proc.Kill()

	rcv := webhooktest.Start(t, webhooktest.Options{Port: port, Secrets: []string{w.Secret}, Dir: dir})
	kw.restart(t)
	e := webhooktest.WaitEvent(t, rcv.Dir, time.Minute, "api_key.created after the restart", func(e webhooktest.Event) bool {
		return e.Type == keyward.EventKeyCreated && e.Data.KeyID == k.ID
	})
	m := kw.message(t, w, e.ID)
	if m.State != keyward.MessageDelivered || m.Type != keyward.EventKeyCreated {
		t.Fatalf("message %s after delivery: %+v", e.ID, m)
	}
	// One event id for the change, accepted once; keyward may have delivered it more than once
	// (a send cut by the kill), which the receiver drops.
	var ids []string
	for _, got := range webhooktest.Events(t, rcv.Dir) {
		if got.Type == keyward.EventKeyCreated && got.Data.KeyID == k.ID {
			ids = append(ids, got.ID)
		}
	}
	raw := 0
	for _, d := range webhooktest.Deliveries(t, rcv.Dir) {
		if d.Type != keyward.EventKeyCreated {
			continue
		}
		if d.ID != e.ID {
			t.Errorf("a delivery of the change came with another webhook-id: %s, not %s", d.ID, e.ID)
		}
		raw++
	}
	if len(ids) != 1 || raw < 1 {
		t.Fatalf("the change reached the receiver as %d events in %d requests: %v", len(ids), raw, ids)
	}
	t.Logf("message %s: %d raw deliveries, accepted once", e.ID, raw)
}

// TestFailingReceiver: a receiver that fails five times gets the message on the sixth attempt,
// and the message's page shows the six attempts.
func TestFailingReceiver(t *testing.T) {
	kw := startKeyward(t)
	port := webhooktest.FreePort(t)
	w := kw.createWebhook(t, fmt.Sprintf("http://127.0.0.1:%d/hook", port), keyward.EventKeyCreated)
	rcv := webhooktest.Start(t, webhooktest.Options{Port: port, Secrets: []string{w.Secret}, FailFirst: 5})

	kw.call(t, http.StatusAccepted, http.MethodPost, "/v1/projects/"+project+"/webhooks/"+w.ID+"/test", nil, nil)
	k := kw.createKey(t, "flaky", nil)
	for _, what := range []struct {
		typ   string
		match func(webhooktest.Event) bool
	}{
		{keyward.EventWebhookTest, func(e webhooktest.Event) bool { return e.Type == keyward.EventWebhookTest }},
		{keyward.EventKeyCreated, func(e webhooktest.Event) bool { return e.Type == keyward.EventKeyCreated && e.Data.KeyID == k.ID }},
	} {
		e := webhooktest.WaitEvent(t, rcv.Dir, 2*time.Minute, what.typ, what.match)
		if e.AttemptCount != 6 {
			t.Errorf("%s accepted at delivery %d, want 6", what.typ, e.AttemptCount)
		}
		m := kw.message(t, w, e.ID)
		var statuses []int
		for _, a := range m.History {
			statuses = append(statuses, a.Status)
		}
		if m.State != keyward.MessageDelivered || !slices.Equal(statuses, []int{200, 500, 500, 500, 500, 500}) {
			t.Errorf("%s message %s: state %s, attempts (newest first) %v", what.typ, e.ID, m.State, statuses)
		}
	}
}

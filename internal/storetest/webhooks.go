package storetest

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/keyward/keyward"
)

// newWebhook stores a webhook of p set up by owner, subscribed to events, created at.
func newWebhook(t testing.TB, s keyward.Store, p *keyward.Project, owner *keyward.User, at time.Time, events ...string) *keyward.Webhook {
	t.Helper()
	w := &keyward.Webhook{
		ID: newID(t, keyward.PrefixWebhook), ProjectID: p.ID, URL: "https://hooks.example.com/" + randomLower(t),
		Events: events, Owner: owner.ID, Secret: []byte("sealed " + randomString(t, 24)), CreatedAt: at, UpdatedAt: at,
	}
	must(t, s.CreateWebhook(t.Context(), w))
	return w
}

// sentEvent is a message's body as a receiver reads it.
type sentEvent struct {
	Type      string            `json:"type"`
	Timestamp string            `json:"timestamp"`
	Data      keyward.EventData `json:"data"`
}

// parseBody decodes a message's body strictly: exactly {"type","timestamp","data"}, with no
// field a receiver would not know, and the type the message is listed under.
func parseBody(t testing.TB, m *keyward.WebhookMessage) sentEvent {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(m.Body))
	dec.DisallowUnknownFields()
	var e sentEvent
	if err := dec.Decode(&e); err != nil {
		t.Fatalf("message %s: body %s: %v", m.ID, m.Body, err)
	}
	if e.Type != m.Type {
		t.Fatalf("message %s is listed as %q, its body says %q", m.ID, m.Type, e.Type)
	}
	at, err := time.Parse(time.RFC3339Nano, e.Timestamp)
	if err != nil || !at.Equal(m.CreatedAt) {
		t.Fatalf("message %s: timestamp %q (%v), created %v", m.ID, e.Timestamp, err, m.CreatedAt)
	}
	return e
}

// messagesOf returns every message queued for w, oldest first.
func messagesOf(t testing.TB, s keyward.Store, w *keyward.Webhook) []*keyward.WebhookMessage {
	t.Helper()
	all := pageThrough(t, "", 100, func(p keyward.Page) ([]*keyward.WebhookMessage, string, error) {
		return s.WebhookMessagePage(t.Context(), w.ProjectID, w.ID, p)
	})
	slices.Reverse(all) // pages come newest first
	return all
}

// eventsOf returns the events queued for w, oldest first, as receivers get them.
func eventsOf(t testing.TB, s keyward.Store, w *keyward.Webhook) []sentEvent {
	t.Helper()
	var out []sentEvent
	for _, m := range messagesOf(t, s, w) {
		if m.State != keyward.MessagePending || m.NextAttemptAt == nil || !m.NextAttemptAt.Equal(m.CreatedAt) || m.Attempts != 0 {
			t.Fatalf("new message %s: state %s, next %v, %d attempts", m.ID, m.State, m.NextAttemptAt, m.Attempts)
		}
		full, _ := message(t, s, w.ProjectID, m.ID) // a page leaves the bodies out
		out = append(out, parseBody(t, full))
	}
	return out
}

// event is what a test expects of one emitted event.
func event(typ string, at time.Time, d keyward.EventData) sentEvent {
	return sentEvent{Type: typ, Timestamp: at.UTC().Format(time.RFC3339Nano), Data: d}
}

// enqueue queues a test event for w alone at at and returns its message.
func enqueue(t testing.TB, s keyward.Store, w *keyward.Webhook, typ string, at time.Time) *keyward.WebhookMessage {
	t.Helper()
	msgs, err := s.EnqueueWebhookEvent(t.Context(), keyward.WebhookEvent{Type: typ, At: at, Data: keyward.EventData{ProjectID: w.ProjectID}}, w.ID)
	must(t, err)
	if len(msgs) != 1 || msgs[0].WebhookID != w.ID {
		t.Fatalf("EnqueueWebhookEvent queued %d messages", len(msgs))
	}
	return msgs[0]
}

// claimOf claims the due messages at now and returns the ids of those of project p, failing when
// the same message comes twice in one claim.
func claimOf(t testing.TB, s keyward.Store, p *keyward.Project, now time.Time, lease time.Duration, limit int) []*keyward.WebhookDelivery {
	t.Helper()
	got, err := s.ClaimWebhookMessages(t.Context(), now, lease, limit)
	must(t, err)
	if len(got) > limit {
		t.Fatalf("claimed %d messages, limit %d", len(got), limit)
	}
	var out []*keyward.WebhookDelivery
	for i := range got {
		d := &got[i]
		if d.Message.ProjectID != p.ID {
			continue
		}
		if d.Webhook == nil || d.Webhook.ID != d.Message.WebhookID || d.Webhook.ProjectID != p.ID {
			t.Fatalf("message %s of webhook %s claimed with webhook %+v", d.Message.ID, d.Message.WebhookID, d.Webhook)
		}
		out = append(out, d)
	}
	return out
}

func deliveryIDs(ds []*keyward.WebhookDelivery) []string {
	out := []string{}
	for _, d := range ds {
		out = append(out, d.Message.ID)
	}
	return out
}

// message reads a message and its attempts.
func message(t testing.TB, s keyward.Store, projectID, id string) (*keyward.WebhookMessage, []*keyward.WebhookAttempt) {
	t.Helper()
	m, attempts, err := s.WebhookMessage(t.Context(), projectID, id)
	must(t, err)
	return m, attempts
}

// testWebhooks: webhooks are stored, listed oldest first, edited and deleted within their project
// only; a project holds at most WebhookMaxPerProject; deleting a webhook or its project deletes
// its messages.
func testWebhooks(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	u := newUser(t, s)
	p, q := newProject(t, s, u), newProject(t, s, u)

	w := newWebhook(t, s, p, u, t0, keyward.EventMemberAdded, keyward.EventKeyCreated, keyward.EventKeyCreated)
	got, err := s.Webhook(ctx, p.ID, w.ID)
	must(t, err)
	want := *w
	want.Events = []string{keyward.EventKeyCreated, keyward.EventMemberAdded} // sorted, once each
	sameJSON(t, "stored webhook", got, &want)
	second := newWebhook(t, s, p, u, t0.Add(time.Second), keyward.EventKeyDeleted)
	list, err := s.Webhooks(ctx, p.ID)
	must(t, err)
	if len(list) != 2 || list[0].ID != w.ID || list[1].ID != second.ID {
		t.Fatalf("Webhooks = %v", list)
	}

	// Another project sees none of them, and cannot reach them by id.
	if list, err := s.Webhooks(ctx, q.ID); err != nil || len(list) != 0 {
		t.Fatalf("another project's webhooks = %v, %v", list, err)
	}
	_, err = s.Webhook(ctx, q.ID, w.ID)
	wantCode(t, err, keyward.ENOTFOUND)
	url := "https://evil.example.com/"
	_, err = s.UpdateWebhook(ctx, q.ID, w.ID, keyward.WebhookChange{URL: &url}, t0)
	wantCode(t, err, keyward.ENOTFOUND)
	wantCode(t, s.DeleteWebhook(ctx, q.ID, w.ID), keyward.ENOTFOUND)
	_, err = s.Webhook(ctx, p.ID, "whk_unknown")
	wantCode(t, err, keyward.ENOTFOUND)
	orphan := &keyward.Webhook{ID: newID(t, keyward.PrefixWebhook), ProjectID: "prj_unknown", URL: url, Owner: u.ID, Secret: []byte("x"), CreatedAt: t0, UpdatedAt: t0}
	wantCode(t, s.CreateWebhook(ctx, orphan), keyward.ENOTFOUND)

	// An edit replaces what it names and keeps the rest.
	at := t0.Add(time.Minute)
	v := newUser(t, s)
	url = "https://hooks.example.com/moved"
	events := []string{keyward.EventKeyRolled, keyward.EventKeyDeleted}
	got, err = s.UpdateWebhook(ctx, p.ID, w.ID, keyward.WebhookChange{URL: &url, Events: &events, Owner: v.ID}, at)
	must(t, err)
	want.URL, want.Events, want.Owner, want.UpdatedAt = url, []string{keyward.EventKeyDeleted, keyward.EventKeyRolled}, v.ID, at
	sameJSON(t, "edited webhook", got, &want)
	read, err := s.Webhook(ctx, p.ID, w.ID)
	must(t, err)
	sameJSON(t, "edited webhook read back", read, &want)

	// A rolled secret keeps the previous one until the time given; a roll without a grace drops it.
	grace := at.Add(time.Hour)
	got, err = s.UpdateWebhook(ctx, p.ID, w.ID, keyward.WebhookChange{Secret: []byte("sealed rolled"), PreviousExpiry: &grace}, at)
	must(t, err)
	if string(got.Secret) != "sealed rolled" || !bytes.Equal(got.PreviousSecret, w.Secret) || got.PreviousExpiresAt == nil ||
		!got.PreviousExpiresAt.Equal(grace) || got.URL != url {
		t.Fatalf("rolled webhook = %+v", got)
	}
	if read, _ = s.Webhook(ctx, p.ID, w.ID); !bytes.Equal(read.PreviousSecret, w.Secret) || !read.PreviousExpiresAt.Equal(grace) {
		t.Fatalf("rolled webhook read back = %+v", read)
	}
	got, err = s.UpdateWebhook(ctx, p.ID, w.ID, keyward.WebhookChange{Secret: []byte("sealed again")}, at)
	must(t, err)
	if read, _ = s.Webhook(ctx, p.ID, w.ID); string(read.Secret) != "sealed again" || read.PreviousSecret != nil || read.PreviousExpiresAt != nil ||
		got.PreviousSecret != nil {
		t.Fatalf("webhook rolled without grace = %+v", read)
	}

	// Deleting a webhook deletes its messages; another webhook's stay.
	gone := enqueue(t, s, w, keyward.EventWebhookTest, at)
	kept := enqueue(t, s, second, keyward.EventWebhookTest, at)
	must(t, s.DeleteWebhook(ctx, p.ID, w.ID))
	_, err = s.Webhook(ctx, p.ID, w.ID)
	wantCode(t, err, keyward.ENOTFOUND)
	wantCode(t, s.DeleteWebhook(ctx, p.ID, w.ID), keyward.ENOTFOUND)
	_, _, err = s.WebhookMessage(ctx, p.ID, gone.ID)
	wantCode(t, err, keyward.ENOTFOUND)
	wantCode(t, s.RecordWebhookAttempt(ctx, &keyward.WebhookAttempt{MessageID: gone.ID, At: at, Status: 200}, nil, false), keyward.ENOTFOUND)
	_, err = s.RedeliverWebhookMessage(ctx, p.ID, gone.ID, at)
	wantCode(t, err, keyward.ENOTFOUND)
	message(t, s, p.ID, kept.ID)

	// Deleting the project deletes its webhooks and their messages.
	must(t, s.DeleteProject(ctx, p.ID, at))
	_, err = s.Webhook(ctx, p.ID, second.ID)
	wantCode(t, err, keyward.ENOTFOUND)
	if list, err := s.Webhooks(ctx, p.ID); err != nil || len(list) != 0 {
		t.Fatalf("deleted project's webhooks = %v, %v", list, err)
	}
	_, _, err = s.WebhookMessage(ctx, p.ID, kept.ID)
	wantCode(t, err, keyward.ENOTFOUND)
}

// testWebhookLimit: a project holds at most WebhookMaxPerProject webhooks, even when they are
// created at once; deleting one makes room.
func testWebhookLimit(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	u := newUser(t, s)
	p, q := newProject(t, s, u), newProject(t, s, u)
	for range keyward.WebhookMaxPerProject - 4 {
		newWebhook(t, s, p, u, t0, keyward.EventKeyCreated)
	}
	ok := race(t, 8, keyward.ECONFLICT, func(int) error {
		return s.CreateWebhook(ctx, &keyward.Webhook{ID: newID(t, keyward.PrefixWebhook), ProjectID: p.ID, URL: "https://hooks.example.com/",
			Events: []string{keyward.EventKeyCreated}, Owner: u.ID, Secret: []byte("x"), CreatedAt: t0, UpdatedAt: t0})
	})
	list, err := s.Webhooks(ctx, p.ID)
	must(t, err)
	if ok != 4 || len(list) != keyward.WebhookMaxPerProject {
		t.Fatalf("%d of 8 concurrent creations succeeded, the project has %d webhooks; want 4 and %d", ok, len(list), keyward.WebhookMaxPerProject)
	}
	err = s.CreateWebhook(ctx, &keyward.Webhook{ID: newID(t, keyward.PrefixWebhook), ProjectID: p.ID, URL: "https://hooks.example.com/",
		Events: []string{keyward.EventKeyCreated}, Owner: u.ID, Secret: []byte("x"), CreatedAt: t0, UpdatedAt: t0})
	wantCode(t, err, keyward.ECONFLICT)
	newWebhook(t, s, q, u, t0, keyward.EventKeyCreated) // the limit is per project
	must(t, s.DeleteWebhook(ctx, p.ID, list[0].ID))
	newWebhook(t, s, p, u, t0, keyward.EventKeyCreated)
}

// testWebhookOutbox: every change queues, in its own transaction, exactly the event it describes
// for the project's webhooks subscribed to it; a change that fails queues nothing. Bodies name
// the project, the key or member, the reason and the actor.
func testWebhookOutbox(t *testing.T, s keyward.Store) {
	u, v := newUser(t, s), newUser(t, s)
	p, _, viewer := projectWithRoles(t, s, u)
	q := newProject(t, s, u)
	all := newWebhook(t, s, p, u, t0, keyward.WebhookEvents()...)
	created := newWebhook(t, s, p, u, t0, keyward.EventKeyCreated)
	foreign := newWebhook(t, s, q, u, t0, keyward.WebhookEvents()...)
	actor := "user:" + u.ID
	ctx := keyward.WithActor(t.Context(), actor)
	var want []sentEvent
	check := func(what string) {
		t.Helper()
		sameJSON(t, what, eventsOf(t, s, all), want)
	}

	// Created; a second key of the same name is refused and queues nothing.
	at := t0.Add(time.Second)
	k := &keyward.APIKey{ID: randomString(t, keyward.IDLength), ProjectID: p.ID, Name: "deploy", Permissions: []string{"api-keys-view"},
		SecretHash: newSecretHash(t), Hint: "abcd", CreatedBy: actor, Owner: u.ID, CreatedAt: at}
	must(t, s.CreateAPIKey(ctx, k))
	want = append(want, event(keyward.EventKeyCreated, at, keyward.EventData{ProjectID: p.ID, Actor: actor, KeyID: k.ID, KeyName: "deploy"}))
	check("after creation")
	dup := *k
	dup.ID, dup.CreatedAt = randomString(t, keyward.IDLength), at.Add(time.Second)
	wantCode(t, s.CreateAPIKey(ctx, &dup), keyward.ECONFLICT)
	check("after a refused creation")
	sameJSON(t, "the subscriber of api_key.created", eventsOf(t, s, created), want)

	// Updated, rolled with the previous secret's grace, disabled by a member, enabled again.
	at = at.Add(time.Minute)
	_, err := s.UpdateAPIKey(ctx, p.ID, k.ID, keyward.APIKeyChange{Name: ptr("deploy-2")}, at)
	must(t, err)
	want = append(want, event(keyward.EventKeyUpdated, at, keyward.EventData{ProjectID: p.ID, Actor: actor, KeyID: k.ID, KeyName: "deploy-2"}))
	at = at.Add(time.Minute)
	grace := at.Add(time.Hour)
	_, err = s.RollAPIKey(ctx, p.ID, k.ID, newSecretHash(t), "wxyz", grace, at)
	must(t, err)
	want = append(want, event(keyward.EventKeyRolled, at, keyward.EventData{ProjectID: p.ID, Actor: actor, KeyID: k.ID, KeyName: "deploy-2", GraceEndsAt: &grace}))
	at = at.Add(time.Minute)
	_, err = s.UpdateAPIKey(ctx, p.ID, k.ID, keyward.APIKeyChange{Disabled: ptr(true)}, at)
	must(t, err)
	want = append(want, event(keyward.EventKeyDisabled, at, keyward.EventData{ProjectID: p.ID, Actor: actor, KeyID: k.ID, KeyName: "deploy-2",
		Reason: keyward.KeyDisabledByMember}))
	at = at.Add(time.Minute)
	_, err = s.UpdateAPIKey(ctx, p.ID, k.ID, keyward.APIKeyChange{Disabled: ptr(false)}, at)
	must(t, err)
	want = append(want, event(keyward.EventKeyUpdated, at, keyward.EventData{ProjectID: p.ID, Actor: actor, KeyID: k.ID, KeyName: "deploy-2"}))
	check("after edits")

	// Leaked: the reporter is the actor, whoever's context the call runs in. Enabling the leaked
	// key is refused and queues nothing.
	at = at.Add(time.Minute)
	_, did, err := s.DisableLeakedAPIKey(ctx, k.ID, keyward.AuditEvent{At: at, Actor: "key:" + k.ID, Detail: "source=self url=https://paste.example.com/x"})
	must(t, err)
	if !did {
		t.Fatal("DisableLeakedAPIKey did nothing")
	}
	want = append(want, event(keyward.EventKeyLeaked, at, keyward.EventData{ProjectID: p.ID, Actor: "key:" + k.ID, KeyID: k.ID, KeyName: "deploy-2",
		Reason: keyward.KeyLeaked, URL: "https://paste.example.com/x"}))
	_, err = s.UpdateAPIKey(ctx, p.ID, k.ID, keyward.APIKeyChange{Disabled: ptr(false)}, at.Add(time.Second))
	wantCode(t, err, keyward.EINVALID)
	// A report with no reporter (a secret scanner) names no actor.
	scanned := ownedKey(t, s, p, u, "api-keys-view")
	want = append(want, event(keyward.EventKeyCreated, t0, keyward.EventData{ProjectID: p.ID, KeyID: scanned.ID, KeyName: scanned.Name}))
	_, _, err = s.DisableLeakedAPIKey(ctx, scanned.ID, keyward.AuditEvent{At: at, Detail: "source=github url=https://github.com/o/r"})
	must(t, err)
	want = append(want, event(keyward.EventKeyLeaked, at, keyward.EventData{ProjectID: p.ID, KeyID: scanned.ID, KeyName: scanned.Name,
		Reason: keyward.KeyLeaked, URL: "https://github.com/o/r"}))
	check("after leaks")

	// Deleted.
	at = at.Add(time.Minute)
	must(t, s.DeleteAPIKey(ctx, p.ID, k.ID, at))
	want = append(want, event(keyward.EventKeyDeleted, at, keyward.EventData{ProjectID: p.ID, Actor: actor, KeyID: k.ID, KeyName: "deploy-2"}))
	wantCode(t, s.DeleteAPIKey(ctx, p.ID, k.ID, at), keyward.ENOTFOUND)
	check("after deletion")

	// Members: added, changed; a change that would leave the project without an owner is
	// refused and queues nothing.
	at = at.Add(time.Minute)
	must(t, s.PutMember(ctx, &keyward.Member{ProjectID: p.ID, UserID: v.ID, Permissions: allPermissions, CreatedAt: at, UpdatedAt: at}))
	want = append(want, event(keyward.EventMemberAdded, at, keyward.EventData{ProjectID: p.ID, Actor: actor, UserID: v.ID, Email: v.Email}))
	at = at.Add(time.Minute)
	must(t, s.PutMember(ctx, &keyward.Member{ProjectID: p.ID, UserID: v.ID, Permissions: allPermissions, RoleID: viewer.ID, CreatedAt: at, UpdatedAt: at}))
	want = append(want, event(keyward.EventMemberChanged, at, keyward.EventData{ProjectID: p.ID, Actor: actor, UserID: v.ID, Email: v.Email, Role: "viewer"}))
	err = s.PutMember(ctx, &keyward.Member{ProjectID: p.ID, UserID: u.ID, RoleID: viewer.ID, Permissions: allPermissions, CreatedAt: at, UpdatedAt: at})
	wantCode(t, err, keyward.ECONFLICT)
	check("after member changes")

	// Removed: their key is disabled by keyward itself, so that event names no actor.
	vk := ownedKey(t, s, p, v, "api-keys-view")
	want = append(want, event(keyward.EventKeyCreated, t0, keyward.EventData{ProjectID: p.ID, KeyID: vk.ID, KeyName: vk.Name}))
	at = at.Add(time.Minute)
	must(t, s.RemoveMember(ctx, p.ID, v.ID, at))
	want = append(want,
		event(keyward.EventMemberRemoved, at, keyward.EventData{ProjectID: p.ID, Actor: actor, UserID: v.ID, Email: v.Email}),
		event(keyward.EventKeyDisabled, at, keyward.EventData{ProjectID: p.ID, KeyID: vk.ID, KeyName: vk.Name, Reason: keyward.OwnerRemoved}))
	wantCode(t, s.RemoveMember(ctx, p.ID, u.ID, at), keyward.ECONFLICT) // the last owner
	check("after removal")

	// An accepted invitation: the new member is the actor.
	at = at.Add(time.Minute)
	email := "invited-" + randomLower(t) + "@example.com"
	inv := newInvite(t, s, p, email, viewer, u)
	nu := &keyward.User{ID: newID(t, keyward.PrefixUser), Email: email, PasswordHash: "$argon2id$x", CreatedAt: at}
	_, _, err = s.AcceptInvite(ctx, inv.Hash, keyward.InviteAcceptance{NewUser: nu, At: at})
	must(t, err)
	want = append(want, event(keyward.EventMemberAdded, at, keyward.EventData{ProjectID: p.ID, Actor: "user:" + nu.ID, UserID: nu.ID, Email: email, Role: "viewer"}))
	check("after an accepted invitation")

	// A reused refresh token: told once, however often it comes back.
	sk := ownedKey(t, s, p, u, "api-keys-view")
	want = append(want, event(keyward.EventKeyCreated, t0, keyward.EventData{ProjectID: p.ID, KeyID: sk.ID, KeyName: sk.Name}))
	sess, first := newKeySession(t, s, sk)
	at = at.Add(time.Minute)
	_, err = s.ConsumeRefreshToken(ctx, sess.ID, first.Hash, at, newToken(t, at))
	must(t, err)
	for i := range 3 {
		reuse := at.Add(time.Duration(i+1) * time.Second)
		_, err = s.ConsumeRefreshToken(t.Context(), sess.ID, first.Hash, reuse, newToken(t, reuse))
		wantCode(t, err, keyward.EREFRESHREUSED)
	}
	want = append(want, event(keyward.EventSessionReuse, at.Add(time.Second), keyward.EventData{ProjectID: p.ID, KeyID: sk.ID,
		SessionID: sess.ID, Subject: "key:" + sk.ID}))
	check("after reuse")

	// Another project's webhook heard nothing; the narrow subscriber only creations.
	if got := eventsOf(t, s, foreign); len(got) != 0 {
		t.Fatalf("another project's webhook got %v", got)
	}
	var creations []sentEvent
	for _, e := range want {
		if e.Type == keyward.EventKeyCreated {
			creations = append(creations, e)
		}
	}
	sameJSON(t, "the subscriber of api_key.created", eventsOf(t, s, created), creations)
}

// testWebhookOwnerDeparture: a key whose owner's account is deleted is disabled with that reason,
// and the member's removal is told in every project they were in.
func testWebhookOwnerDeparture(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	u, v := newUser(t, s), newUser(t, s)
	p, _, viewer := projectWithRoles(t, s, u)
	q := newProject(t, s, u)
	hp := newWebhook(t, s, p, u, t0, keyward.EventKeyDisabled, keyward.EventMemberRemoved)
	hq := newWebhook(t, s, q, u, t0, keyward.EventKeyDisabled, keyward.EventMemberRemoved)
	at := t0.Add(time.Minute)
	// A role in p: a removal names none, however the member goes.
	must(t, s.PutMember(ctx, &keyward.Member{ProjectID: p.ID, UserID: v.ID, RoleID: viewer.ID, Permissions: allPermissions, CreatedAt: at, UpdatedAt: at}))
	must(t, s.PutMember(ctx, &keyward.Member{ProjectID: q.ID, UserID: v.ID, Permissions: allPermissions, CreatedAt: at, UpdatedAt: at}))
	k := ownedKey(t, s, p, v, "api-keys-view")
	at = at.Add(time.Minute)
	must(t, s.DeleteUser(keyward.WithActor(ctx, "user:"+u.ID), v.ID, at))
	removed := func(prj *keyward.Project) sentEvent {
		return event(keyward.EventMemberRemoved, at, keyward.EventData{ProjectID: prj.ID, Actor: "user:" + u.ID, UserID: v.ID, Email: v.Email, Reason: "user_deleted"})
	}
	got := eventsOf(t, s, hp)
	sameJSON(t, "project with the key", got, []sentEvent{
		removed(p),
		event(keyward.EventKeyDisabled, at, keyward.EventData{ProjectID: p.ID, KeyID: k.ID, KeyName: k.Name, Reason: keyward.OwnerDeleted}),
	})
	sameJSON(t, "other project", eventsOf(t, s, hq), []sentEvent{removed(q)})
}

// testWebhookClaims: a claimed message is not claimed again before its lease ends and is after;
// every claim counts as an attempt; an attempt's outcome makes the message delivered, pending
// again, failed or skipped, and attempts are listed newest first with what the receiver said.
func testWebhookClaims(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	// Its own era, before every other subtest's messages, so that only its messages are due.
	now := time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)
	u := newUser(t, s)
	p := newProject(t, s, u)
	w := newWebhook(t, s, p, u, now, keyward.EventKeyCreated)
	m1 := enqueue(t, s, w, keyward.EventWebhookTest, now)
	m2 := enqueue(t, s, w, keyward.EventWebhookTest, now.Add(time.Second))
	m3 := enqueue(t, s, w, keyward.EventWebhookTest, now.Add(2*time.Second))
	m4 := enqueue(t, s, w, keyward.EventWebhookTest, now.Add(time.Hour)) // not due yet

	_, err := s.ClaimWebhookMessages(ctx, now, time.Minute, 0)
	wantCode(t, err, keyward.EINVALID)
	now = now.Add(2 * time.Second)
	first := claimOf(t, s, p, now, time.Minute, 2)
	sameJSON(t, "first claim", deliveryIDs(first), []string{m1.ID, m2.ID})
	if d := first[0]; d.Message.Attempts != 1 || string(d.Message.Body) != string(m1.Body) || d.Message.State != keyward.MessagePending ||
		string(d.Webhook.Secret) != string(w.Secret) || d.Webhook.URL != w.URL || !d.Message.RetryUntil.Equal(m1.CreatedAt.Add(keyward.WebhookRetryWindow)) {
		t.Fatalf("claimed %+v for %+v", d.Message, d.Webhook)
	}
	sameJSON(t, "second claim", deliveryIDs(claimOf(t, s, p, now, time.Minute, 10)), []string{m3.ID})
	sameJSON(t, "claim within the lease", deliveryIDs(claimOf(t, s, p, now.Add(59*time.Second), time.Minute, 10)), []string{})
	if m, _ := message(t, s, p.ID, m1.ID); m.Attempts != 1 || m.State != keyward.MessagePending {
		t.Fatalf("claimed message read back: %d attempts, %s", m.Attempts, m.State)
	}

	// The sender of the first claim died: after the lease, the messages come again.
	now = now.Add(time.Minute)
	again := claimOf(t, s, p, now, time.Minute, 10)
	sameJSON(t, "claim after the lease", deliveryIDs(again), []string{m1.ID, m2.ID, m3.ID})
	if again[0].Message.Attempts != 2 {
		t.Fatalf("second claim of a message: %d attempts, want 2", again[0].Message.Attempts)
	}

	// m1 is delivered: done, never claimed again.
	a1 := &keyward.WebhookAttempt{MessageID: m1.ID, At: now, Duration: 120 * time.Millisecond, Status: 204, Response: "thanks"}
	must(t, s.RecordWebhookAttempt(ctx, a1, ptr(now.Add(time.Hour)), false))
	got, attempts := message(t, s, p.ID, m1.ID)
	if got.State != keyward.MessageDelivered || got.DeliveredAt == nil || !got.DeliveredAt.Equal(now) || got.NextAttemptAt != nil ||
		got.LastStatus != 204 || got.Attempts != 2 {
		t.Fatalf("delivered message = %+v", got)
	}
	sameJSON(t, "delivered message's attempts", attempts, []*keyward.WebhookAttempt{a1})

	// m2 gets a 500 and is tried again later, then gets no answer and its window is over.
	a2 := &keyward.WebhookAttempt{MessageID: m2.ID, At: now, Duration: time.Second, Status: 500, Response: "oops"}
	retry := now.Add(10 * time.Second)
	must(t, s.RecordWebhookAttempt(ctx, a2, &retry, false))
	got, _ = message(t, s, p.ID, m2.ID)
	if got.State != keyward.MessagePending || got.NextAttemptAt == nil || !got.NextAttemptAt.Equal(retry) || got.LastStatus != 500 || got.DeliveredAt != nil {
		t.Fatalf("message to retry = %+v", got)
	}
	// m3 is skipped: its webhook's owner may not see it.
	a3 := &keyward.WebhookAttempt{MessageID: m3.ID, At: now, Error: "The webhook's owner may not see this event."}
	must(t, s.RecordWebhookAttempt(ctx, a3, &retry, true))
	if got, _ = message(t, s, p.ID, m3.ID); got.State != keyward.MessageSkipped || got.NextAttemptAt != nil || got.LastError != a3.Error {
		t.Fatalf("skipped message = %+v", got)
	}
	sameJSON(t, "claim before the retry", deliveryIDs(claimOf(t, s, p, retry.Add(-time.Second), time.Minute, 10)), []string{})
	retried := claimOf(t, s, p, retry, time.Minute, 10)
	sameJSON(t, "claim at the retry", deliveryIDs(retried), []string{m2.ID})
	if retried[0].Message.Attempts != 3 {
		t.Fatalf("retried message: %d attempts, want 3", retried[0].Message.Attempts)
	}
	a2b := &keyward.WebhookAttempt{MessageID: m2.ID, At: retry, Duration: 10 * time.Second, Error: "timeout: no answer within 10s"}
	must(t, s.RecordWebhookAttempt(ctx, a2b, nil, false))
	got, attempts = message(t, s, p.ID, m2.ID)
	if got.State != keyward.MessageFailed || got.NextAttemptAt != nil || got.LastStatus != 0 || got.LastError != a2b.Error || got.Attempts != 3 {
		t.Fatalf("failed message = %+v", got)
	}
	sameJSON(t, "attempts, newest first", attempts, []*keyward.WebhookAttempt{a2b, a2})
	sameJSON(t, "claim after the outcomes", deliveryIDs(claimOf(t, s, p, retry.Add(time.Hour), time.Minute, 10)), []string{m4.ID})

	// What a receiver answers is kept short, whole characters only, and without NUL.
	long := "\x00" + strings.Repeat("a", keyward.WebhookResponseMaxLen-1) + "€"
	must(t, s.RecordWebhookAttempt(ctx, &keyward.WebhookAttempt{MessageID: m4.ID, At: retry.Add(time.Hour), Status: 502, Response: long}, ptr(retry.Add(2*time.Hour)), false))
	must(t, s.RecordWebhookAttempt(ctx, &keyward.WebhookAttempt{MessageID: m4.ID, At: retry.Add(2 * time.Hour), Status: 200, Response: "o\x00k \xff"}, nil, false))
	_, attempts = message(t, s, p.ID, m4.ID)
	if len(attempts) != 2 || attempts[0].Response != "ok \uFFFD" {
		t.Fatalf("attempts of m4 = %+v", attempts)
	}
	if r := attempts[1].Response; len(r) > keyward.WebhookResponseMaxLen || !utf8.ValidString(r) || r != strings.Repeat("a", keyward.WebhookResponseMaxLen-1) {
		t.Fatalf("long response kept as %d bytes, valid UTF-8 %v: %.20q…", len(r), utf8.ValidString(r), r)
	}
	wantCode(t, s.RecordWebhookAttempt(ctx, &keyward.WebhookAttempt{MessageID: "msg_unknown", At: now, Status: 200}, nil, false), keyward.ENOTFOUND)
}

// testWebhookClaimRace: claimers at once never get the same message twice within a lease, and
// together get every due message.
func testWebhookClaimRace(t *testing.T, s keyward.Store) {
	now := time.Date(2022, 3, 4, 5, 6, 7, 0, time.UTC)
	u := newUser(t, s)
	p := newProject(t, s, u)
	w := newWebhook(t, s, p, u, now, keyward.EventKeyCreated)
	want := map[string]bool{}
	for i := range 40 {
		want[enqueue(t, s, w, keyward.EventWebhookTest, now.Add(time.Duration(i)*time.Millisecond)).ID] = true
	}
	now = now.Add(time.Second)
	var mu sync.Mutex
	claims := map[string]int{}
	race(t, 8, "", func(int) error {
		for {
			got, err := s.ClaimWebhookMessages(t.Context(), now, time.Hour, 3)
			if err != nil {
				return err
			}
			if len(got) == 0 {
				return nil
			}
			mu.Lock()
			for _, d := range got {
				claims[d.Message.ID]++
			}
			mu.Unlock()
		}
	})
	for id := range want {
		if claims[id] != 1 {
			t.Errorf("message %s claimed %d times", id, claims[id])
		}
		// Delivered, so that no later subtest's claim finds them due.
		must(t, s.RecordWebhookAttempt(t.Context(), &keyward.WebhookAttempt{MessageID: id, At: now, Status: 200}, nil, false))
	}
}

// testWebhookRedeliver: a delivered or failed message becomes pending again, due at once, with
// its attempts kept; only within its project.
func testWebhookRedeliver(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	now := time.Date(2023, 3, 4, 5, 6, 7, 0, time.UTC)
	u := newUser(t, s)
	p, q := newProject(t, s, u), newProject(t, s, u)
	w := newWebhook(t, s, p, u, now, keyward.EventKeyCreated)
	delivered := enqueue(t, s, w, keyward.EventWebhookTest, now)
	failed := enqueue(t, s, w, keyward.EventWebhookTest, now.Add(time.Millisecond))
	claimOf(t, s, p, now.Add(time.Second), time.Minute, 10)
	must(t, s.RecordWebhookAttempt(ctx, &keyward.WebhookAttempt{MessageID: delivered.ID, At: now, Status: 200}, nil, false))
	must(t, s.RecordWebhookAttempt(ctx, &keyward.WebhookAttempt{MessageID: failed.ID, At: now, Status: 410}, nil, false))

	later := now.Add(48 * time.Hour)
	_, err := s.RedeliverWebhookMessage(ctx, q.ID, delivered.ID, later)
	wantCode(t, err, keyward.ENOTFOUND)
	_, err = s.RedeliverWebhookMessage(ctx, p.ID, "msg_unknown", later)
	wantCode(t, err, keyward.ENOTFOUND)
	for _, m := range []*keyward.WebhookMessage{delivered, failed} {
		got, err := s.RedeliverWebhookMessage(ctx, p.ID, m.ID, later)
		must(t, err)
		if got.ID != m.ID || got.State != keyward.MessagePending || got.NextAttemptAt == nil || !got.NextAttemptAt.Equal(later) || got.Attempts != 1 {
			t.Fatalf("redelivered message = %+v", got)
		}
	}
	again := claimOf(t, s, p, later, time.Minute, 10)
	sameJSON(t, "claim after redelivery", deliveryIDs(again), []string{delivered.ID, failed.ID})
	if again[0].Message.Attempts != 2 || again[0].Message.WindowAttempts != 1 {
		t.Fatalf("redelivered message claimed with %d attempts, %d in its new window", again[0].Message.Attempts, again[0].Message.WindowAttempts)
	}
	// A redelivery is retried for a new window, from when it was asked for.
	if until := again[0].Message.RetryUntil; !until.Equal(later.Add(keyward.WebhookRetryWindow)) {
		t.Fatalf("redelivered message retried until %v, want %v", until, later.Add(keyward.WebhookRetryWindow))
	}
	must(t, s.RecordWebhookAttempt(ctx, &keyward.WebhookAttempt{MessageID: failed.ID, At: later, Status: 200}, nil, false))
	if m, attempts := message(t, s, p.ID, failed.ID); m.State != keyward.MessageDelivered || len(attempts) != 2 {
		t.Fatalf("redelivered message: %s with %d attempts", m.State, len(attempts))
	}
}

// testWebhookMessagePages: a webhook's messages page newest first, narrowed by event type or
// state, and only within the webhook and its project.
func testWebhookMessagePages(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	now := time.Date(2024, 3, 4, 5, 6, 7, 0, time.UTC)
	u := newUser(t, s)
	p, q := newProject(t, s, u), newProject(t, s, u)
	w, other := newWebhook(t, s, p, u, now, keyward.EventKeyCreated), newWebhook(t, s, p, u, now, keyward.EventKeyCreated)
	var all, tests []string
	for i := range 7 {
		typ := keyward.EventKeyCreated
		if i%3 == 0 {
			typ = keyward.EventWebhookTest
		}
		m := enqueue(t, s, w, typ, now.Add(time.Duration(i)*time.Second))
		all = append([]string{m.ID}, all...)
		if typ == keyward.EventWebhookTest {
			tests = append([]string{m.ID}, tests...)
		}
	}
	enqueue(t, s, other, keyward.EventWebhookTest, now)
	fetch := func(projectID string) func(keyward.Page) ([]*keyward.WebhookMessage, string, error) {
		return func(pg keyward.Page) ([]*keyward.WebhookMessage, string, error) {
			return s.WebhookMessagePage(ctx, projectID, w.ID, pg)
		}
	}
	ids := func(ms []*keyward.WebhookMessage) []string {
		out := []string{}
		for _, m := range ms {
			out = append(out, m.ID)
		}
		return out
	}
	for _, limit := range []int{1, 3, 7, 100} {
		sameJSON(t, "pages", ids(pageThrough(t, "", limit, fetch(p.ID))), all)
	}
	sameJSON(t, "by event type", ids(pageThrough(t, keyward.EventWebhookTest, 2, fetch(p.ID))), tests)
	must(t, s.RecordWebhookAttempt(ctx, &keyward.WebhookAttempt{MessageID: all[2], At: now, Status: 200}, nil, false))
	sameJSON(t, "by state", ids(pageThrough(t, keyward.MessageDelivered, 2, fetch(p.ID))), []string{all[2]})
	sameJSON(t, "another project", ids(pageThrough(t, "", 2, fetch(q.ID))), []string{})
	_, _, err := s.WebhookMessage(ctx, q.ID, all[0])
	wantCode(t, err, keyward.ENOTFOUND)

	_, next, err := s.WebhookMessagePage(ctx, p.ID, w.ID, keyward.Page{Limit: 2})
	must(t, err)
	_, _, err = s.WebhookMessagePage(ctx, p.ID, w.ID, keyward.Page{Limit: 2, Cursor: next, Search: keyward.EventWebhookTest})
	wantCode(t, err, keyward.EINVALID)
	_, _, err = s.WebhookMessagePage(ctx, p.ID, w.ID, keyward.Page{Limit: 2, Cursor: "garbage"})
	wantCode(t, err, keyward.EINVALID)
	_, _, err = s.WebhookMessagePage(ctx, p.ID, w.ID, keyward.Page{Limit: 0})
	wantCode(t, err, keyward.EINVALID)
}

// testRemindExpiringKeys: an enabled key gets api_key.expiring once 7 days and once 1 day before
// it expires, and again for a new expiry; disabled and expired keys get none.
func testRemindExpiringKeys(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	// Its own era: no other subtest's key expires near it.
	now := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	u := newUser(t, s)
	p := newProject(t, s, u)
	w := newWebhook(t, s, p, u, now, keyward.EventKeyExpiring)
	expiring := func(in time.Duration) *keyward.APIKey {
		k := ownedKey(t, s, p, u, "api-keys-view")
		exp := now.Add(in)
		got, err := s.UpdateAPIKey(ctx, p.ID, k.ID, keyward.APIKeyChange{SetExpiresAt: true, ExpiresAt: &exp}, t0)
		must(t, err)
		return got
	}
	week := expiring(6 * 24 * time.Hour)
	day := expiring(12 * time.Hour)
	expiring(30 * 24 * time.Hour) // not yet
	disabled := expiring(6 * 24 * time.Hour)
	_, err := s.UpdateAPIKey(ctx, p.ID, disabled.ID, keyward.APIKeyChange{Disabled: ptr(true)}, now)
	must(t, err)
	expiring(-time.Hour) // expired

	remind := func(at time.Time) map[string]int {
		t.Helper()
		got, err := s.RemindExpiringKeys(ctx, at, 100)
		must(t, err)
		out := map[string]int{}
		for _, r := range got {
			if r.Key.ProjectID == p.ID {
				out[r.Key.ID] = r.Days
			}
		}
		return out
	}
	var want []sentEvent
	reminded := func(at time.Time, k *keyward.APIKey) {
		want = append(want, event(keyward.EventKeyExpiring, at, keyward.EventData{ProjectID: p.ID, KeyID: k.ID, KeyName: k.Name, ExpiresAt: k.ExpiresAt}))
	}
	_, err = s.RemindExpiringKeys(ctx, now, 0)
	wantCode(t, err, keyward.EINVALID)
	sameJSON(t, "first reminders", remind(now), map[string]int{week.ID: 7, day.ID: 1})
	reminded(now, day) // soonest expiry first
	reminded(now, week)
	sameJSON(t, "reminders again", remind(now.Add(time.Hour)), map[string]int{})

	at := week.ExpiresAt.Add(-23 * time.Hour)
	sameJSON(t, "a day before", remind(at), map[string]int{week.ID: 1})
	reminded(at, week)
	sameJSON(t, "a day before, again", remind(at.Add(time.Hour)), map[string]int{})
	sameJSON(t, "after expiry", remind(week.ExpiresAt.Add(time.Hour)), map[string]int{})
	sameJSON(t, "reminders queued", eventsOf(t, s, w), want)

	// A new expiry starts the reminders over.
	exp := week.ExpiresAt.Add(10 * 24 * time.Hour)
	week, err = s.UpdateAPIKey(ctx, p.ID, week.ID, keyward.APIKeyChange{SetExpiresAt: true, ExpiresAt: &exp}, at)
	must(t, err)
	at = exp.Add(-5 * 24 * time.Hour)
	sameJSON(t, "for the new expiry", remind(at), map[string]int{week.ID: 7})
	reminded(at, week)
	sameJSON(t, "for the new expiry, again", remind(at), map[string]int{})
	var got []sentEvent
	for _, e := range eventsOf(t, s, w) {
		if e.Type == keyward.EventKeyExpiring {
			got = append(got, e)
		}
	}
	sameJSON(t, "reminders queued", got, want)
}

// testWebhookSweep: Sweep deletes finished messages whose retry window ended more than 30 days
// ago, with their attempts, and keeps newer and pending ones, and an old one redelivered lately.
// It leaves nothing due, since claims look at every project.
func testWebhookSweep(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	// Its own era, before every other subtest's data.
	now := time.Date(1995, 3, 4, 5, 6, 7, 0, time.UTC)
	old, recent := now.Add(-32*24*time.Hour), now.Add(-24*time.Hour)
	u := newUser(t, s)
	p := newProject(t, s, u)
	w := newWebhook(t, s, p, u, old, keyward.EventKeyCreated)
	delivered, failed, skipped, pending := enqueue(t, s, w, keyward.EventWebhookTest, old), enqueue(t, s, w, keyward.EventWebhookTest, old),
		enqueue(t, s, w, keyward.EventWebhookTest, old), enqueue(t, s, w, keyward.EventWebhookTest, old)
	fresh := enqueue(t, s, w, keyward.EventWebhookTest, recent)
	redelivered := enqueue(t, s, w, keyward.EventWebhookTest, old)
	must(t, s.RecordWebhookAttempt(ctx, &keyward.WebhookAttempt{MessageID: redelivered.ID, At: old, Status: 500}, nil, false))
	_, err := s.RedeliverWebhookMessage(ctx, p.ID, redelivered.ID, recent)
	must(t, err)
	claimOf(t, s, p, recent, time.Minute, 10)
	must(t, s.RecordWebhookAttempt(ctx, &keyward.WebhookAttempt{MessageID: redelivered.ID, At: recent, Status: 200}, nil, false))
	must(t, s.RecordWebhookAttempt(ctx, &keyward.WebhookAttempt{MessageID: delivered.ID, At: old, Status: 200}, nil, false))
	must(t, s.RecordWebhookAttempt(ctx, &keyward.WebhookAttempt{MessageID: failed.ID, At: old, Status: 500}, nil, false))
	must(t, s.RecordWebhookAttempt(ctx, &keyward.WebhookAttempt{MessageID: skipped.ID, At: old}, nil, true))
	must(t, s.RecordWebhookAttempt(ctx, &keyward.WebhookAttempt{MessageID: pending.ID, At: old, Status: 500}, ptr(now.Add(time.Hour)), false))
	must(t, s.RecordWebhookAttempt(ctx, &keyward.WebhookAttempt{MessageID: fresh.ID, At: recent, Status: 200}, nil, false))

	n, err := s.Sweep(ctx, now, 100)
	must(t, err)
	if n < 3 {
		t.Fatalf("Sweep deleted %d rows, want at least the 3 finished messages", n)
	}
	for _, m := range []*keyward.WebhookMessage{delivered, failed, skipped} {
		_, _, err := s.WebhookMessage(ctx, p.ID, m.ID)
		wantCode(t, err, keyward.ENOTFOUND)
	}
	for _, m := range []*keyward.WebhookMessage{pending, fresh, redelivered} {
		if _, attempts := message(t, s, p.ID, m.ID); len(attempts) == 0 {
			t.Fatalf("kept message %s has no attempts", m.ID)
		}
	}
	// Nothing of this era stays due for the other subtests' claims.
	must(t, s.RecordWebhookAttempt(ctx, &keyward.WebhookAttempt{MessageID: pending.ID, At: now, Status: 200}, nil, false))
}

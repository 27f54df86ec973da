package storetest

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// auditPages pages through a project's audit log with search, limit at a time, and returns the
// ids of the events in order; it fails when an event of another project is listed.
func auditPages(t *testing.T, s keyward.Store, projectID, search string, limit int) []int64 {
	t.Helper()
	var ids []int64
	for _, e := range pageThrough(t, search, limit, func(p keyward.Page) ([]*keyward.AuditEvent, string, error) {
		return s.AuditPage(t.Context(), projectID, p)
	}) {
		if e.ProjectID != projectID {
			t.Fatalf("search %q: event of project %q listed for %q", search, e.ProjectID, projectID)
		}
		ids = append(ids, e.ID)
	}
	return ids
}

// testAuditPages: the audit log pages newest first, and a search keeps the events whose target or
// actor is the search or the subject of a bare id, and those of an action or a family of actions.
func testAuditPages(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	owner := newUser(t, s)
	p := newProject(t, s, owner)
	other := newProject(t, s, owner)
	key := newKey(t, s, p, "trail")
	bystander := newKey(t, s, p, "bystander")
	user := "user:" + owner.ID

	type ev struct{ actor, action, target string }
	var all []*keyward.AuditEvent
	for i, e := range []ev{
		{user, keyward.AuditKeyCreated, "key:" + key.ID},
		{user, keyward.AuditKeyCreated, "key:" + bystander.ID},
		{"key:" + key.ID, keyward.AuditExchangeFailed, "key:" + key.ID}, // actor and target both
		{user, keyward.AuditKeyUpdated, "key:" + key.ID},
		{"key:" + key.ID, keyward.AuditKeyCreated, "key:" + bystander.ID + "x"}, // made by the key
		{user, keyward.AuditLogin, user},
		{user, keyward.AuditMemberChanged, "user:usr_someoneelse00000"},
		{"", keyward.AuditLoginFailed, "someone@example.com"},
		{user, keyward.AuditKeyRolled, "key:" + key.ID},
		{user, "api_keyring.made", "key:" + bystander.ID}, // a prefix of "api_key" but not of "api_key."
	} {
		a := &keyward.AuditEvent{ProjectID: p.ID, At: t0.Add(time.Duration(i) * time.Second), Actor: e.actor, Action: e.action, Target: e.target}
		must(t, s.AppendAudit(ctx, a))
		all = append(all, a)
		// Another project's events about the same key and user, interleaved.
		must(t, s.AppendAudit(ctx, &keyward.AuditEvent{ProjectID: other.ID, At: t0, Actor: e.actor, Action: e.action, Target: e.target}))
	}
	newest := func(idx ...int) []int64 {
		var ids []int64
		for _, i := range idx {
			ids = append(ids, all[i].ID)
		}
		slices.Reverse(ids)
		return ids
	}
	for search, want := range map[string][]int64{
		"":                    newest(0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
		"key:" + key.ID:       newest(0, 2, 3, 4, 8),
		key.ID:                newest(0, 2, 3, 4, 8),
		" " + key.ID + " ":    newest(0, 2, 3, 4, 8),
		owner.ID:              newest(0, 1, 3, 5, 6, 8, 9),
		user:                  newest(0, 1, 3, 5, 6, 8, 9),
		"someone@example.com": newest(7),
		"api_key":             newest(0, 1, 3, 4, 8),
		"api_key.created":     newest(0, 1, 4),
		"login":               newest(5, 7),
		"login.failed":        newest(7),
		"api_key.":            nil, // a prefix is a whole segment of the action
		"api":                 nil,
		"key":                 nil,
		"nothing":             nil,
	} {
		for _, limit := range []int{1, 2, 3, 100} {
			if got := auditPages(t, s, p.ID, search, limit); !slices.Equal(got, want) {
				t.Errorf("search %q, pages of %d: %v, want %v", search, limit, got, want)
			}
		}
	}

	// A cursor holds only for the search it came from; the log without a search also takes an
	// event id, as it did before cursors were bound to a search.
	_, next, err := s.AuditPage(ctx, p.ID, keyward.Page{Limit: 1, Search: key.ID})
	must(t, err)
	for _, bad := range []keyward.Page{
		{Limit: 1, Search: "key:" + key.ID, Cursor: next},
		{Limit: 1, Cursor: next},
		{Limit: 1, Search: key.ID, Cursor: strconv.FormatInt(all[5].ID, 10)},
		{Limit: 1, Cursor: "x"},
		{Limit: 1, Cursor: "0"},
		{Limit: 1, Cursor: "-1"},
		{Limit: 1, Cursor: "eyJsIjoia2V5cyJ9"}, // {"l":"keys"}
		{Limit: 0},
	} {
		_, _, err := s.AuditPage(ctx, p.ID, bad)
		wantCode(t, err, keyward.EINVALID)
	}
	events, _, err := s.AuditPage(ctx, p.ID, keyward.Page{Limit: 2, Cursor: strconv.FormatInt(all[5].ID, 10)})
	must(t, err)
	if got := []int64{events[0].ID, events[1].ID}; !slices.Equal(got, newest(3, 4)) {
		t.Errorf("page before event %d: %v", all[5].ID, got)
	}
	sameJSON(t, "a searched event", events[1], all[3])

	// An empty project has one empty page, searched or not.
	empty := newProject(t, s, owner)
	for _, search := range []string{"", key.ID, "login"} {
		events, next, err := s.AuditPage(ctx, empty.ID, keyward.Page{Limit: 5, Search: search})
		must(t, err)
		if len(events) != 0 || events == nil || next != "" {
			t.Errorf("empty project, search %q: %v, %q", search, events, next)
		}
	}
}

// testKeySessionCount: a key's live sessions are counted until they are revoked, expire, their
// secret stops after a roll or their key is deleted; another key's sessions and user sessions
// are not.
func testKeySessionCount(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	owner := newUser(t, s)
	p := newProject(t, s, owner)
	k := newKey(t, s, p, "counted")
	other := newKey(t, s, p, "other")
	count := func(at time.Time) int {
		t.Helper()
		n, err := s.KeySessionCount(ctx, k.ID, at)
		must(t, err)
		return n
	}
	if n := count(t0); n != 0 {
		t.Fatalf("a new key has %d sessions", n)
	}
	first, _ := newKeySession(t, s, k)
	newKeySession(t, s, k)
	newKeySession(t, s, other)
	newUserSession(t, s, owner, p.ID)
	if n := count(t0); n != 2 {
		t.Fatalf("two sessions counted as %d", n)
	}
	if n := count(t0.Add(refreshTTL)); n != 0 {
		t.Errorf("sessions whose refresh token expired counted as %d", n)
	}
	must(t, s.RevokeSession(ctx, first.ID, "test", t0))
	if n := count(t0); n != 1 {
		t.Errorf("after revoking one of two sessions: %d", n)
	}
	// A roll leaves the previous secret's session live through the grace, and only then.
	grace := time.Minute
	rolled, err := s.RollAPIKey(ctx, p.ID, k.ID, newSecretHash(t), "wxyz", t0.Add(grace), t0)
	must(t, err)
	_, _, err = keySessionAt(t, s, rolled, rolled.SecretGen, t0)
	must(t, err)
	if n := count(t0.Add(grace - time.Microsecond)); n != 2 {
		t.Errorf("within the grace: %d live sessions, want the previous secret's and the new one's", n)
	}
	if n := count(t0.Add(grace)); n != 1 {
		t.Errorf("after the grace: %d live sessions, want the new secret's only", n)
	}
	must(t, s.DeleteAPIKey(ctx, p.ID, k.ID, t0))
	if n := count(t0); n != 0 {
		t.Errorf("a deleted key has %d live sessions", n)
	}
	if n, err := s.KeySessionCount(ctx, other.ID, t0); err != nil || n != 1 {
		t.Errorf("the other key: %d sessions, %v", n, err)
	}
}

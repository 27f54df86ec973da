package storetest

import (
	"net/netip"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

func testAPIKeys(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	owner := newUser(t, s)
	p := newProject(t, s, owner)
	q := newProject(t, s, owner)

	expires := t0.Add(90 * 24 * time.Hour)
	k := &keyward.APIKey{
		ID:          randomString(t, keyward.IDLength),
		ProjectID:   p.ID,
		Name:        "deploy bot",
		IPs:         []netip.Prefix{netip.MustParsePrefix("192.0.2.7/32"), netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")},
		Permissions: []string{"api-keys-view", "members-view"},
		SecretHash:  []byte{0, 1, 2, 0xfe, 0xff, 0, 7},
		Hint:        "Wxyz",
		CreatedBy:   "user:" + owner.ID,
		CreatedAt:   t0,
		ExpiresAt:   &expires,
	}
	wantCode(t, s.CreateAPIKey(ctx, k), keyward.EINVALID) // no owner
	k.Owner = owner.ID
	must(t, s.CreateAPIKey(ctx, k))
	got, err := s.APIKey(ctx, k.ID)
	must(t, err)
	sameJSON(t, "APIKey", got, k)

	// The name is unique within its project only.
	dup := *k
	dup.ID = randomString(t, keyward.IDLength)
	wantCode(t, s.CreateAPIKey(ctx, &dup), keyward.ECONFLICT)
	_, err = s.APIKey(ctx, dup.ID)
	wantCode(t, err, keyward.ENOTFOUND)
	dup.ProjectID = q.ID
	must(t, s.CreateAPIKey(ctx, &dup))

	// Oldest first; a key of another project never shows.
	older := &keyward.APIKey{
		ID: randomString(t, keyward.IDLength), ProjectID: p.ID, Name: "older", Permissions: []string{"members-view"},
		SecretHash: []byte{2}, Hint: "abcd", CreatedBy: "user:" + owner.ID, Owner: owner.ID, CreatedAt: t0.Add(-time.Hour),
	}
	must(t, s.CreateAPIKey(ctx, older))
	newer := &keyward.APIKey{
		ID: randomString(t, keyward.IDLength), ProjectID: p.ID, Name: "newer", Permissions: []string{"api-keys-view"},
		IPs:        []netip.Prefix{netip.MustParsePrefix("::ffff:192.0.2.0/120")},
		SecretHash: []byte{1}, Hint: "abcd", CreatedBy: "key:" + k.ID, Owner: owner.ID, CreatedAt: t0.Add(time.Hour),
	}
	must(t, s.CreateAPIKey(ctx, newer))
	list, err := s.APIKeys(ctx, p.ID)
	must(t, err)
	var ids []string
	for _, k := range list {
		ids = append(ids, k.ID)
	}
	sameJSON(t, "APIKeys ids", ids, []string{older.ID, k.ID, newer.ID})
	sameJSON(t, "APIKeys[2]", list[2], newer)

	_, err = s.APIKey(ctx, randomString(t, keyward.IDLength))
	wantCode(t, err, keyward.ENOTFOUND)
	list, err = s.APIKeys(ctx, newID(t, keyward.PrefixProject))
	must(t, err)
	if len(list) != 0 {
		t.Fatalf("APIKeys of an unknown project = %d keys", len(list))
	}
	orphan := *newer
	orphan.ID, orphan.ProjectID = randomString(t, keyward.IDLength), newID(t, keyward.PrefixProject)
	wantCode(t, s.CreateAPIKey(ctx, &orphan), keyward.ENOTFOUND)
}

func testTouchAPIKey(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	p := newProject(t, s, newUser(t, s))
	k := newKey(t, s, p, "touched")
	fresh, err := s.APIKey(ctx, k.ID)
	must(t, err)
	if fresh.LastUsedAt != nil || fresh.LastUsedIP != "" {
		t.Fatalf("new key: last used %v from %q", fresh.LastUsedAt, fresh.LastUsedIP)
	}
	for _, use := range []struct {
		at time.Time
		ip string
	}{{t0.Add(time.Minute), "192.0.2.1"}, {t0.Add(2 * time.Minute), "2001:db8::1"}} {
		must(t, s.TouchAPIKey(ctx, k.ID, use.at, use.ip))
		got, err := s.APIKey(ctx, k.ID)
		must(t, err)
		if got.LastUsedAt == nil || !got.LastUsedAt.Equal(use.at) || got.LastUsedIP != use.ip {
			t.Fatalf("after touch: last used %v from %q, want %v from %q", got.LastUsedAt, got.LastUsedIP, use.at, use.ip)
		}
	}
	wantCode(t, s.TouchAPIKey(ctx, randomString(t, keyward.IDLength), t0, "192.0.2.1"), keyward.ENOTFOUND)
}

func testDeleteAPIKey(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	owner := newUser(t, s)
	p := newProject(t, s, owner)
	q := newProject(t, s, owner)
	k := newKey(t, s, p, "doomed")
	keep := newKey(t, s, p, "kept")

	s1, tok1 := newKeySession(t, s, k)
	s2, tok2 := newKeySession(t, s, k)
	// s2 refreshes once: its latest token expires later than its first one.
	tok3 := newToken(t, t0.Add(time.Hour))
	_, err := s.ConsumeRefreshToken(ctx, tok2.SessionID, tok2.Hash, t0.Add(time.Hour), tok3)
	must(t, err)
	// s3 was revoked before: the deletion does not list it again.
	s3, _ := newKeySession(t, s, k)
	must(t, s.RevokeSession(ctx, s3.ID, "logout", t0.Add(time.Minute)))
	kept, _ := newKeySession(t, s, keep)
	cursor := feedTail(t, s)

	at := t0.Add(2 * time.Hour)
	wantCode(t, s.DeleteAPIKey(ctx, q.ID, k.ID, at), keyward.ENOTFOUND) // another project's key
	if _, err := s.APIKey(ctx, k.ID); err != nil {
		t.Fatalf("a failed deletion removed the key: %v", err)
	}
	if n := len(feedSince(t, s, cursor)); n != 0 {
		t.Fatalf("a failed deletion appended %d feed entries", n)
	}

	must(t, s.DeleteAPIKey(ctx, p.ID, k.ID, at))
	_, err = s.APIKey(ctx, k.ID)
	wantCode(t, err, keyward.ENOTFOUND)
	for _, id := range []string{s1.ID, s2.ID} {
		if activeAt(t, s, id, at) {
			t.Errorf("session %s of the deleted key is still active", id)
		}
	}
	if !activeAt(t, s, kept.ID, at) {
		t.Error("a session of another key was revoked")
	}

	// One entry per session just revoked, then the key itself, last, covering every token of it.
	feed := revocations(feedSince(t, s, cursor))
	if len(feed) != 3 {
		t.Fatalf("feed after deletion has %d entries, want 3: %+v", len(feed), feed)
	}
	sessions := map[string]revocation{}
	for _, r := range feed[:2] {
		sessions[r.ID] = r
	}
	sameJSON(t, "feed entries of the sessions", sessions, map[string]revocation{
		s1.ID: {keyward.RevokedSession, s1.ID, p.ID, at, tok1.ExpiresAt},
		s2.ID: {keyward.RevokedSession, s2.ID, p.ID, at, tok3.ExpiresAt},
	})
	sameJSON(t, "feed entry of the key", feed[2], revocation{keyward.RevokedKey, k.ID, p.ID, at, tok3.ExpiresAt})

	// Its name is free again, and a deleted key starts no session.
	newKey(t, s, p, "doomed")
	err = s.CreateSession(ctx, &keyward.Session{
		ID: newID(t, keyward.PrefixSession), Kind: keyward.SessionKey, KeyID: k.ID, ProjectID: p.ID,
		CreatedAt: at, ExpiresAt: at.Add(sessionAge),
	}, newToken(t, at))
	wantCode(t, err, keyward.ENOTFOUND)
	wantCode(t, s.DeleteAPIKey(ctx, p.ID, k.ID, at), keyward.ENOTFOUND)

	// A key without sessions still gets its feed entry.
	lone := newKey(t, s, p, "lone")
	cursor = feedTail(t, s)
	must(t, s.DeleteAPIKey(ctx, p.ID, lone.ID, at))
	sameJSON(t, "feed of a key without sessions", revocations(feedSince(t, s, cursor)),
		[]revocation{{keyward.RevokedKey, lone.ID, p.ID, at, at}})
}

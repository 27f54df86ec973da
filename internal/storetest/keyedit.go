package storetest

import (
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

func ptr[T any](v T) *T { return &v }

func testUpdateAPIKey(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	owner := newUser(t, s)
	p := newProject(t, s, owner)
	q := newProject(t, s, owner)
	k := newKey(t, s, p, "editable")
	newKey(t, s, p, "taken")
	other := newKey(t, s, q, "elsewhere")

	expires := t0.Add(48 * time.Hour)
	change := keyward.APIKeyChange{
		Name:         ptr("edited"),
		IPs:          &[]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")},
		Permissions:  &[]string{"api-keys-view", "members-view"},
		SetExpiresAt: true, ExpiresAt: &expires,
	}
	got, err := s.UpdateAPIKey(ctx, p.ID, k.ID, change, t0)
	must(t, err)
	want := *k
	want.Name, want.IPs, want.Permissions, want.ExpiresAt = *change.Name, *change.IPs, *change.Permissions, &expires
	want.Revision = k.Revision + 1
	sameJSON(t, "UpdateAPIKey", got, &want)
	read, err := s.APIKey(ctx, k.ID)
	must(t, err)
	sameJSON(t, "APIKey after the edit", read, &want)

	// A partial change keeps the rest; the expiry can be cleared.
	got, err = s.UpdateAPIKey(ctx, p.ID, k.ID, keyward.APIKeyChange{SetExpiresAt: true}, t0)
	must(t, err)
	want.ExpiresAt, want.Revision = nil, want.Revision+1
	sameJSON(t, "UpdateAPIKey clearing the expiry", got, &want)

	// Names stay unique within the project; a refused edit changes nothing.
	_, err = s.UpdateAPIKey(ctx, p.ID, k.ID, keyward.APIKeyChange{Name: ptr("taken"), Permissions: &[]string{}}, t0)
	wantCode(t, err, keyward.ECONFLICT)
	// A name that looks like a taken one is taken too, and an invisible character is refused.
	_, err = s.UpdateAPIKey(ctx, p.ID, k.ID, keyward.APIKeyChange{Name: ptr("T\u0430ken")}, t0)
	wantCode(t, err, keyward.ECONFLICT)
	_, err = s.UpdateAPIKey(ctx, p.ID, k.ID, keyward.APIKeyChange{Name: ptr("edited\u200d")}, t0)
	wantCode(t, err, keyward.EINVALID)
	read, err = s.APIKey(ctx, k.ID)
	must(t, err)
	sameJSON(t, "APIKey after a refused edit", read, &want)
	_, err = s.UpdateAPIKey(ctx, p.ID, k.ID, keyward.APIKeyChange{Name: ptr("elsewhere")}, t0)
	must(t, err)

	// Another project's key, an unknown key and a deleted key are not found.
	_, err = s.UpdateAPIKey(ctx, p.ID, other.ID, keyward.APIKeyChange{Name: ptr("stolen")}, t0)
	wantCode(t, err, keyward.ENOTFOUND)
	_, err = s.UpdateAPIKey(ctx, p.ID, randomString(t, keyward.IDLength), keyward.APIKeyChange{Name: ptr("x")}, t0)
	wantCode(t, err, keyward.ENOTFOUND)
	must(t, s.DeleteAPIKey(ctx, p.ID, k.ID, t0))
	_, err = s.UpdateAPIKey(ctx, p.ID, k.ID, keyward.APIKeyChange{Name: ptr("revived")}, t0)
	wantCode(t, err, keyward.ENOTFOUND)
}

// testUpdateAPIKeyNarrows checks that an edit that narrows a key revokes its live sessions and
// appends them to the feed, in the same transaction, and that a widening leaves them alone.
func testUpdateAPIKeyNarrows(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	p := newProject(t, s, newUser(t, s))
	k := newKey(t, s, p, "narrowed")
	k, err := s.UpdateAPIKey(ctx, p.ID, k.ID, keyward.APIKeyChange{
		Permissions: &[]string{"api-keys-view", "members-view"},
		IPs:         &[]netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")},
	}, t0)
	must(t, err)
	bystander := newKey(t, s, p, "bystander")
	other, _ := newKeySession(t, s, bystander)

	at := t0.Add(time.Minute)
	later := t0.Add(time.Hour)
	for _, tc := range []struct {
		name    string
		change  keyward.APIKeyChange
		narrows bool
	}{
		{"a permission added", keyward.APIKeyChange{Permissions: &[]string{"api-keys-view", "members-view", "audit-view"}}, false},
		{"a wider network", keyward.APIKeyChange{IPs: &[]netip.Prefix{netip.MustParsePrefix("192.0.0.0/16"), netip.MustParsePrefix("10.0.0.0/8")}}, false},
		{"the name", keyward.APIKeyChange{Name: ptr("renamed")}, false},
		{"every address", keyward.APIKeyChange{IPs: &[]netip.Prefix{}}, false},
		{"a permission removed", keyward.APIKeyChange{Permissions: &[]string{"api-keys-view", "audit-view"}}, true},
		{"a network list", keyward.APIKeyChange{IPs: &[]netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}}, true},
		{"a narrower network", keyward.APIKeyChange{IPs: &[]netip.Prefix{netip.MustParsePrefix("192.0.2.128/25")}}, true},
		{"an expiry set", keyward.APIKeyChange{SetExpiresAt: true, ExpiresAt: ptr(t0.Add(48 * time.Hour))}, true},
		{"a later expiry", keyward.APIKeyChange{SetExpiresAt: true, ExpiresAt: ptr(t0.Add(72 * time.Hour))}, false},
		{"an earlier expiry", keyward.APIKeyChange{SetExpiresAt: true, ExpiresAt: ptr(t0.Add(24 * time.Hour))}, true},
		{"no expiry", keyward.APIKeyChange{SetExpiresAt: true}, false},
	} {
		sess, _ := newKeySession(t, s, k)
		cursor := feedTail(t, s)
		var err error
		k, err = s.UpdateAPIKey(ctx, p.ID, k.ID, tc.change, at)
		must(t, err)
		if active := activeAt(t, s, sess.ID, later); active == tc.narrows {
			t.Fatalf("%s: session active after the edit = %v, want %v", tc.name, active, !tc.narrows)
		}
		feed := revocations(feedSince(t, s, cursor))
		if !tc.narrows {
			if len(feed) != 0 {
				t.Fatalf("%s: feed %+v, want nothing", tc.name, feed)
			}
			must(t, s.RevokeSession(ctx, sess.ID, "logout", at)) // out of the next case's way
			continue
		}
		got, err := s.Session(ctx, sess.ID)
		must(t, err)
		if got.RevokeReason != "key_narrowed" {
			t.Fatalf("%s: revoke reason %q", tc.name, got.RevokeReason)
		}
		want := []revocation{{keyward.RevokedSession, sess.ID, p.ID, at, t0.Add(refreshTTL)}}
		sameJSON(t, tc.name+": feed", feed, want)
	}
	if !activeAt(t, s, other.ID, later) {
		t.Fatal("a session of another key was revoked")
	}
}

// testSessionOfEditedKey checks that a session starts only from the key's current revision, so
// that no copy of the key read before an edit can start one with the old rights.
func testSessionOfEditedKey(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	p := newProject(t, s, newUser(t, s))
	stale := newKey(t, s, p, "edited under an exchange")
	if _, err := s.UpdateAPIKey(ctx, p.ID, stale.ID, keyward.APIKeyChange{Name: ptr("renamed")}, t0); err != nil {
		t.Fatal(err)
	}
	sess := &keyward.Session{
		ID: newID(t, keyward.PrefixSession), Kind: keyward.SessionKey, KeyID: stale.ID, KeyRevision: stale.Revision,
		ProjectID: p.ID, CreatedAt: t0, ExpiresAt: t0.Add(sessionAge),
	}
	wantCode(t, s.CreateSession(ctx, sess, newToken(t, t0)), keyward.ECONFLICT)
	_, err := s.Session(ctx, sess.ID)
	wantCode(t, err, keyward.ENOTFOUND)

	current, err := s.APIKey(ctx, stale.ID)
	must(t, err)
	fresh, tok := newKeySession(t, s, current)
	// A refresh reports the key's revision as the transaction saw it.
	next := newToken(t, t0.Add(time.Minute))
	got, err := s.ConsumeRefreshToken(ctx, fresh.ID, tok.Hash, next.IssuedAt, next)
	must(t, err)
	if got.KeyRevision != current.Revision {
		t.Fatalf("ConsumeRefreshToken: KeyRevision %d, want %d", got.KeyRevision, current.Revision)
	}
}

// testUpdateKeyRefreshRace narrows a key while its session is being refreshed: every refresh
// that succeeds either happened before the edit (and the session is revoked with a feed entry
// that outlives its tokens) or reports the new revision; none after the edit carries the old one.
func testUpdateKeyRefreshRace(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	p := newProject(t, s, newUser(t, s))
	k := newKey(t, s, p, "edit race")
	const rounds, chain = 8, 30
	for round := range rounds {
		sess, tok := newKeySession(t, s, k)
		cursor := feedTail(t, s)
		nexts := tokenChain(t, chain)
		var last *keyward.RefreshToken
		var refreshErr, editErr error
		var edited *keyward.APIKey
		var wg sync.WaitGroup
		wg.Go(func() {
			cur := tok
			for _, next := range nexts {
				got, err := s.ConsumeRefreshToken(ctx, cur.SessionID, cur.Hash, next.IssuedAt, next)
				if err != nil {
					if keyward.ErrorCode(err) != keyward.EREVOKED {
						refreshErr = err
					}
					return
				}
				if got.KeyRevision != k.Revision {
					refreshErr = keyward.Errorf(keyward.EINTERNAL, "a refresh succeeded after the narrowing (revision %d)", got.KeyRevision)
					return
				}
				last, cur = next, next
			}
		})
		perms := []string{"members-view"}
		if round%2 == 1 {
			perms = []string{"api-keys-view"}
		}
		wg.Go(func() {
			// Each round narrows: the previous round's permission is dropped.
			edited, editErr = s.UpdateAPIKey(ctx, p.ID, k.ID, keyward.APIKeyChange{Permissions: &perms}, t0)
		})
		wg.Wait()
		must(t, refreshErr)
		must(t, editErr)
		k = edited
		if last == nil {
			last = tok
		}
		if activeAt(t, s, sess.ID, t0) {
			t.Fatalf("round %d: the session survived the narrowing", round)
		}
		feed := feedSince(t, s, cursor)
		if len(feed) != 1 || feed[0].ID != sess.ID {
			t.Fatalf("round %d: feed %+v, want one entry for %s", round, feed, sess.ID)
		}
		if feed[0].ExpiresAt.Before(last.ExpiresAt) {
			t.Fatalf("round %d: feed entry expires at %s, before the last refresh token (%s)",
				round, feed[0].ExpiresAt.Format(time.RFC3339), last.ExpiresAt.Format(time.RFC3339))
		}
	}
}

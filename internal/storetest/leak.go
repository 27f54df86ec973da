package storetest

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// testDisableLeakedKey: a leaked key is disabled with its reason, its sessions end through the
// feed, the event records who reported it; a second report changes nothing; a transfer does not
// enable it, a roll does, and the public secret gets no grace.
func testDisableLeakedKey(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	u, v := newUser(t, s), newUser(t, s)
	p := newProject(t, s, u)
	must(t, s.PutMember(ctx, &keyward.Member{ProjectID: p.ID, UserID: v.ID, Permissions: allPermissions, CreatedAt: t0, UpdatedAt: t0}))
	k := ownedKey(t, s, p, u, "api-keys-view")
	sess, _ := newKeySession(t, s, k)
	cursor := feedTail(t, s)

	at := t0.Add(time.Minute)
	report := keyward.AuditEvent{At: at, Detail: "source=github url=https://github.com/o/r/blob/x/leak.txt"}
	got, did, err := s.DisableLeakedAPIKey(ctx, k.ID, report)
	must(t, err)
	if !did || !got.Leaked() || got.State(at) != keyward.KeyDisabled || !got.DisabledAt.Equal(at) {
		t.Fatalf("DisableLeakedAPIKey = %+v, %v", got, did)
	}
	read, err := s.APIKey(ctx, k.ID)
	must(t, err)
	if !read.Leaked() || read.DisabledReason != keyward.KeyLeaked {
		t.Fatalf("stored key: disabled_at %v, reason %q", read.DisabledAt, read.DisabledReason)
	}
	if r := sessionReason(t, s, sess.ID); r != keyward.KeyLeaked {
		t.Fatalf("session revoke reason %q", r)
	}
	if n := len(feedSince(t, s, cursor)); n != 1 {
		t.Fatalf("feed has %d new entries, want 1", n)
	}
	_, err = newKeySessionErr(t, s, read)
	wantCode(t, err, keyward.ENOTFOUND)
	events, err := s.AuditEvents(ctx, p.ID, 0, 10)
	must(t, err)
	if e := events[0]; e.Action != keyward.AuditKeyLeaked || e.Target != "key:"+k.ID || e.Detail != report.Detail {
		t.Fatalf("audit event %+v", e)
	}

	// A second report of the same key: nothing more happens.
	_, did, err = s.DisableLeakedAPIKey(ctx, k.ID, keyward.AuditEvent{At: at.Add(time.Minute)})
	must(t, err)
	if again, _ := s.AuditEvents(ctx, p.ID, 0, 10); did || len(again) != len(events) {
		t.Fatalf("second report: did %v, %d events (was %d)", did, len(again), len(events))
	}
	_, _, err = s.DisableLeakedAPIKey(ctx, "unknownunknown00", report)
	wantCode(t, err, keyward.ENOTFOUND)

	// A transfer keeps it disabled.
	got, err = s.UpdateAPIKey(ctx, p.ID, k.ID, keyward.APIKeyChange{Owner: &v.ID}, at)
	must(t, err)
	if read, _ = s.APIKey(ctx, k.ID); !got.Leaked() || !read.Leaked() || read.Owner != v.ID {
		t.Fatalf("transferred leaked key: %+v / %+v", got, read)
	}

	// A roll enables it, with no grace for the leaked secret.
	rolled := at.Add(time.Minute)
	got, err = s.RollAPIKey(ctx, p.ID, k.ID, newSecretHash(t), "wxyz", rolled.Add(time.Hour), rolled)
	must(t, err)
	if read, _ = s.APIKey(ctx, k.ID); got.DisabledAt != nil || read.DisabledAt != nil || read.DisabledReason != "" ||
		read.PreviousValid(rolled) || read.State(rolled) != keyward.KeyActive {
		t.Fatalf("rolled leaked key: %+v", read)
	}
	newKeySession(t, s, read)

	// A key disabled by its owner's removal becomes leaked when reported, so a transfer cannot
	// enable it either.
	w := ownedKey(t, s, p, v, "api-keys-view")
	must(t, s.RemoveMember(ctx, p.ID, v.ID, at))
	if read, _ = s.APIKey(ctx, w.ID); read.DisabledReason != keyward.OwnerRemoved {
		t.Fatalf("removed owner's key: reason %q", read.DisabledReason)
	}
	_, did, err = s.DisableLeakedAPIKey(ctx, w.ID, report)
	must(t, err)
	got, err = s.UpdateAPIKey(ctx, p.ID, w.ID, keyward.APIKeyChange{Owner: &u.ID}, at)
	must(t, err)
	if read, _ = s.APIKey(ctx, w.ID); !did || !got.Leaked() || !read.Leaked() {
		t.Fatalf("reported disabled key after transfer: %+v", read)
	}
}

// testDisableLeakedKeyRace: of concurrent reports of one key, exactly one disables it, and no
// session started concurrently outlives the leak.
func testDisableLeakedKeyRace(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	u := newUser(t, s)
	p := newProject(t, s, u)
	k := ownedKey(t, s, p, u, "api-keys-view")
	var dids atomic.Int32
	var sessions []*keyward.Session
	var created atomic.Int32
	sessions = make([]*keyward.Session, 8)
	race(t, 16, keyward.ENOTFOUND, func(i int) error {
		if i%2 == 0 {
			sess, err := newKeySessionErr(t, s, k)
			if err == nil {
				sessions[i/2] = sess
				created.Add(1)
			}
			return err
		}
		_, did, err := s.DisableLeakedAPIKey(ctx, k.ID, keyward.AuditEvent{At: t0})
		if did {
			dids.Add(1)
		}
		return err
	})
	if dids.Load() != 1 {
		t.Fatalf("%d reports disabled the key, want 1", dids.Load())
	}
	t.Logf("%d sessions started before the leak", created.Load())
	for _, sess := range sessions {
		if sess != nil && sessionReason(t, s, sess.ID) != keyward.KeyLeaked {
			t.Fatalf("session %s outlived the leak", sess.ID)
		}
	}
}

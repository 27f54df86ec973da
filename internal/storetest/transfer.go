package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// keySessionErr starts a session of the key as it is stored now (its current revision).
func keySessionErr(t testing.TB, s keyward.Store, id string) error {
	t.Helper()
	k, err := s.APIKey(t.Context(), id)
	must(t, err)
	sess := &keyward.Session{ID: newID(t, keyward.PrefixSession), Kind: keyward.SessionKey, KeyID: k.ID, ProjectID: k.ProjectID,
		KeyRevision: k.Revision, CreatedAt: t0, ExpiresAt: t0.Add(sessionAge)}
	return s.CreateSession(t.Context(), sess, newToken(t, t0))
}

// testTransferAPIKey: a key moves only to an enabled member of its project who holds every
// permission the key has after the change; a refused transfer changes nothing, an accepted one
// increments the revision, and a transfer enables a key its owner's removal disabled.
func testTransferAPIKey(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	admin := newUser(t, s)
	p := newProject(t, s, admin)
	other := newProject(t, s, admin)
	eve, bob, gone, outsider := newUser(t, s), newUser(t, s), newUser(t, s), newUser(t, s)
	for _, m := range []struct {
		u     *keyward.User
		perms []string
	}{{eve, allPermissions}, {bob, []string{"api-keys-view"}}, {gone, allPermissions}} {
		must(t, s.PutMember(ctx, &keyward.Member{ProjectID: p.ID, UserID: m.u.ID, Permissions: m.perms, CreatedAt: t0, UpdatedAt: t0}))
	}
	must(t, s.PutMember(ctx, &keyward.Member{ProjectID: other.ID, UserID: outsider.ID, Permissions: allPermissions, CreatedAt: t0, UpdatedAt: t0}))
	must(t, s.SetUserDisabled(ctx, gone.ID, true, t0))
	k := ownedKey(t, s, p, eve, "api-keys-manage", "api-keys-view")

	for _, tc := range []struct {
		name, to, code string
	}{
		{"a member of another project", outsider.ID, keyward.EINVALID},
		{"an unknown user", newID(t, keyward.PrefixUser), keyward.EINVALID},
		{"a disabled member", gone.ID, keyward.EINVALID},
		{"a member without api-keys-manage", bob.ID, keyward.EFORBIDDEN},
	} {
		_, err := s.UpdateAPIKey(ctx, p.ID, k.ID, keyward.APIKeyChange{Owner: ptr(tc.to)}, t0)
		if keyward.ErrorCode(err) != tc.code {
			t.Errorf("transfer to %s: %v, want %s", tc.name, err, tc.code)
		}
	}
	got, err := s.APIKey(ctx, k.ID)
	must(t, err)
	if got.Owner != eve.ID || got.Revision != 0 {
		t.Fatalf("after refused transfers: owner %s revision %d, want %s 0", got.Owner, got.Revision, eve.ID)
	}
	_, err = s.UpdateAPIKey(ctx, other.ID, k.ID, keyward.APIKeyChange{Owner: ptr(outsider.ID)}, t0)
	wantCode(t, err, keyward.ENOTFOUND)

	// Narrowed to what bob holds in the same change, the key may be his.
	got, err = s.UpdateAPIKey(ctx, p.ID, k.ID, keyward.APIKeyChange{Owner: ptr(bob.ID), Permissions: &[]string{"api-keys-view"}}, t0)
	must(t, err)
	if got.Owner != bob.ID || got.Revision != 1 {
		t.Fatalf("transferred: owner %s revision %d, want %s 1", got.Owner, got.Revision, bob.ID)
	}
	if stored, err := s.APIKey(ctx, k.ID); err != nil || stored.Owner != bob.ID || stored.Revision != 1 {
		t.Fatalf("stored after the transfer: %+v, %v", stored, err)
	}

	// Removing bob disables the key; a transfer to eve saves it.
	must(t, s.RemoveMember(ctx, p.ID, bob.ID, t0.Add(time.Minute)))
	wantCode(t, keySessionErr(t, s, k.ID), keyward.ENOTFOUND)
	got, err = s.UpdateAPIKey(ctx, p.ID, k.ID, keyward.APIKeyChange{Owner: ptr(eve.ID)}, t0.Add(2*time.Minute))
	must(t, err)
	if got.Owner != eve.ID || got.DisabledAt != nil {
		t.Fatalf("transfer of a disabled key: owner %s disabled_at %v, want %s and enabled", got.Owner, got.DisabledAt, eve.ID)
	}
	if stored, err := s.APIKey(ctx, k.ID); err != nil || stored.DisabledAt != nil {
		t.Fatalf("stored after saving the key: %+v, %v", stored, err)
	}
	must(t, keySessionErr(t, s, k.ID))
}

// testTransferRemoveRace transfers keys to a member who is being removed, or disabled, at the same
// time: whichever commits first, every key ends either disabled or owned by an enabled member.
func testTransferRemoveRace(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	admin := newUser(t, s)
	p := newProject(t, s, admin)
	const rounds, keys = 12, 4
	for round := range rounds {
		bob := newUser(t, s)
		must(t, s.PutMember(ctx, &keyward.Member{ProjectID: p.ID, UserID: bob.ID, Permissions: allPermissions, CreatedAt: t0, UpdatedAt: t0}))
		var ids []string
		for range keys {
			ids = append(ids, ownedKey(t, s, p, admin, "api-keys-view").ID)
		}
		errs := make(chan error, keys+1)
		var wg sync.WaitGroup
		for _, id := range ids {
			wg.Go(func() {
				_, err := s.UpdateAPIKey(ctx, p.ID, id, keyward.APIKeyChange{Owner: ptr(bob.ID)}, t0)
				if code := keyward.ErrorCode(err); err != nil && code != keyward.EINVALID {
					errs <- err
				}
			})
		}
		wg.Go(func() {
			var err error
			if round%2 == 0 {
				err = s.RemoveMember(ctx, p.ID, bob.ID, t0.Add(time.Minute))
			} else {
				err = s.SetUserDisabled(ctx, bob.ID, true, t0.Add(time.Minute))
			}
			if err != nil {
				errs <- err
			}
		})
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("round %d: %v", round, err)
		}
		for _, id := range ids {
			k, err := s.APIKey(ctx, id)
			must(t, err)
			if k.DisabledAt != nil {
				continue
			}
			u, err := s.UserByID(ctx, k.Owner)
			must(t, err)
			if _, err := s.Member(ctx, p.ID, k.Owner); err != nil || u.Disabled {
				t.Fatalf("round %d: key %s is enabled and owned by %s, who is not an enabled member (%v, disabled %v)",
					round, id, k.Owner, err, u.Disabled)
			}
		}
	}
}

// testMemberDisabledKey: a key a member disabled stops at once (its sessions end through the
// feed, no new one starts); a transfer keeps it disabled (unlike one whose owner left, see
// testTransferAPIKey); enabling it works, and enabling a key disabled for another reason is
// refused and changes nothing.
func testMemberDisabledKey(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	u, v := newUser(t, s), newUser(t, s)
	p := newProject(t, s, u)
	must(t, s.PutMember(ctx, &keyward.Member{ProjectID: p.ID, UserID: v.ID, Permissions: allPermissions, CreatedAt: t0, UpdatedAt: t0}))
	k := ownedKey(t, s, p, u, "api-keys-view")
	sess, _ := newKeySession(t, s, k)
	cursor := feedTail(t, s)

	yes, no := ptr(true), ptr(false)
	at := t0.Add(time.Minute)
	got, err := s.UpdateAPIKey(ctx, p.ID, k.ID, keyward.APIKeyChange{Disabled: yes}, at)
	must(t, err)
	if got.State(at) != keyward.KeyDisabled || got.DisabledReason != keyward.KeyDisabledByMember || !got.DisabledAt.Equal(at) {
		t.Fatalf("disabled key: %+v", got)
	}
	if r := sessionReason(t, s, sess.ID); r != keyward.KeyDisabledByMember {
		t.Fatalf("session revoke reason %q", r)
	}
	if n := len(feedSince(t, s, cursor)); n != 1 {
		t.Fatalf("feed has %d new entries, want 1", n)
	}
	wantCode(t, keySessionErr(t, s, k.ID), keyward.ENOTFOUND)

	got, err = s.UpdateAPIKey(ctx, p.ID, k.ID, keyward.APIKeyChange{Owner: &v.ID}, at)
	must(t, err)
	if got.DisabledAt == nil || got.DisabledReason != keyward.KeyDisabledByMember {
		t.Fatalf("a transfer enabled a key a member disabled: %+v", got)
	}
	got, err = s.UpdateAPIKey(ctx, p.ID, k.ID, keyward.APIKeyChange{Disabled: no}, at)
	must(t, err)
	if got.State(at) != keyward.KeyActive || got.DisabledReason != "" {
		t.Fatalf("enabled key: %+v", got)
	}
	newKeySession(t, s, got)

	leaked := ownedKey(t, s, p, u, "api-keys-view")
	_, _, err = s.DisableLeakedAPIKey(ctx, leaked.ID, keyward.AuditEvent{At: at})
	must(t, err)
	// "Disabling" a leaked key first does not make it a member's, to be enabled after.
	got, err = s.UpdateAPIKey(ctx, p.ID, leaked.ID, keyward.APIKeyChange{Disabled: yes}, at)
	must(t, err)
	if !got.Leaked() {
		t.Fatalf("a member's disable turned a leaked key into %q", got.DisabledReason)
	}
	_, err = s.UpdateAPIKey(ctx, p.ID, leaked.ID, keyward.APIKeyChange{Disabled: no}, at)
	wantCode(t, err, keyward.EINVALID)
	_, err = s.UpdateAPIKey(ctx, p.ID, leaked.ID, keyward.APIKeyChange{Disabled: no, Owner: &v.ID}, at)
	wantCode(t, err, keyward.EINVALID)

	// A key whose owner left is enabled by a transfer, also when the edit says so.
	departed := ownedKey(t, s, p, v, "api-keys-view")
	must(t, s.RemoveMember(ctx, p.ID, v.ID, at))
	_, err = s.UpdateAPIKey(ctx, p.ID, departed.ID, keyward.APIKeyChange{Disabled: no}, at)
	wantCode(t, err, keyward.EINVALID)
	got, err = s.UpdateAPIKey(ctx, p.ID, departed.ID, keyward.APIKeyChange{Disabled: no, Owner: &u.ID}, at)
	must(t, err)
	if got.DisabledAt != nil || got.Owner != u.ID {
		t.Fatalf("a transfer that asks for the key enabled: %+v", got)
	}
	if read, err := s.APIKey(ctx, leaked.ID); err != nil || !read.Leaked() {
		t.Fatalf("a refused enable changed the leaked key: %+v, %v", read, err)
	}
}

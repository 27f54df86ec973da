package storetest

import (
	"crypto/sha256"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// ownedKey stores a key of p owned by owner, holding perms.
func ownedKey(t testing.TB, s keyward.Store, p *keyward.Project, owner *keyward.User, perms ...string) *keyward.APIKey {
	t.Helper()
	secret := sha256.Sum256([]byte(randomString(t, 32)))
	k := &keyward.APIKey{
		ID: randomString(t, keyward.IDLength), ProjectID: p.ID, Name: "owned " + randomString(t, 6), Permissions: perms,
		SecretHash: secret[:], Hint: "abcd", CreatedBy: "user:" + owner.ID, Owner: owner.ID, CreatedAt: t0,
	}
	must(t, s.CreateAPIKey(t.Context(), k))
	return k
}

// keyEvents returns the audit events of project p about keys, oldest first, as action, target and
// detail.
func keyEvents(t testing.TB, s keyward.Store, p *keyward.Project) [][3]string {
	t.Helper()
	events, err := s.AuditEvents(t.Context(), p.ID, 0, 100)
	must(t, err)
	var out [][3]string
	for i := len(events) - 1; i >= 0; i-- {
		e := events[i]
		if e.Action == keyward.AuditKeyDisabled || e.Action == keyward.AuditKeySessionsEnded {
			out = append(out, [3]string{e.Action, e.Target, e.Detail})
		}
	}
	return out
}

// sessionReason returns the reason a session was revoked ("" while it is not).
func sessionReason(t testing.TB, s keyward.Store, id string) string {
	t.Helper()
	sess, err := s.Session(t.Context(), id)
	must(t, err)
	return sess.RevokeReason
}

// testRemoveMemberDisablesKeys: removing a member disables the keys they own in that project, in
// the same transaction: their sessions end, no new session starts, and the audit log says why.
// Their keys in other projects and other members' keys are untouched.
func testRemoveMemberDisablesKeys(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	admin := newUser(t, s)
	p := newProject(t, s, admin)
	q := newProject(t, s, admin)
	eve := newUser(t, s)
	for _, prj := range []*keyward.Project{p, q} {
		must(t, s.PutMember(ctx, &keyward.Member{ProjectID: prj.ID, UserID: eve.ID, Permissions: allPermissions, CreatedAt: t0, UpdatedAt: t0}))
	}
	evesKey := ownedKey(t, s, p, eve, "api-keys-manage")
	evesOther := ownedKey(t, s, q, eve, "api-keys-manage")
	adminsKey := ownedKey(t, s, p, admin, "api-keys-manage")
	sess, tok := newKeySession(t, s, evesKey)
	otherSess, _ := newKeySession(t, s, evesOther)
	adminSess, _ := newKeySession(t, s, adminsKey)
	cursor := feedTail(t, s)

	at := t0.Add(time.Minute)
	must(t, s.RemoveMember(ctx, p.ID, eve.ID, at))
	got, err := s.APIKey(ctx, evesKey.ID)
	must(t, err)
	if got.DisabledAt == nil || !got.DisabledAt.Equal(at) {
		t.Fatalf("DisabledAt = %v, want %v", got.DisabledAt, at)
	}
	for _, k := range []*keyward.APIKey{evesOther, adminsKey} {
		got, err := s.APIKey(ctx, k.ID)
		must(t, err)
		if got.DisabledAt != nil {
			t.Errorf("key %s was disabled", k.Name)
		}
	}
	if r := sessionReason(t, s, sess.ID); r != keyward.OwnerRemoved {
		t.Errorf("session revoke reason = %q, want %q", r, keyward.OwnerRemoved)
	}
	for _, id := range []string{otherSess.ID, adminSess.ID} {
		if !activeAt(t, s, id, at) {
			t.Errorf("unrelated session %s was revoked", id)
		}
	}
	sameJSON(t, "feed", revocations(feedSince(t, s, cursor)), []revocation{
		{keyward.RevokedSession, sess.ID, p.ID, at, tok.ExpiresAt},
	})
	sameJSON(t, "audit", keyEvents(t, s, p), [][3]string{
		{keyward.AuditKeyDisabled, "key:" + evesKey.ID, "reason=" + keyward.OwnerRemoved},
	})

	// No session of the disabled key starts any more; the key in the other project still works.
	_, err = newKeySessionErr(t, s, evesKey)
	wantCode(t, err, keyward.ENOTFOUND)
	_, err = newKeySessionErr(t, s, evesOther)
	must(t, err)

	// Being a member again enables nothing.
	must(t, s.PutMember(ctx, &keyward.Member{ProjectID: p.ID, UserID: eve.ID, Permissions: allPermissions, CreatedAt: at, UpdatedAt: at}))
	_, err = newKeySessionErr(t, s, evesKey)
	wantCode(t, err, keyward.ENOTFOUND)
}

// newKeySessionErr is newKeySession returning CreateSession's error.
func newKeySessionErr(t testing.TB, s keyward.Store, k *keyward.APIKey) (*keyward.Session, error) {
	t.Helper()
	sess := &keyward.Session{ID: newID(t, keyward.PrefixSession), Kind: keyward.SessionKey, KeyID: k.ID, KeyRevision: k.Revision, SecretGen: k.SecretGen, ProjectID: k.ProjectID,
		CreatedAt: t0, ExpiresAt: t0.Add(sessionAge)}
	return sess, s.CreateSession(t.Context(), sess, newToken(t, t0))
}

// testReduceMemberEndsKeySessions: replacing a member's permissions with fewer ends the sessions
// of their keys that hold a permission the member lost, and only those; the keys stay enabled.
func testReduceMemberEndsKeySessions(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	admin := newUser(t, s)
	p := newProject(t, s, admin)
	eve := newUser(t, s)
	put := func(at time.Time, perms ...string) {
		t.Helper()
		must(t, s.PutMember(ctx, &keyward.Member{ProjectID: p.ID, UserID: eve.ID, Permissions: perms, CreatedAt: t0, UpdatedAt: at}))
	}
	put(t0, "api-keys-manage", "api-keys-view")
	exceeds := ownedKey(t, s, p, eve, "api-keys-manage", "api-keys-view")
	within := ownedKey(t, s, p, eve, "api-keys-view")
	adminsKey := ownedKey(t, s, p, admin, "api-keys-manage")
	exceedsSess, tok := newKeySession(t, s, exceeds)
	withinSess, _ := newKeySession(t, s, within)
	adminSess, _ := newKeySession(t, s, adminsKey)

	// Unchanged or widened: nothing ends.
	cursor := feedTail(t, s)
	put(t0.Add(time.Second), "api-keys-manage", "api-keys-view", "members-view")
	if n := len(feedSince(t, s, cursor)); n != 0 {
		t.Fatalf("widening fed %d revocations", n)
	}

	at := t0.Add(time.Minute)
	put(at, "api-keys-view")
	if r := sessionReason(t, s, exceedsSess.ID); r != keyward.OwnerReduced {
		t.Errorf("revoke reason = %q, want %q", r, keyward.OwnerReduced)
	}
	for _, id := range []string{withinSess.ID, adminSess.ID} {
		if !activeAt(t, s, id, at) {
			t.Errorf("session %s within the owner's permissions was revoked", id)
		}
	}
	sameJSON(t, "feed", revocations(feedSince(t, s, cursor)), []revocation{
		{keyward.RevokedSession, exceedsSess.ID, p.ID, at, tok.ExpiresAt},
	})
	sameJSON(t, "audit", keyEvents(t, s, p), [][3]string{
		{keyward.AuditKeySessionsEnded, "key:" + exceeds.ID, "reason=" + keyward.OwnerReduced},
	})
	got, err := s.APIKey(ctx, exceeds.ID)
	must(t, err)
	if got.DisabledAt != nil {
		t.Error("a reduction disabled the key")
	}
	// The key still starts sessions: what they carry is bounded where permissions are read.
	_, err = newKeySessionErr(t, s, exceeds)
	must(t, err)
}

// testDisableUserDisablesKeys: disabling a user disables the keys they own in every project.
func testDisableUserDisablesKeys(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	eve := newUser(t, s)
	p := newProject(t, s, eve)
	q := newProject(t, s, eve)
	inP := ownedKey(t, s, p, eve, "api-keys-view")
	inQ := ownedKey(t, s, q, eve, "api-keys-view")
	sessP, _ := newKeySession(t, s, inP)
	sessQ, _ := newKeySession(t, s, inQ)

	at := t0.Add(time.Minute)
	must(t, s.SetUserDisabled(ctx, eve.ID, true, at))
	for _, tc := range []struct {
		k    *keyward.APIKey
		sess *keyward.Session
		p    *keyward.Project
	}{{inP, sessP, p}, {inQ, sessQ, q}} {
		got, err := s.APIKey(ctx, tc.k.ID)
		must(t, err)
		if got.DisabledAt == nil {
			t.Errorf("key %s is not disabled", tc.k.Name)
		}
		if r := sessionReason(t, s, tc.sess.ID); r != keyward.OwnerDisabled {
			t.Errorf("revoke reason = %q, want %q", r, keyward.OwnerDisabled)
		}
		sameJSON(t, "audit", keyEvents(t, s, tc.p), [][3]string{
			{keyward.AuditKeyDisabled, "key:" + tc.k.ID, "reason=" + keyward.OwnerDisabled},
		})
	}
	// Enabling the user again enables none of the keys.
	must(t, s.SetUserDisabled(ctx, eve.ID, false, at.Add(time.Minute)))
	_, err := newKeySessionErr(t, s, inP)
	wantCode(t, err, keyward.ENOTFOUND)
}

// testRemoveMemberRace removes a key's owner while sessions of the key are being created: a
// session may lose (ENOTFOUND) or be created, but none stays active after the removal, and every
// one created after the removal committed loses.
func testRemoveMemberRace(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	admin := newUser(t, s)
	p := newProject(t, s, admin)
	const rounds, creators, each = 8, 3, 6
	at := t0.Add(time.Minute)
	for round := range rounds {
		eve := newUser(t, s)
		must(t, s.PutMember(ctx, &keyward.Member{ProjectID: p.ID, UserID: eve.ID, Permissions: allPermissions, CreatedAt: t0, UpdatedAt: t0}))
		k := ownedKey(t, s, p, eve, "api-keys-view")
		var (
			mu      sync.Mutex
			created []string
			removed bool // set once RemoveMember returned
			late    []string
		)
		errs := make(chan error, creators*each+1)
		var wg sync.WaitGroup
		for range creators {
			wg.Go(func() {
				for range each {
					mu.Lock()
					after := removed
					mu.Unlock()
					sess, err := newKeySessionErr(t, s, k)
					switch keyward.ErrorCode(err) {
					case "":
						mu.Lock()
						created = append(created, sess.ID)
						if after {
							late = append(late, sess.ID)
						}
						mu.Unlock()
					case keyward.ENOTFOUND:
					default:
						errs <- err
					}
				}
			})
		}
		wg.Go(func() {
			err := s.RemoveMember(ctx, p.ID, eve.ID, at)
			if err != nil {
				errs <- err
			}
			mu.Lock()
			removed = true
			mu.Unlock()
		})
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("round %d: %v", round, err)
		}
		if len(late) > 0 {
			t.Fatalf("round %d: sessions %v started after the owner's removal committed", round, late)
		}
		for _, id := range created {
			if activeAt(t, s, id, at) {
				t.Fatalf("round %d: session %s of the removed owner's key is active", round, id)
			}
		}
		_, err := newKeySessionErr(t, s, k)
		wantCode(t, err, keyward.ENOTFOUND)
	}
}

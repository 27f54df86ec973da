package storetest

import (
	"crypto/sha256"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// newAdmin stores an enabled instance administrator.
func newAdmin(t testing.TB, s keyward.Store) *keyward.User {
	t.Helper()
	u := newUser(t, s)
	got, err := s.UpdateUser(t.Context(), u.ID, keyward.UserChange{Admin: ptr(true)}, t0)
	must(t, err)
	if !got.Admin {
		t.Fatal("UpdateUser did not grant admin")
	}
	return got
}

// onlyAdmin leaves keep as the instance's only enabled administrator, demoting the others (the
// suite shares its database), so that the last-administrator rule can be tested.
func onlyAdmin(t *testing.T, s keyward.Store, keep *keyward.User) {
	t.Helper()
	for _, u := range pageThrough(t, "", 100, func(p keyward.Page) ([]*keyward.User, string, error) {
		return s.UserPage(t.Context(), p)
	}) {
		if u.ID != keep.ID && u.Admin && !u.Disabled {
			_, err := s.UpdateUser(t.Context(), u.ID, keyward.UserChange{Admin: ptr(false)}, t0)
			must(t, err)
		}
	}
}

func testUserPages(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	tag := strings.ToLower(randomString(t, 8))
	var ids []string
	for _, local := range []string{"carol", "Alice", "bob", "alina", "dave"} {
		u := &keyward.User{ID: newID(t, keyward.PrefixUser), Email: local + "." + tag + "@example.com", PasswordHash: "x", CreatedAt: t0}
		must(t, s.CreateUser(ctx, u))
		ids = append(ids, u.ID)
	}
	emails := func(search string, limit int) []string {
		var out []string
		for _, u := range pageThrough(t, search, limit, func(p keyward.Page) ([]*keyward.User, string, error) {
			return s.UserPage(ctx, p)
		}) {
			local, ours := strings.CutSuffix(u.Email, "."+tag+"@example.com")
			if ours && u.PasswordHash != "x" {
				t.Fatalf("UserPage returned %+v with another hash", u)
			}
			out = append(out, local)
		}
		return out
	}
	// Every user of the instance, in email order; ours among them.
	var ours []string
	for _, e := range emails("", 2) {
		if !strings.Contains(e, "@") {
			ours = append(ours, e)
		}
	}
	sameJSON(t, "every user", ours, []string{"alice", "alina", "bob", "carol", "dave"})
	// The search is a prefix of the email, in any letter case, or a user id.
	for _, search := range []string{"ALI", "ali"} {
		if got := emails(search, 1); len(got) < 2 || got[0] == "" {
			t.Fatalf("search %q: %v", search, got)
		}
	}
	sameJSON(t, "search alina", emails("Alina."+tag, 1), []string{"alina"})
	sameJSON(t, "search by id", emails(ids[0], 10), []string{"carol"})
	sameJSON(t, "search nobody", emails("zz-"+tag, 10), []string(nil))

	_, next, err := s.UserPage(ctx, keyward.Page{Limit: 1, Search: "a"})
	must(t, err)
	_, _, err = s.UserPage(ctx, keyward.Page{Limit: 1, Search: "b", Cursor: next})
	wantCode(t, err, keyward.EINVALID)
	_, _, err = s.UserPage(ctx, keyward.Page{Limit: 1, Cursor: "bm90IGEgY3Vyc29y"})
	wantCode(t, err, keyward.EINVALID)
	_, _, err = s.UserPage(ctx, keyward.Page{Limit: 0})
	wantCode(t, err, keyward.EINVALID)
}

// testLastAdmin: the last enabled administrator can be neither demoted, disabled nor deleted;
// with two, either may be.
func testLastAdmin(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	a, b := newAdmin(t, s), newAdmin(t, s)
	onlyAdmin(t, s, a)
	onlyAdmin(t, s, a) // idempotent: b is demoted now
	got, err := s.UserByID(ctx, b.ID)
	must(t, err)
	if got.Admin {
		t.Fatal("b is still an administrator")
	}
	_, err = s.UpdateUser(ctx, a.ID, keyward.UserChange{Admin: ptr(false)}, t0)
	wantCode(t, err, keyward.ECONFLICT)
	_, err = s.UpdateUser(ctx, a.ID, keyward.UserChange{Disabled: ptr(true)}, t0)
	wantCode(t, err, keyward.ECONFLICT)
	wantCode(t, s.SetUserDisabled(ctx, a.ID, true, t0), keyward.ECONFLICT)
	wantCode(t, s.DeleteUser(ctx, a.ID, t0), keyward.ECONFLICT)
	got, err = s.UserByID(ctx, a.ID)
	must(t, err)
	if !got.Admin || got.Disabled {
		t.Fatalf("a refused change left a = %+v", got)
	}
	// A disabled administrator does not count: b, admin again but disabled, leaves a the last.
	_, err = s.UpdateUser(ctx, b.ID, keyward.UserChange{Admin: ptr(true), Disabled: ptr(true)}, t0)
	must(t, err)
	_, err = s.UpdateUser(ctx, a.ID, keyward.UserChange{Admin: ptr(false)}, t0)
	wantCode(t, err, keyward.ECONFLICT)
	// Enabled again, b lets a go.
	_, err = s.UpdateUser(ctx, b.ID, keyward.UserChange{Disabled: ptr(false)}, t0)
	must(t, err)
	got, err = s.UpdateUser(ctx, a.ID, keyward.UserChange{Disabled: ptr(true)}, t0)
	must(t, err)
	if !got.Disabled || !got.Admin {
		t.Fatalf("UpdateUser returned %+v", got)
	}
	// Changes that take nothing away from the last one are fine.
	_, err = s.UpdateUser(ctx, b.ID, keyward.UserChange{Admin: ptr(true), Disabled: ptr(false)}, t0)
	must(t, err)
	_, err = s.UpdateUser(ctx, newID(t, keyward.PrefixUser), keyward.UserChange{Admin: ptr(false)}, t0)
	wantCode(t, err, keyward.ENOTFOUND)
}

// testLastAdminRace: two administrators demoting (or disabling, or deleting) each other at the
// same moment leave exactly one.
func testLastAdminRace(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	for round := range 12 {
		a, b := newAdmin(t, s), newAdmin(t, s)
		onlyAdmin(t, s, a)
		_, err := s.UpdateUser(ctx, b.ID, keyward.UserChange{Admin: ptr(true)}, t0)
		must(t, err)
		act := func(victim string) error {
			switch round % 3 {
			case 0:
				_, err := s.UpdateUser(ctx, victim, keyward.UserChange{Admin: ptr(false)}, t0)
				return err
			case 1:
				_, err := s.UpdateUser(ctx, victim, keyward.UserChange{Disabled: ptr(true)}, t0)
				return err
			default:
				return s.DeleteUser(ctx, victim, t0)
			}
		}
		victims := []string{a.ID, b.ID}
		if ok := race(t, 2, keyward.ECONFLICT, func(i int) error { return act(victims[i]) }); ok != 1 {
			t.Fatalf("round %d: %d of two mutual demotions succeeded", round, ok)
		}
		admins := 0
		for _, id := range []string{a.ID, b.ID} {
			u, err := s.UserByID(ctx, id)
			if keyward.ErrorCode(err) == keyward.ENOTFOUND {
				continue
			}
			must(t, err)
			if u.Admin && !u.Disabled {
				admins++
			}
		}
		if admins != 1 {
			t.Fatalf("round %d: %d enabled administrators left, want 1", round, admins)
		}
	}
}

// testDeleteUser: deleting a user ends their sessions and logins, disables the keys they own,
// and is refused while a project would lose its last owner or member manager.
func testDeleteUser(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	eve, other := newUser(t, s), newUser(t, s)
	p, owner, viewer := projectWithRoles(t, s, eve)
	q := newProject(t, s, other)
	must(t, s.PutMember(ctx, &keyward.Member{ProjectID: p.ID, UserID: other.ID, RoleID: viewer.ID, CreatedAt: t0, UpdatedAt: t0}))
	must(t, s.PutMember(ctx, &keyward.Member{ProjectID: q.ID, UserID: eve.ID, Permissions: allPermissions, CreatedAt: t0, UpdatedAt: t0}))
	err := s.DeleteUser(ctx, eve.ID, t0)
	wantCode(t, err, keyward.ECONFLICT)
	if !strings.Contains(keyward.ErrorMessage(err), "1 project") {
		t.Fatalf("message %q does not say how many projects", keyward.ErrorMessage(err))
	}
	must(t, s.PutMember(ctx, &keyward.Member{ProjectID: p.ID, UserID: other.ID, RoleID: owner.ID, CreatedAt: t0, UpdatedAt: t0}))

	evesKey := ownedKey(t, s, q, eve, "api-keys-view")
	keySession, _ := newKeySession(t, s, evesKey)
	plain, _ := newUserSession(t, s, eve, "")
	narrowed, _ := newUserSession(t, s, eve, p.ID)
	ws := newWebSession(t, s, eve)
	othersSession, _ := newUserSession(t, s, other, "")
	must(t, s.CreatePasswordReset(ctx, &keyward.PasswordReset{Hash: newSecretHash(t), UserID: eve.ID, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}))
	cursor := feedTail(t, s)

	at := t0.Add(time.Minute)
	must(t, s.DeleteUser(ctx, eve.ID, at))
	_, err = s.UserByID(ctx, eve.ID)
	wantCode(t, err, keyward.ENOTFOUND)
	for _, prj := range []*keyward.Project{p, q} {
		_, err = s.Member(ctx, prj.ID, eve.ID)
		wantCode(t, err, keyward.ENOTFOUND)
	}
	_, err = s.WebSession(ctx, ws.Hash)
	wantCode(t, err, keyward.ENOTFOUND)
	for id, want := range map[string]string{plain.ID: "user_deleted", narrowed.ID: "user_deleted", keySession.ID: keyward.OwnerDeleted, othersSession.ID: ""} {
		if got := sessionReason(t, s, id); got != want {
			t.Errorf("session %s: revoke reason %q, want %q", id, got, want)
		}
	}
	k, err := s.APIKey(ctx, evesKey.ID)
	must(t, err)
	if k.DisabledAt == nil {
		t.Fatal("the deleted user's key is not disabled")
	}
	if n := len(feedSince(t, s, cursor)); n != 3 {
		t.Fatalf("feed has %d new entries, want 3", n)
	}
	sameJSON(t, "key events", keyEvents(t, s, q), [][3]string{{keyward.AuditKeyDisabled, "key:" + evesKey.ID, "reason=" + keyward.OwnerDeleted}})
	// The email address is free again.
	again := &keyward.User{ID: newID(t, keyward.PrefixUser), Email: eve.Email, PasswordHash: "x", CreatedAt: at}
	must(t, s.CreateUser(ctx, again))
	wantCode(t, s.DeleteUser(ctx, eve.ID, at), keyward.ENOTFOUND)
}

// testSetPassword: a new password ends every other sign-in of the user, not the one kept.
func testSetPassword(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	u, other := newUser(t, s), newUser(t, s)
	current, _ := newUserSession(t, s, u, "")
	second, _ := newUserSession(t, s, u, "")
	p := newProject(t, s, u)
	narrowed, _ := newUserSession(t, s, u, p.ID)
	othersSession, _ := newUserSession(t, s, other, "")
	keep, drop := newWebSession(t, s, u), newWebSession(t, s, u)
	othersLogin := newWebSession(t, s, other)
	reset := &keyward.PasswordReset{Hash: newSecretHash(t), UserID: u.ID, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	must(t, s.CreatePasswordReset(ctx, reset))
	cursor := feedTail(t, s)

	at := t0.Add(time.Minute)
	must(t, s.SetPassword(ctx, u.ID, "new-hash", current.ID, keep.Hash, at))
	got, err := s.UserByID(ctx, u.ID)
	must(t, err)
	if got.PasswordHash != "new-hash" {
		t.Fatalf("password hash %q", got.PasswordHash)
	}
	for id, want := range map[string]string{current.ID: "", second.ID: "password_changed", narrowed.ID: "password_changed", othersSession.ID: ""} {
		if got := sessionReason(t, s, id); got != want {
			t.Errorf("session %s: revoke reason %q, want %q", id, got, want)
		}
	}
	if n := len(feedSince(t, s, cursor)); n != 2 {
		t.Fatalf("feed has %d new entries, want 2", n)
	}
	for _, ws := range []*keyward.WebSession{keep, othersLogin} {
		_, err := s.WebSession(ctx, ws.Hash)
		must(t, err)
	}
	_, err = s.WebSession(ctx, drop.Hash)
	wantCode(t, err, keyward.ENOTFOUND)
	// The outstanding reset link died with the old password.
	_, err = s.UsePasswordReset(ctx, reset.Hash, "other-hash", at)
	wantCode(t, err, keyward.ENOTFOUND)

	// Keeping nothing ends everything.
	must(t, s.SetPassword(ctx, u.ID, "newer-hash", "", nil, at))
	if got := sessionReason(t, s, current.ID); got != "password_changed" {
		t.Fatalf("kept session's reason %q after a change keeping none", got)
	}
	_, err = s.WebSession(ctx, keep.Hash)
	wantCode(t, err, keyward.ENOTFOUND)
	wantCode(t, s.SetPassword(ctx, newID(t, keyward.PrefixUser), "h", "", nil, at), keyward.ENOTFOUND)
}

// testPasswordReset: a link sets the password once, before it expires, and ends every sign-in.
func testPasswordReset(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	u := newUser(t, s)
	sess, _ := newUserSession(t, s, u, "")
	ws := newWebSession(t, s, u)
	link := func(u *keyward.User) *keyward.PasswordReset {
		r := &keyward.PasswordReset{Hash: newSecretHash(t), UserID: u.ID, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
		must(t, s.CreatePasswordReset(ctx, r))
		return r
	}
	first := link(u)
	second := link(u) // replaces the first
	_, err := s.UsePasswordReset(ctx, first.Hash, "h1", t0)
	wantCode(t, err, keyward.ENOTFOUND)
	got, err := s.UsePasswordReset(ctx, second.Hash, "h2", t0.Add(59*time.Minute))
	must(t, err)
	if got.ID != u.ID || got.PasswordHash != "h2" {
		t.Fatalf("UsePasswordReset = %+v", got)
	}
	if sessionReason(t, s, sess.ID) != "password_changed" {
		t.Fatal("the reset kept a session")
	}
	_, err = s.WebSession(ctx, ws.Hash)
	wantCode(t, err, keyward.ENOTFOUND)
	_, err = s.UsePasswordReset(ctx, second.Hash, "h3", t0)
	wantCode(t, err, keyward.ENOTFOUND)

	expired := link(u)
	_, err = s.UsePasswordReset(ctx, expired.Hash, "h4", t0.Add(time.Hour))
	wantCode(t, err, keyward.EEXPIRED)
	_, err = s.UsePasswordReset(ctx, expired.Hash, "h4", t0)
	wantCode(t, err, keyward.ENOTFOUND) // deleted when it was found expired
	got, err = s.UserByID(ctx, u.ID)
	must(t, err)
	if got.PasswordHash != "h2" {
		t.Fatalf("a refused link changed the password to %q", got.PasswordHash)
	}

	disabled := link(u)
	must(t, s.SetUserDisabled(ctx, u.ID, true, t0))
	_, err = s.UsePasswordReset(ctx, disabled.Hash, "h5", t0)
	wantCode(t, err, keyward.ENOTFOUND)

	unknown := sha256.Sum256([]byte("unknown"))
	_, err = s.UsePasswordReset(ctx, unknown[:], "h", t0)
	wantCode(t, err, keyward.ENOTFOUND)
	wantCode(t, s.CreatePasswordReset(ctx, &keyward.PasswordReset{Hash: newSecretHash(t), UserID: newID(t, keyward.PrefixUser), CreatedAt: t0, ExpiresAt: t0}), keyward.ENOTFOUND)

	// Of concurrent uses of one link, one wins.
	v := newUser(t, s)
	spent := link(v)
	if ok := race(t, 8, keyward.ENOTFOUND, func(int) error {
		_, err := s.UsePasswordReset(ctx, spent.Hash, "r", t0)
		return err
	}); ok != 1 {
		t.Fatalf("%d of 8 concurrent uses of one link succeeded", ok)
	}
}

// race runs n calls of fn at once and returns how many succeeded; every other one must fail
// with the code loser.
func race(t *testing.T, n int, loser string, fn func(i int) error) int {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { errs[i] = fn(i) })
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else {
			wantCode(t, err, loser)
		}
	}
	return ok
}

// testResetLinkEndsWithItsIssuer: a reset link works only while the administrator who issued it
// still is an enabled one; demoted, disabled or deleted, their links no longer set a password.
func testResetLinkEndsWithItsIssuer(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	newAdmin(t, s) // one who stays, so that the others may be demoted
	u := newUser(t, s)
	admins := []*keyward.User{newAdmin(t, s), newAdmin(t, s), newAdmin(t, s), newAdmin(t, s)}
	link := func(issuer *keyward.User) *keyward.PasswordReset {
		r := &keyward.PasswordReset{Hash: newSecretHash(t), UserID: u.ID, IssuedBy: issuer.ID, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
		must(t, s.CreatePasswordReset(ctx, r))
		return r
	}
	ok := link(admins[0])
	if _, err := s.UsePasswordReset(ctx, ok.Hash, "h1", t0); err != nil {
		t.Fatalf("a link of an enabled administrator: %v", err)
	}
	for i, end := range []func(id string) error{
		func(id string) error {
			_, err := s.UpdateUser(ctx, id, keyward.UserChange{Admin: ptr(false)}, t0)
			return err
		},
		func(id string) error {
			_, err := s.UpdateUser(ctx, id, keyward.UserChange{Disabled: ptr(true)}, t0)
			return err
		},
		func(id string) error { return s.DeleteUser(ctx, id, t0) },
	} {
		r := link(admins[i+1])
		must(t, end(admins[i+1].ID))
		_, err := s.UsePasswordReset(ctx, r.Hash, "h2", t0)
		wantCode(t, err, keyward.ENOTFOUND)
	}
}

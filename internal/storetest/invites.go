package storetest

import (
	"bytes"
	"crypto/sha256"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// newInvite stores an invitation of p for email with role, made a second after the one before
// (from t0 on), and returns it with the hash of its token.
func newInvite(t testing.TB, s keyward.Store, p *keyward.Project, email string, role *keyward.Role, by *keyward.User) *keyward.Invite {
	t.Helper()
	inviteClock.Lock()
	inviteClock.n++
	made := t0.Add(time.Duration(inviteClock.n) * time.Second)
	inviteClock.Unlock()
	h := sha256.Sum256([]byte(randomString(t, 43)))
	inv := &keyward.Invite{
		ID: newID(t, keyward.PrefixInvite), ProjectID: p.ID, Email: email, RoleID: role.ID, Hash: h[:],
		CreatedBy: by.ID, CreatedAt: made, ExpiresAt: made.Add(keyward.InviteTTL),
	}
	must(t, s.CreateInvite(t.Context(), inv))
	return inv
}

var inviteClock struct {
	sync.Mutex
	n int
}

func inviteIDs(invs []*keyward.Invite) []string {
	out := []string{}
	for _, inv := range invs {
		out = append(out, inv.ID)
	}
	return out
}

// testInvites: invitations are listed pending and oldest first with their role and without their
// hash, found by hash until they expire, replaced by a new one for the same address, revoked
// within their project only, and gone with their role. A role of another project is refused.
func testInvites(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	ada := newUser(t, s)
	p, _, viewer := projectWithRoles(t, s, ada)
	other, _, otherViewer := projectWithRoles(t, s, ada)

	first := newInvite(t, s, p, "first-"+randomLower(t)+"@example.com", viewer, ada)
	if first.Role == nil || first.Role.Name != "viewer" {
		t.Fatalf("created invite's role = %+v", first.Role)
	}
	second := newInvite(t, s, p, "second-"+randomLower(t)+"@example.com", viewer, ada)
	newInvite(t, s, other, first.Email, otherViewer, ada) // another project's
	bad := &keyward.Invite{ID: newID(t, keyward.PrefixInvite), ProjectID: p.ID, Email: "x@example.com", RoleID: otherViewer.ID,
		Hash: []byte("bad role"), CreatedBy: ada.ID, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	wantCode(t, s.CreateInvite(ctx, bad), keyward.EINVALID)
	bad.ProjectID, bad.RoleID = newID(t, keyward.PrefixProject), viewer.ID
	wantCode(t, s.CreateInvite(ctx, bad), keyward.ENOTFOUND)

	list, err := s.Invites(ctx, p.ID, t0, 10)
	must(t, err)
	if ids := inviteIDs(list); !slices.Equal(ids, []string{first.ID, second.ID}) {
		t.Fatalf("pending invites = %v, want %v", ids, []string{first.ID, second.ID})
	}
	got := list[0]
	if got.Email != first.Email || got.RoleID != viewer.ID || got.Role.Name != "viewer" || !slices.Equal(got.Role.Permissions, viewer.Permissions) ||
		got.CreatedBy != ada.ID || !got.CreatedAt.Equal(first.CreatedAt) || !got.ExpiresAt.Equal(first.ExpiresAt) || got.Hash != nil {
		t.Fatalf("listed invite = %+v", got)
	}
	if list, err := s.Invites(ctx, p.ID, t0, 1); err != nil || len(list) != 1 {
		t.Fatalf("Invites limit 1 = %d invites, %v", len(list), err)
	}
	_, err = s.Invites(ctx, p.ID, t0, 0)
	wantCode(t, err, keyward.EINVALID)

	// Found by hash while pending; expired is gone.
	found, err := s.InviteByHash(ctx, first.Hash, t0.Add(time.Hour))
	must(t, err)
	if found.ID != first.ID || found.ProjectID != p.ID {
		t.Fatalf("InviteByHash = %+v", found)
	}
	_, err = s.InviteByHash(ctx, first.Hash, first.ExpiresAt)
	wantCode(t, err, keyward.ENOTFOUND)
	if list, _ := s.Invites(ctx, p.ID, second.ExpiresAt, 10); len(list) != 0 {
		t.Fatalf("expired invites listed: %v", inviteIDs(list))
	}

	// A new invitation for the same address replaces the pending one: its link stops working.
	again := newInvite(t, s, p, first.Email, viewer, ada)
	_, err = s.InviteByHash(ctx, first.Hash, t0)
	wantCode(t, err, keyward.ENOTFOUND)
	list, err = s.Invites(ctx, p.ID, t0, 10)
	must(t, err)
	if ids := inviteIDs(list); !slices.Equal(ids, []string{second.ID, again.ID}) {
		t.Fatalf("after re-inviting, pending = %v", ids)
	}

	// Revoked within its own project only, once.
	_, err = s.RevokeInvite(ctx, other.ID, second.ID)
	wantCode(t, err, keyward.ENOTFOUND)
	revoked, err := s.RevokeInvite(ctx, p.ID, second.ID)
	must(t, err)
	if revoked.Email != second.Email {
		t.Fatalf("RevokeInvite returned %+v", revoked)
	}
	_, err = s.RevokeInvite(ctx, p.ID, second.ID)
	wantCode(t, err, keyward.ENOTFOUND)
	_, err = s.InviteByHash(ctx, second.Hash, t0)
	wantCode(t, err, keyward.ENOTFOUND)

	// A deleted role takes its invitations with it; so does a deleted project.
	temp := &keyward.Role{ID: newID(t, keyward.PrefixRole), ProjectID: p.ID, Name: "temp", Permissions: []string{"members-view"}, CreatedAt: t0, UpdatedAt: t0}
	must(t, s.CreateRole(ctx, temp))
	withTemp := newInvite(t, s, p, "temp-"+randomLower(t)+"@example.com", temp, ada)
	must(t, s.DeleteRole(ctx, p.ID, temp.ID))
	_, err = s.InviteByHash(ctx, withTemp.Hash, t0)
	wantCode(t, err, keyward.ENOTFOUND)
	must(t, s.DeleteProject(ctx, p.ID, t0))
	_, err = s.InviteByHash(ctx, again.Hash, t0)
	wantCode(t, err, keyward.ENOTFOUND)
}

// testAcceptInvite: accepting creates the account and the membership with the role, or adds an
// existing user with the invitation's address; it spends the invitation, and a refused acceptance
// (another address, a disabled user, a taken email) spends nothing. A member keeps what they hold.
func testAcceptInvite(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	ada := newUser(t, s)
	p, _, viewer := projectWithRoles(t, s, ada)
	at := t0.Add(time.Hour)

	// A new account.
	email := "new-" + randomLower(t) + "@example.com"
	inv := newInvite(t, s, p, email, viewer, ada)
	nu := &keyward.User{ID: newID(t, keyward.PrefixUser), Email: email, PasswordHash: "$argon2id$x", CreatedAt: at}
	wrong := &keyward.User{ID: newID(t, keyward.PrefixUser), Email: "wrong-" + randomLower(t) + "@example.com", PasswordHash: "$argon2id$x", CreatedAt: at}
	_, _, err := s.AcceptInvite(ctx, inv.Hash, keyward.InviteAcceptance{NewUser: wrong, At: at})
	wantCode(t, err, keyward.EFORBIDDEN)
	_, _, err = s.AcceptInvite(ctx, inv.Hash, keyward.InviteAcceptance{NewUser: nu, At: inv.ExpiresAt})
	wantCode(t, err, keyward.ENOTFOUND)
	got, m, err := s.AcceptInvite(ctx, inv.Hash, keyward.InviteAcceptance{NewUser: nu, At: at})
	must(t, err)
	if got.ID != inv.ID || m.UserID != nu.ID || m.Email != email || m.RoleID != viewer.ID || m.Role == nil || m.Role.Name != "viewer" ||
		len(m.Permissions) != 0 || !m.CreatedAt.Equal(at) {
		t.Fatalf("accepted: invite %+v, member %+v", got, m)
	}
	if u, err := s.UserByEmail(ctx, email); err != nil || u.ID != nu.ID || u.PasswordHash != nu.PasswordHash {
		t.Fatalf("created user = %+v, %v", u, err)
	}
	_, _, err = s.AcceptInvite(ctx, inv.Hash, keyward.InviteAcceptance{UserID: nu.ID, At: at})
	wantCode(t, err, keyward.ENOTFOUND)
	if _, err := s.UserByID(ctx, wrong.ID); keyward.ErrorCode(err) != keyward.ENOTFOUND {
		t.Fatalf("refused acceptance left a user behind: %v", err)
	}

	// A new account whose email was taken meanwhile: refused, the invitation still pending.
	taken := newUser(t, s)
	inv = newInvite(t, s, p, taken.Email, viewer, ada)
	_, _, err = s.AcceptInvite(ctx, inv.Hash, keyward.InviteAcceptance{NewUser: &keyward.User{
		ID: newID(t, keyward.PrefixUser), Email: taken.Email, PasswordHash: "x", CreatedAt: at}, At: at})
	wantCode(t, err, keyward.ECONFLICT)
	// Another user may not spend it; a disabled one neither.
	_, _, err = s.AcceptInvite(ctx, inv.Hash, keyward.InviteAcceptance{UserID: ada.ID, At: at})
	wantCode(t, err, keyward.EFORBIDDEN)
	must(t, s.SetUserDisabled(ctx, taken.ID, true, at))
	_, _, err = s.AcceptInvite(ctx, inv.Hash, keyward.InviteAcceptance{UserID: taken.ID, At: at})
	wantCode(t, err, keyward.EREVOKED)
	must(t, s.SetUserDisabled(ctx, taken.ID, false, at))
	_, m, err = s.AcceptInvite(ctx, inv.Hash, keyward.InviteAcceptance{UserID: taken.ID, At: at})
	must(t, err)
	if m.UserID != taken.ID || m.RoleID != viewer.ID {
		t.Fatalf("existing user's membership = %+v", m)
	}

	// A member already keeps their membership: the invitation does not change it.
	inv = newInvite(t, s, p, ada.Email, viewer, ada)
	before, err := s.Member(ctx, p.ID, ada.ID)
	must(t, err)
	_, m, err = s.AcceptInvite(ctx, inv.Hash, keyward.InviteAcceptance{UserID: ada.ID, At: at})
	must(t, err)
	if m.RoleID != before.RoleID || !m.CreatedAt.Equal(before.CreatedAt) {
		t.Fatalf("member after accepting = role %q, want %q kept", m.RoleID, before.RoleID)
	}
	if _, err := s.InviteByHash(ctx, inv.Hash, at); keyward.ErrorCode(err) != keyward.ENOTFOUND {
		t.Fatalf("an accepted invite is still pending: %v", err)
	}
	if bytes.Equal(inv.Hash, nil) {
		t.Fatal("no hash")
	}
}

// testAcceptInviteRace accepts one invitation many times at once, as new accounts and as an
// existing user: exactly one acceptance succeeds, the others are ENOTFOUND (or ECONFLICT for a
// second account with the address), and the project gains one member.
func testAcceptInviteRace(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	ada := newUser(t, s)
	p, _, viewer := projectWithRoles(t, s, ada)
	at := t0.Add(time.Minute)
	const rounds, racers = 6, 4
	for round := range rounds {
		email := "race-" + randomLower(t) + "@example.com"
		inv := newInvite(t, s, p, email, viewer, ada)
		var wg sync.WaitGroup
		results := make(chan error, racers)
		for range racers {
			u := &keyward.User{ID: newID(t, keyward.PrefixUser), Email: email, PasswordHash: "x", CreatedAt: at}
			wg.Go(func() {
				_, _, err := s.AcceptInvite(ctx, inv.Hash, keyward.InviteAcceptance{NewUser: u, At: at})
				results <- err
			})
		}
		wg.Wait()
		close(results)
		won := 0
		for err := range results {
			switch keyward.ErrorCode(err) {
			case "":
				won++
			case keyward.ENOTFOUND, keyward.ECONFLICT:
			default:
				t.Fatalf("round %d: %v", round, err)
			}
		}
		if won != 1 {
			t.Fatalf("round %d: %d acceptances of one invitation succeeded, want 1", round, won)
		}
		u, err := s.UserByEmail(ctx, email)
		must(t, err)
		if _, err := s.Member(ctx, p.ID, u.ID); err != nil {
			t.Fatalf("round %d: the winner is no member: %v", round, err)
		}
	}
	members, err := s.Members(ctx, p.ID)
	must(t, err)
	if len(members) != 1+rounds {
		t.Fatalf("%d members, want %d", len(members), 1+rounds)
	}
}

// testSweepInvites: the sweep deletes invitations that expired, a batch at a time, and keeps the
// pending ones.
func testSweepInvites(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	// Its own era, long before every other subtest's invitations, so that only its own are due.
	now := time.Date(2001, 6, 1, 0, 0, 0, 0, time.UTC)
	ada := newUser(t, s)
	p, _, viewer := projectWithRoles(t, s, ada)
	made := func(email string, expires time.Time) *keyward.Invite {
		h := sha256.Sum256([]byte(randomString(t, 43)))
		inv := &keyward.Invite{ID: newID(t, keyward.PrefixInvite), ProjectID: p.ID, Email: email, RoleID: viewer.ID, Hash: h[:],
			CreatedBy: ada.ID, CreatedAt: expires.Add(-keyward.InviteTTL), ExpiresAt: expires}
		must(t, s.CreateInvite(ctx, inv))
		return inv
	}
	stale1, stale2 := made("stale1@example.com", now.Add(-time.Hour)), made("stale2@example.com", now.Add(-time.Minute))
	live := made("live@example.com", now.Add(time.Hour))
	for range 10 {
		n, err := s.Sweep(ctx, now, 1)
		must(t, err)
		if n == 0 {
			break
		}
	}
	for _, inv := range []*keyward.Invite{stale1, stale2} {
		if _, err := s.RevokeInvite(ctx, p.ID, inv.ID); keyward.ErrorCode(err) != keyward.ENOTFOUND {
			t.Errorf("expired invitation %s not swept: %v", inv.Email, err)
		}
	}
	if _, err := s.InviteByHash(ctx, live.Hash, now); err != nil {
		t.Errorf("a pending invitation was swept: %v", err)
	}
}

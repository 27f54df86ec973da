package storetest

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// testRoles: a project is created with its roles and its creator holding one; roles are read by
// id and by name, listed by name a page at a time with the number of their holders, and compared
// by their look-alike key. A member or a key takes only a role of its own project. The owner
// role cannot be edited or deleted, a role in use cannot be deleted, and the last owner stays.
func testRoles(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	ada := newUser(t, s)
	p, owner, viewer := projectWithRoles(t, s, ada)
	other, _, otherViewer := projectWithRoles(t, s, ada)

	m, err := s.Member(ctx, p.ID, ada.ID)
	must(t, err)
	if m.RoleID != owner.ID || m.Role == nil || !m.Role.Owner || m.Role.Name != keyward.RoleOwner || !slices.Equal(m.Held(), allPermissions) {
		t.Fatalf("creator's membership = %+v (role %+v), want the owner role", m, m.Role)
	}
	for _, ref := range []string{viewer.ID, "viewer"} {
		r, err := s.Role(ctx, p.ID, ref)
		must(t, err)
		if r.ID != viewer.ID || r.ProjectID != p.ID || !slices.Equal(r.Permissions, []string{"api-keys-view"}) || r.Owner {
			t.Errorf("Role(%q) = %+v", ref, r)
		}
	}
	_, err = s.Role(ctx, p.ID, otherViewer.ID)
	wantCode(t, err, keyward.ENOTFOUND)

	// A look-alike name is the same name: Cyrillic е, a case change.
	for _, name := range []string{"vi\u0435wer", "Viewer"} {
		wantCode(t, s.CreateRole(ctx, &keyward.Role{ID: newID(t, keyward.PrefixRole), ProjectID: p.ID, Name: name,
			Permissions: []string{"members-view"}, CreatedAt: t0, UpdatedAt: t0}), keyward.ECONFLICT)
	}
	wantCode(t, s.CreateRole(ctx, &keyward.Role{ID: newID(t, keyward.PrefixRole), ProjectID: p.ID, Name: "vie\u200bwer",
		Permissions: []string{"members-view"}, CreatedAt: t0, UpdatedAt: t0}), keyward.EINVALID)
	auditor := &keyward.Role{ID: newID(t, keyward.PrefixRole), ProjectID: p.ID, Name: "auditor", Description: "Reads the log.",
		Permissions: []string{"members-view"}, CreatedAt: t0, UpdatedAt: t0}
	must(t, s.CreateRole(ctx, auditor))

	// Holders: a member and a key of p take p's roles only.
	bob := newUser(t, s)
	must(t, s.PutMember(ctx, &keyward.Member{ProjectID: p.ID, UserID: bob.ID, RoleID: viewer.ID, CreatedAt: t0, UpdatedAt: t0}))
	wantCode(t, s.PutMember(ctx, &keyward.Member{ProjectID: p.ID, UserID: bob.ID, RoleID: otherViewer.ID, CreatedAt: t0, UpdatedAt: t0}), keyward.EINVALID)
	k := ownedKeyWithRole(t, s, p, ada, viewer.ID)
	if k.Role == nil || k.Role.Name != "viewer" {
		t.Fatalf("created key's role = %+v", k.Role)
	}
	got, err := s.APIKey(ctx, k.ID)
	must(t, err)
	if got.RoleID != viewer.ID || got.Role == nil || got.Role.Name != "viewer" || !slices.Equal(got.Own(), []string{"api-keys-view"}) {
		t.Fatalf("key read back with role %q %+v", got.RoleID, got.Role)
	}
	bad := &keyward.APIKey{ID: randomString(t, keyward.IDLength), ProjectID: p.ID, Name: "bad role", RoleID: otherViewer.ID,
		SecretHash: []byte("h"), Hint: "abcd", CreatedBy: "user:" + ada.ID, Owner: ada.ID, CreatedAt: t0}
	wantCode(t, s.CreateAPIKey(ctx, bad), keyward.EINVALID)
	_, err = s.UpdateAPIKey(ctx, p.ID, k.ID, keyward.APIKeyChange{Role: ptr(otherViewer.ID)}, t0)
	wantCode(t, err, keyward.EINVALID)

	// Pages by name, with holder counts and a search by name prefix or id.
	page, next, err := s.RolePage(ctx, p.ID, keyward.Page{Limit: 2})
	must(t, err)
	if names := roleNames(page); !slices.Equal(names, []string{"auditor", keyward.RoleOwner}) || next == "" {
		t.Fatalf("first page = %v, next %q", names, next)
	}
	page, next, err = s.RolePage(ctx, p.ID, keyward.Page{Limit: 2, Cursor: next})
	must(t, err)
	if names := roleNames(page); !slices.Equal(names, []string{"viewer"}) || next != "" {
		t.Fatalf("second page = %v, next %q", names, next)
	}
	if page[0].Members != 1 || page[0].Keys != 1 {
		t.Errorf("viewer held by %d members and %d keys, want 1 and 1", page[0].Members, page[0].Keys)
	}
	for search, want := range map[string][]string{"VI": {"viewer"}, viewer.ID: {"viewer"}, "x": {}} {
		page, _, err := s.RolePage(ctx, p.ID, keyward.Page{Limit: 10, Search: search})
		must(t, err)
		if names := roleNames(page); !slices.Equal(names, want) {
			t.Errorf("search %q = %v, want %v", search, names, want)
		}
	}
	_, _, err = s.RolePage(ctx, p.ID, keyward.Page{Limit: 2, Cursor: next + "x"})
	wantCode(t, err, keyward.EINVALID)

	// The owner role cannot be changed or deleted; a role in use cannot be deleted.
	_, err = s.UpdateRole(ctx, p.ID, owner.ID, keyward.RoleChange{Name: ptr("boss")}, t0)
	wantCode(t, err, keyward.EFORBIDDEN)
	wantCode(t, s.DeleteRole(ctx, p.ID, owner.ID), keyward.EFORBIDDEN)
	wantCode(t, s.DeleteRole(ctx, p.ID, viewer.ID), keyward.ECONFLICT)
	wantCode(t, s.DeleteRole(ctx, other.ID, viewer.ID), keyward.ENOTFOUND)
	_, err = s.UpdateRole(ctx, p.ID, auditor.ID, keyward.RoleChange{Name: ptr("VIEWER")}, t0)
	wantCode(t, err, keyward.ECONFLICT)
	renamed, err := s.UpdateRole(ctx, p.ID, auditor.ID, keyward.RoleChange{Name: ptr("log-reader"), Description: ptr("")}, t0.Add(time.Second))
	must(t, err)
	if renamed.Name != "log-reader" || renamed.Description != "" || !renamed.UpdatedAt.Equal(t0.Add(time.Second)) {
		t.Errorf("renamed role = %+v", renamed)
	}
	must(t, s.DeleteRole(ctx, p.ID, auditor.ID))
	_, err = s.Role(ctx, p.ID, auditor.ID)
	wantCode(t, err, keyward.ENOTFOUND)

	// The last owner can be neither demoted nor removed; with a second owner, either can.
	wantCode(t, s.PutMember(ctx, &keyward.Member{ProjectID: p.ID, UserID: ada.ID, Permissions: allPermissions, CreatedAt: t0, UpdatedAt: t0}), keyward.ECONFLICT)
	wantCode(t, s.RemoveMember(ctx, p.ID, ada.ID, t0), keyward.ECONFLICT)
	must(t, s.PutMember(ctx, &keyward.Member{ProjectID: p.ID, UserID: bob.ID, RoleID: owner.ID, CreatedAt: t0, UpdatedAt: t0}))
	must(t, s.PutMember(ctx, &keyward.Member{ProjectID: p.ID, UserID: ada.ID, RoleID: viewer.ID, Permissions: allPermissions, CreatedAt: t0, UpdatedAt: t0}))
}

// projectWithRoles creates a project whose creator holds its owner role; its other role,
// viewer, holds api-keys-view.
func projectWithRoles(t testing.TB, s keyward.Store, creator *keyward.User) (p *keyward.Project, owner, viewer *keyward.Role) {
	t.Helper()
	owner = &keyward.Role{ID: newID(t, keyward.PrefixRole), Name: keyward.RoleOwner, Owner: true, Permissions: allPermissions, CreatedAt: t0, UpdatedAt: t0}
	viewer = &keyward.Role{ID: newID(t, keyward.PrefixRole), Name: "viewer", Permissions: []string{"api-keys-view"}, CreatedAt: t0, UpdatedAt: t0}
	p = &keyward.Project{ID: newID(t, keyward.PrefixProject), Name: "p-" + randomLower(t), CreatedAt: t0}
	must(t, s.CreateProject(t.Context(), p, &keyward.Member{UserID: creator.ID, RoleID: owner.ID, CreatedAt: t0, UpdatedAt: t0}, owner, viewer))
	if owner.ProjectID != p.ID || viewer.ProjectID != p.ID {
		t.Fatalf("CreateProject left the roles' project unset: %q, %q", owner.ProjectID, viewer.ProjectID)
	}
	return p, owner, viewer
}

// ownedKeyWithRole stores a key of p owned by owner, holding the role roleID and no permission
// of its own.
func ownedKeyWithRole(t testing.TB, s keyward.Store, p *keyward.Project, owner *keyward.User, roleID string) *keyward.APIKey {
	t.Helper()
	k := &keyward.APIKey{
		ID: randomString(t, keyward.IDLength), ProjectID: p.ID, Name: "role " + randomString(t, 6), RoleID: roleID,
		SecretHash: []byte(randomString(t, 32)), Hint: "abcd", CreatedBy: "user:" + owner.ID, Owner: owner.ID, CreatedAt: t0,
	}
	must(t, s.CreateAPIKey(t.Context(), k))
	return k
}

func roleNames(roles []*keyward.Role) []string {
	out := []string{}
	for _, r := range roles {
		out = append(out, r.Name)
	}
	return out
}

// testUpdateRoleNarrows: editing a role applies to its holders at once. A widening ends nothing;
// taking a permission away ends, in the same transaction, the project sessions of the members
// holding it, the sessions of keys holding it and of keys whose owner holds it that now hold
// less, and nothing else; it raises the revision of the keys holding it.
func testUpdateRoleNarrows(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	ada := newUser(t, s)
	p, _, _ := projectWithRoles(t, s, ada)
	dev := &keyward.Role{ID: newID(t, keyward.PrefixRole), ProjectID: p.ID, Name: "dev", Permissions: []string{"api-keys-view", "api-keys-manage"}, CreatedAt: t0, UpdatedAt: t0}
	must(t, s.CreateRole(ctx, dev))
	eve, carl := newUser(t, s), newUser(t, s)
	must(t, s.PutMember(ctx, &keyward.Member{ProjectID: p.ID, UserID: eve.ID, RoleID: dev.ID, CreatedAt: t0, UpdatedAt: t0}))
	must(t, s.PutMember(ctx, &keyward.Member{ProjectID: p.ID, UserID: carl.ID, Permissions: []string{"api-keys-view", "api-keys-manage"}, CreatedAt: t0, UpdatedAt: t0}))

	rolesKey := ownedKeyWithRole(t, s, p, ada, dev.ID)                      // holds the role
	evesKey := ownedKey(t, s, p, eve, "api-keys-view", "api-keys-manage")   // its owner holds it
	evesSmall := ownedKey(t, s, p, eve, "api-keys-view")                    // within what stays
	carlsKey := ownedKey(t, s, p, carl, "api-keys-view", "api-keys-manage") // unrelated
	rolesSess, rolesTok := newKeySession(t, s, rolesKey)
	evesSess, evesTok := newKeySession(t, s, evesKey)
	smallSess, _ := newKeySession(t, s, evesSmall)
	carlsSess, _ := newKeySession(t, s, carlsKey)
	eveUser, eveTok := newUserSession(t, s, eve, p.ID)
	eveWide, _ := newUserSession(t, s, eve, "") // not narrowed to the project: carries none of it
	carlUser, _ := newUserSession(t, s, carl, p.ID)

	cursor := feedTail(t, s)
	widened, err := s.UpdateRole(ctx, p.ID, dev.ID, keyward.RoleChange{Permissions: &[]string{"api-keys-view", "api-keys-manage", "members-view"}}, t0.Add(time.Second))
	must(t, err)
	if !slices.Equal(widened.Permissions, []string{"api-keys-view", "api-keys-manage", "members-view"}) {
		t.Fatalf("widened role = %v", widened.Permissions)
	}
	if n := len(feedSince(t, s, cursor)); n != 0 {
		t.Fatalf("widening fed %d revocations", n)
	}
	k, err := s.APIKey(ctx, rolesKey.ID)
	must(t, err)
	if k.Revision != rolesKey.Revision+1 || !slices.Contains(k.Own(), "members-view") {
		t.Errorf("after widening, the role's key has revision %d (was %d) and holds %v", k.Revision, rolesKey.Revision, k.Own())
	}

	at := t0.Add(time.Minute)
	_, err = s.UpdateRole(ctx, p.ID, dev.ID, keyward.RoleChange{Permissions: &[]string{"api-keys-view"}}, at)
	must(t, err)
	for id, want := range map[string]string{rolesSess.ID: "role_narrowed", evesSess.ID: "role_narrowed", eveUser.ID: "role_narrowed"} {
		if r := sessionReason(t, s, id); r != want {
			t.Errorf("session %s revoke reason = %q, want %q", id, r, want)
		}
	}
	for _, id := range []string{smallSess.ID, carlsSess.ID, eveWide.ID, carlUser.ID} {
		if !activeAt(t, s, id, at) {
			t.Errorf("session %s, which holds nothing the role lost, was revoked", id)
		}
	}
	want := []revocation{
		{keyward.RevokedSession, eveUser.ID, p.ID, at, eveTok.ExpiresAt},
	}
	keyRevs := []revocation{
		{keyward.RevokedSession, rolesSess.ID, p.ID, at, rolesTok.ExpiresAt},
		{keyward.RevokedSession, evesSess.ID, p.ID, at, evesTok.ExpiresAt},
	}
	if rolesKey.ID > evesKey.ID {
		keyRevs[0], keyRevs[1] = keyRevs[1], keyRevs[0]
	}
	sameJSON(t, "feed", revocations(feedSince(t, s, cursor)), append(want, keyRevs...))
	events := keyEvents(t, s, p)
	slices.SortFunc(events, func(a, b [3]string) int { return strings.Compare(a[1], b[1]) })
	wantEvents := [][3]string{
		{keyward.AuditKeySessionsEnded, "key:" + rolesKey.ID, "reason=role_narrowed"},
		{keyward.AuditKeySessionsEnded, "key:" + evesKey.ID, "reason=role_narrowed"},
	}
	slices.SortFunc(wantEvents, func(a, b [3]string) int { return strings.Compare(a[1], b[1]) })
	sameJSON(t, "audit", events, wantEvents)

	// A session of the role's key started from a copy read before the change is refused.
	_, err = newKeySessionErr(t, s, k)
	wantCode(t, err, keyward.ECONFLICT)
}

// testDeleteRoleRace: deleting a role while it is being given to a member and to a key never
// leaves a holder of a deleted role: either the deletion fails (ECONFLICT) or the grant does
// (EINVALID).
func testDeleteRoleRace(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	ada := newUser(t, s)
	p, _, _ := projectWithRoles(t, s, ada)
	for round := range 10 {
		r := &keyward.Role{ID: newID(t, keyward.PrefixRole), ProjectID: p.ID, Name: "r-" + randomLower(t), Permissions: []string{"api-keys-view"}, CreatedAt: t0, UpdatedAt: t0}
		must(t, s.CreateRole(ctx, r))
		bob := newUser(t, s)
		k := ownedKey(t, s, p, ada, "api-keys-view")
		var delErr, memberErr, keyErr error
		var wg sync.WaitGroup
		wg.Go(func() { delErr = s.DeleteRole(ctx, p.ID, r.ID) })
		wg.Go(func() {
			memberErr = s.PutMember(ctx, &keyward.Member{ProjectID: p.ID, UserID: bob.ID, RoleID: r.ID, CreatedAt: t0, UpdatedAt: t0})
		})
		wg.Go(func() { _, keyErr = s.UpdateAPIKey(ctx, p.ID, k.ID, keyward.APIKeyChange{Role: ptr(r.ID)}, t0) })
		wg.Wait()
		for _, err := range []error{memberErr, keyErr} {
			if c := keyward.ErrorCode(err); err != nil && c != keyward.EINVALID {
				t.Fatalf("round %d: grant: %v", round, err)
			}
		}
		if c := keyward.ErrorCode(delErr); delErr != nil && c != keyward.ECONFLICT {
			t.Fatalf("round %d: delete: %v", round, delErr)
		}
		if delErr == nil && (memberErr == nil || keyErr == nil) {
			t.Fatalf("round %d: the role was deleted and given (member %v, key %v)", round, memberErr, keyErr)
		}
		if delErr != nil && memberErr != nil && keyErr != nil {
			t.Fatalf("round %d: the deletion failed though nobody took the role", round)
		}
	}
}

// testSeedRoles: a project made before roles gets the default roles once, and its members who
// hold every permission the owner role holds get the owner role; the owner role follows the
// catalog.
func testSeedRoles(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	ada, bob := newUser(t, s), newUser(t, s)
	p := newProject(t, s, ada) // no roles: made as before roles existed
	must(t, s.PutMember(ctx, &keyward.Member{ProjectID: p.ID, UserID: bob.ID, Permissions: []string{"api-keys-view"}, CreatedAt: t0, UpdatedAt: t0}))
	defaults := func() []*keyward.Role {
		return []*keyward.Role{
			{Name: keyward.RoleOwner, Owner: true, Permissions: allPermissions},
			{Name: "viewer", Permissions: []string{"api-keys-view"}},
		}
	}
	newRoleID := func() (string, error) { return newID(t, keyward.PrefixRole), nil }
	for range 2 {
		must(t, s.SeedRoles(ctx, defaults, newRoleID, allPermissions, t0))
	}
	page, _, err := s.RolePage(ctx, p.ID, keyward.Page{Limit: 10})
	must(t, err)
	if names := roleNames(page); !slices.Equal(names, []string{keyward.RoleOwner, "viewer"}) {
		t.Fatalf("seeded roles = %v", names)
	}
	m, err := s.Member(ctx, p.ID, ada.ID)
	must(t, err)
	if m.Role == nil || !m.Role.Owner {
		t.Errorf("the member holding every permission has role %+v, want owner", m.Role)
	}
	m, err = s.Member(ctx, p.ID, bob.ID)
	must(t, err)
	if m.Role != nil {
		t.Errorf("a member holding less has role %+v", m.Role)
	}
	more := append(slices.Clone(allPermissions), "audit-view")
	must(t, s.SeedRoles(ctx, defaults, newRoleID, more, t0))
	r, err := s.Role(ctx, p.ID, keyward.RoleOwner)
	must(t, err)
	if !slices.Equal(r.Permissions, more) {
		t.Errorf("owner role after a catalog change = %v, want %v", r.Permissions, more)
	}
}

// randomLower is a random lower-case name part, for project and role names.
func randomLower(t testing.TB) string { return strings.ToLower(randomString(t, 10)) }

// testNarrowRoleExchangeRace: a role narrowed while a session of a key holding it is being
// created from a copy of the key read before: either the session committed first and the
// narrowing revoked it, or the session is refused because the key changed. No session of the
// old permissions outlives the change.
func testNarrowRoleExchangeRace(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	ada := newUser(t, s)
	p, _, _ := projectWithRoles(t, s, ada)
	for round := range 10 {
		r := &keyward.Role{ID: newID(t, keyward.PrefixRole), ProjectID: p.ID, Name: "r-" + randomLower(t), Permissions: []string{"api-keys-view", "api-keys-manage"}, CreatedAt: t0, UpdatedAt: t0}
		must(t, s.CreateRole(ctx, r))
		k := ownedKeyWithRole(t, s, p, ada, r.ID)
		read, err := s.APIKey(ctx, k.ID)
		must(t, err)
		var sess *keyward.Session
		var sessErr, roleErr error
		var wg sync.WaitGroup
		wg.Go(func() { sess, sessErr = newKeySessionErr(t, s, read) })
		wg.Go(func() {
			_, roleErr = s.UpdateRole(ctx, p.ID, r.ID, keyward.RoleChange{Permissions: &[]string{"api-keys-view"}}, t0.Add(time.Minute))
		})
		wg.Wait()
		must(t, roleErr)
		switch {
		case sessErr == nil:
			if activeAt(t, s, sess.ID, t0.Add(time.Minute)) {
				t.Fatalf("round %d: a session started with the role's old permissions is still live", round)
			}
		case keyward.ErrorCode(sessErr) != keyward.ECONFLICT:
			t.Fatalf("round %d: session: %v", round, sessErr)
		}
	}
}

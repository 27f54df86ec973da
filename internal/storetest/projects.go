package storetest

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// managers are the permissions of a member who can manage members.
var managers = []string{"members-manage", "members-view"}

// testRenameProject: a rename sets the name and its look-alike key, as CreateProject does.
func testRenameProject(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	u := newUser(t, s)
	p := newProject(t, s, u)
	other := newProject(t, s, newUser(t, s))
	name := "r-" + strings.ToLower(randomString(t, 10))

	got, err := s.RenameProject(ctx, p.ID, name)
	must(t, err)
	want := &keyward.Project{ID: p.ID, Name: name, CreatedAt: p.CreatedAt}
	sameJSON(t, "RenameProject", got, want)
	got, err = s.ProjectByName(ctx, name)
	must(t, err)
	sameJSON(t, "ProjectByName(new name)", got, want)
	_, err = s.ProjectByName(ctx, p.Name)
	wantCode(t, err, keyward.ENOTFOUND)

	// The old name is free again; the project may keep its own name.
	q := &keyward.Project{ID: newID(t, keyward.PrefixProject), Name: p.Name, CreatedAt: t0}
	must(t, s.CreateProject(ctx, q, &keyward.Member{UserID: u.ID, Permissions: allPermissions, CreatedAt: t0, UpdatedAt: t0}))
	_, err = s.RenameProject(ctx, p.ID, name)
	must(t, err)

	// Another project's name, exact or look-alike, is taken; a failed rename changes nothing.
	_, err = s.RenameProject(ctx, p.ID, other.Name)
	wantCode(t, err, keyward.ECONFLICT)
	_, err = s.RenameProject(ctx, p.ID, strings.ToUpper(other.Name))
	wantCode(t, err, keyward.ECONFLICT)
	_, err = s.RenameProject(ctx, p.ID, strings.Replace(other.Name, "p-", "р-", 1)) // Cyrillic er
	wantCode(t, err, keyward.ECONFLICT)
	_, err = s.RenameProject(ctx, p.ID, name+"\u200d")
	wantCode(t, err, keyward.EINVALID)
	got, err = s.ProjectByID(ctx, p.ID)
	must(t, err)
	sameJSON(t, "project after refused renames", got, want)

	// A look-alike of the new name cannot be created next to it.
	dup := &keyward.Project{ID: newID(t, keyward.PrefixProject), Name: strings.ToUpper(name), CreatedAt: t0}
	wantCode(t, s.CreateProject(ctx, dup, &keyward.Member{UserID: u.ID, Permissions: allPermissions, CreatedAt: t0, UpdatedAt: t0}), keyward.ECONFLICT)

	_, err = s.RenameProject(ctx, newID(t, keyward.PrefixProject), "r-"+strings.ToLower(randomString(t, 10)))
	wantCode(t, err, keyward.ENOTFOUND)

	all, err := s.AllProjects(ctx)
	must(t, err)
	var ids []string
	for i, a := range all {
		ids = append(ids, a.ID)
		if i > 0 && all[i-1].Name >= a.Name {
			t.Fatalf("AllProjects is not ordered by name: %q before %q", all[i-1].Name, a.Name)
		}
	}
	for _, id := range []string{p.ID, q.ID, other.ID} {
		if !slices.Contains(ids, id) {
			t.Fatalf("AllProjects lacks %s", id)
		}
	}
}

// testDeleteProject: deleting a project revokes every session of its keys and every user session
// narrowed to it, appends its keys to the feed, and frees its name; other projects and unnarrowed
// sessions are untouched, and its audit events stay.
func testDeleteProject(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	owner := newUser(t, s)
	member := newUser(t, s)
	p := newProject(t, s, owner)
	q := newProject(t, s, owner)
	must(t, s.PutMember(ctx, &keyward.Member{ProjectID: p.ID, UserID: member.ID, Permissions: allPermissions, CreatedAt: t0, UpdatedAt: t0}))
	k := ownedKey(t, s, p, member, "api-keys-view")
	k2 := ownedKey(t, s, p, owner, "api-keys-view")
	inQ := ownedKey(t, s, q, owner, "api-keys-view")
	ks, ksTok := newKeySession(t, s, k)
	k2s, k2sTok := newKeySession(t, s, k2)
	us, usTok := newUserSession(t, s, member, p.ID)
	unnarrowed, _ := newUserSession(t, s, member, "")
	qs, _ := newKeySession(t, s, inQ)
	must(t, s.AppendAudit(ctx, &keyward.AuditEvent{ProjectID: p.ID, At: t0, Action: keyward.AuditProjectCreated, Target: "project:" + p.ID}))
	cursor := feedTail(t, s)

	at := t0.Add(time.Hour)
	must(t, s.DeleteProject(ctx, p.ID, at))

	_, err := s.ProjectByID(ctx, p.ID)
	wantCode(t, err, keyward.ENOTFOUND)
	_, err = s.Member(ctx, p.ID, member.ID)
	wantCode(t, err, keyward.ENOTFOUND)
	for _, id := range []string{k.ID, k2.ID} {
		_, err = s.APIKey(ctx, id)
		wantCode(t, err, keyward.ENOTFOUND)
	}
	for _, id := range []string{ks.ID, k2s.ID, us.ID} {
		if activeAt(t, s, id, at) {
			t.Errorf("session %s of the deleted project is still active", id)
		}
		if r := sessionReason(t, s, id); r != "project_deleted" {
			t.Errorf("session %s revoked for %q, want project_deleted", id, r)
		}
	}
	for _, id := range []string{unnarrowed.ID, qs.ID} {
		if !activeAt(t, s, id, at) {
			t.Errorf("session %s outside the project was revoked", id)
		}
	}
	// The sessions by id, then each key, covering every token it had.
	sessions := []revocation{
		{keyward.RevokedSession, ks.ID, p.ID, at, ksTok.ExpiresAt},
		{keyward.RevokedSession, k2s.ID, p.ID, at, k2sTok.ExpiresAt},
		{keyward.RevokedSession, us.ID, p.ID, at, usTok.ExpiresAt},
	}
	slices.SortFunc(sessions, func(a, b revocation) int { return strings.Compare(a.ID, b.ID) })
	keys := []revocation{
		{keyward.RevokedKey, k.ID, p.ID, at, ksTok.ExpiresAt},
		{keyward.RevokedKey, k2.ID, p.ID, at, k2sTok.ExpiresAt},
	}
	slices.SortFunc(keys, func(a, b revocation) int { return strings.Compare(a.ID, b.ID) })
	sameJSON(t, "feed", revocations(feedSince(t, s, cursor)), append(sessions, keys...))

	// Nothing of the project starts again.
	_, err = newKeySessionErr(t, s, k)
	wantCode(t, err, keyward.ENOTFOUND)
	err = s.CreateSession(ctx, &keyward.Session{
		ID: newID(t, keyward.PrefixSession), Kind: keyward.SessionUser, UserID: member.ID, ProjectID: p.ID,
		CreatedAt: at, ExpiresAt: at.Add(sessionAge),
	}, newToken(t, at))
	wantCode(t, err, keyward.ENOTFOUND)
	list, err := s.ProjectsForUser(ctx, member.ID)
	must(t, err)
	if len(list) != 0 {
		t.Fatalf("ProjectsForUser after the deletion = %+v", list)
	}

	// The name is free; the audit trail stays.
	again := &keyward.Project{ID: newID(t, keyward.PrefixProject), Name: p.Name, CreatedAt: at}
	must(t, s.CreateProject(ctx, again, &keyward.Member{UserID: owner.ID, Permissions: allPermissions, CreatedAt: at, UpdatedAt: at}))
	events, err := s.AuditEvents(ctx, p.ID, 0, 10)
	must(t, err)
	if len(events) == 0 {
		t.Fatal("the deleted project's audit events are gone")
	}

	wantCode(t, s.DeleteProject(ctx, p.ID, at), keyward.ENOTFOUND)
}

// testLastManager: the last member holding members-manage can be neither removed nor reduced
// below it; once another member holds it, both work. A project whose members never held it (as
// the suite's own fixtures) is not held to the rule.
func testLastManager(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	ada, bob := newUser(t, s), newUser(t, s)
	p := &keyward.Project{ID: newID(t, keyward.PrefixProject), Name: "m-" + strings.ToLower(randomString(t, 10)), CreatedAt: t0}
	must(t, s.CreateProject(ctx, p, &keyward.Member{UserID: ada.ID, Permissions: managers, CreatedAt: t0, UpdatedAt: t0}))
	must(t, s.PutMember(ctx, &keyward.Member{ProjectID: p.ID, UserID: bob.ID, Permissions: []string{"members-view"}, CreatedAt: t0, UpdatedAt: t0}))

	later := t0.Add(time.Minute)
	wantCode(t, s.RemoveMember(ctx, p.ID, ada.ID, later), keyward.ECONFLICT)
	wantCode(t, s.PutMember(ctx, &keyward.Member{ProjectID: p.ID, UserID: ada.ID, Permissions: []string{"members-view"}, CreatedAt: t0, UpdatedAt: later}), keyward.ECONFLICT)
	m, err := s.Member(ctx, p.ID, ada.ID)
	must(t, err)
	sameJSON(t, "the last manager after refused changes", m.Permissions, managers)
	// Changes that keep members-manage, and changes to other members, pass.
	must(t, s.PutMember(ctx, &keyward.Member{ProjectID: p.ID, UserID: ada.ID, Permissions: []string{"api-keys-view", "members-manage"}, CreatedAt: t0, UpdatedAt: later}))
	must(t, s.RemoveMember(ctx, p.ID, bob.ID, later))

	must(t, s.PutMember(ctx, &keyward.Member{ProjectID: p.ID, UserID: bob.ID, Permissions: managers, CreatedAt: later, UpdatedAt: later}))
	must(t, s.PutMember(ctx, &keyward.Member{ProjectID: p.ID, UserID: ada.ID, Permissions: nil, CreatedAt: t0, UpdatedAt: later}))
	wantCode(t, s.RemoveMember(ctx, p.ID, bob.ID, later), keyward.ECONFLICT)
	must(t, s.RemoveMember(ctx, p.ID, ada.ID, later))

	// Without any manager, members come and go.
	free := newProject(t, s, ada)
	must(t, s.PutMember(ctx, &keyward.Member{ProjectID: free.ID, UserID: bob.ID, Permissions: nil, CreatedAt: t0, UpdatedAt: t0}))
	must(t, s.RemoveMember(ctx, free.ID, bob.ID, later))
}

// testLastManagerRace: two managers remove, or reduce, each other at once; exactly one change
// wins, and the project keeps a manager.
func testLastManagerRace(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	later := t0.Add(time.Minute)
	for round := range 16 {
		ada, bob := newUser(t, s), newUser(t, s)
		p := &keyward.Project{ID: newID(t, keyward.PrefixProject), Name: "race-" + strings.ToLower(randomString(t, 10)), CreatedAt: t0}
		must(t, s.CreateProject(ctx, p, &keyward.Member{UserID: ada.ID, Permissions: managers, CreatedAt: t0, UpdatedAt: t0}))
		must(t, s.PutMember(ctx, &keyward.Member{ProjectID: p.ID, UserID: bob.ID, Permissions: managers, CreatedAt: t0, UpdatedAt: t0}))
		change := func(u *keyward.User) error {
			if round%2 == 0 {
				return s.RemoveMember(ctx, p.ID, u.ID, later)
			}
			return s.PutMember(ctx, &keyward.Member{ProjectID: p.ID, UserID: u.ID, Permissions: []string{"members-view"}, CreatedAt: t0, UpdatedAt: later})
		}
		var errs [2]error
		var wg sync.WaitGroup
		wg.Go(func() { errs[0] = change(ada) })
		wg.Go(func() { errs[1] = change(bob) })
		wg.Wait()
		codes := []string{keyward.ErrorCode(errs[0]), keyward.ErrorCode(errs[1])}
		slices.Sort(codes)
		if !slices.Equal(codes, []string{"", keyward.ECONFLICT}) {
			t.Fatalf("round %d: results %v, %v; want one success and one ECONFLICT", round, errs[0], errs[1])
		}
		members, err := s.Members(ctx, p.ID)
		must(t, err)
		n := 0
		for _, m := range members {
			if slices.Contains(m.Permissions, "members-manage") {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("round %d: %d members hold members-manage, want 1", round, n)
		}
	}
}

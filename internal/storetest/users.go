package storetest

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

func testPingClose(t *testing.T, s keyward.Store) {
	must(t, s.Ping(t.Context()))
	must(t, s.Close())
	if err := s.Ping(t.Context()); err == nil {
		t.Fatal("Ping after Close succeeded")
	}
}

func testUsers(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	before, err := s.CountUsers(ctx)
	must(t, err)

	local := "Mixed.Case-" + randomString(t, 8)
	u := &keyward.User{
		ID:           newID(t, keyward.PrefixUser),
		Email:        local + "@Example.COM",
		PasswordHash: "$argon2id$v=19$m=65536,t=1,p=4$c2FsdA$aGFzaA",
		Admin:        true,
		CreatedAt:    t0,
	}
	must(t, s.CreateUser(ctx, u))
	want := *u
	want.Email = strings.ToLower(local + "@example.com")

	got, err := s.UserByID(ctx, u.ID)
	must(t, err)
	sameJSON(t, "UserByID", got, &want)

	for _, email := range []string{want.Email, strings.ToUpper(want.Email), local + "@example.Com"} {
		got, err := s.UserByEmail(ctx, email)
		must(t, err)
		if got.ID != u.ID {
			t.Fatalf("UserByEmail(%q) = %s, want %s", email, got.ID, u.ID)
		}
	}

	dup := &keyward.User{ID: newID(t, keyward.PrefixUser), Email: strings.ToUpper(want.Email), PasswordHash: "x", CreatedAt: t0}
	wantCode(t, s.CreateUser(ctx, dup), keyward.ECONFLICT)
	_, err = s.UserByID(ctx, dup.ID)
	wantCode(t, err, keyward.ENOTFOUND)

	other := newUser(t, s)
	if other.Admin || other.Disabled {
		t.Fatalf("new user: admin %v, disabled %v", other.Admin, other.Disabled)
	}

	after, err := s.CountUsers(ctx)
	must(t, err)
	if after != before+2 {
		t.Fatalf("CountUsers = %d, want %d", after, before+2)
	}

	_, err = s.UserByID(ctx, newID(t, keyward.PrefixUser))
	wantCode(t, err, keyward.ENOTFOUND)
	_, err = s.UserByEmail(ctx, "nobody-"+randomString(t, 8)+"@example.com")
	wantCode(t, err, keyward.ENOTFOUND)
}

func testSetUserDisabled(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	u := newUser(t, s)
	p := newProject(t, s, u)
	k := newKey(t, s, p, "survives")
	plain, plainToken := newUserSession(t, s, u, "")
	narrowed, narrowedToken := newUserSession(t, s, u, p.ID)
	keySession, _ := newKeySession(t, s, k)
	other, _ := newUserSession(t, s, newUser(t, s), "")
	cursor := feedTail(t, s)

	at := t0.Add(time.Minute)
	must(t, s.SetUserDisabled(ctx, u.ID, true, at))
	got, err := s.UserByID(ctx, u.ID)
	must(t, err)
	if !got.Disabled {
		t.Fatal("user not disabled")
	}
	for _, id := range []string{plain.ID, narrowed.ID} {
		if activeAt(t, s, id, at) {
			t.Errorf("session %s of the disabled user is still active", id)
		}
	}
	for _, id := range []string{keySession.ID, other.ID} {
		if !activeAt(t, s, id, at) {
			t.Errorf("unrelated session %s was revoked", id)
		}
	}
	feed := revocations(feedSince(t, s, cursor))
	slices.SortFunc(feed, func(a, b revocation) int { return strings.Compare(a.ID, b.ID) })
	want := []revocation{
		{keyward.RevokedSession, plain.ID, "", at, plainToken.ExpiresAt},
		{keyward.RevokedSession, narrowed.ID, p.ID, at, narrowedToken.ExpiresAt},
	}
	slices.SortFunc(want, func(a, b revocation) int { return strings.Compare(a.ID, b.ID) })
	sameJSON(t, "feed after disabling", feed, want)

	// A disabled user can start no session, even one that raced with the disabling.
	err = s.CreateSession(ctx, &keyward.Session{
		ID: newID(t, keyward.PrefixSession), Kind: keyward.SessionUser, UserID: u.ID,
		CreatedAt: at, ExpiresAt: at.Add(sessionAge),
	}, newToken(t, at))
	wantCode(t, err, keyward.EREVOKED)

	must(t, s.SetUserDisabled(ctx, u.ID, false, at.Add(time.Minute)))
	got, err = s.UserByID(ctx, u.ID)
	must(t, err)
	if got.Disabled {
		t.Fatal("user still disabled")
	}
	if activeAt(t, s, plain.ID, at.Add(time.Minute)) {
		t.Fatal("enabling the user brought a revoked session back")
	}
	if n := len(feedSince(t, s, cursor)); n != 2 {
		t.Fatalf("feed has %d new entries after enabling, want 2", n)
	}

	wantCode(t, s.SetUserDisabled(ctx, newID(t, keyward.PrefixUser), true, at), keyward.ENOTFOUND)
}

func testProjects(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	u := newUser(t, s)
	b := newProject(t, s, u)
	a := &keyward.Project{ID: newID(t, keyward.PrefixProject), Name: "a-" + b.Name, CreatedAt: t0}
	must(t, s.CreateProject(ctx, a, &keyward.Member{UserID: u.ID, Permissions: []string{"members-view"}, CreatedAt: t0, UpdatedAt: t0}))

	got, err := s.ProjectByID(ctx, b.ID)
	must(t, err)
	sameJSON(t, "ProjectByID", got, b)
	got, err = s.ProjectByName(ctx, a.Name)
	must(t, err)
	sameJSON(t, "ProjectByName", got, a)

	m, err := s.Member(ctx, a.ID, u.ID)
	must(t, err)
	sameJSON(t, "creator's permissions", m.Permissions, []string{"members-view"})

	list, err := s.ProjectsForUser(ctx, u.ID)
	must(t, err)
	sameJSON(t, "ProjectsForUser", list, []*keyward.Project{a, b})

	// A taken name fails as a whole: the creator does not become a member of anything.
	other := newUser(t, s)
	dup := &keyward.Project{ID: newID(t, keyward.PrefixProject), Name: b.Name, CreatedAt: t0}
	wantCode(t, s.CreateProject(ctx, dup, &keyward.Member{UserID: other.ID, Permissions: allPermissions, CreatedAt: t0, UpdatedAt: t0}), keyward.ECONFLICT)
	_, err = s.ProjectByID(ctx, dup.ID)
	wantCode(t, err, keyward.ENOTFOUND)
	list, err = s.ProjectsForUser(ctx, other.ID)
	must(t, err)
	if len(list) != 0 {
		t.Fatalf("ProjectsForUser after a failed creation = %d projects, want none", len(list))
	}

	_, err = s.ProjectByID(ctx, newID(t, keyward.PrefixProject))
	wantCode(t, err, keyward.ENOTFOUND)
	_, err = s.ProjectByName(ctx, "missing-"+strings.ToLower(randomString(t, 8)))
	wantCode(t, err, keyward.ENOTFOUND)
}

func testMembers(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	owner := newUser(t, s)
	p := newProject(t, s, owner)
	// Emails chosen to sort in a known order, whatever the random part.
	tag := strings.ToLower(randomString(t, 8))
	zed := &keyward.User{ID: newID(t, keyward.PrefixUser), Email: "zed-" + tag + "@example.com", PasswordHash: "x", CreatedAt: t0}
	amy := &keyward.User{ID: newID(t, keyward.PrefixUser), Email: "Amy-" + tag + "@example.com", PasswordHash: "x", CreatedAt: t0}
	must(t, s.CreateUser(ctx, zed))
	must(t, s.CreateUser(ctx, amy))

	later := t0.Add(time.Hour)
	must(t, s.PutMember(ctx, &keyward.Member{ProjectID: p.ID, UserID: zed.ID, Permissions: []string{"members-view"}, CreatedAt: t0, UpdatedAt: t0}))
	must(t, s.PutMember(ctx, &keyward.Member{ProjectID: p.ID, UserID: amy.ID, Permissions: nil, CreatedAt: t0, UpdatedAt: t0}))
	// Replacing keeps one membership with the new permissions.
	must(t, s.PutMember(ctx, &keyward.Member{ProjectID: p.ID, UserID: zed.ID, Permissions: []string{"api-keys-view", "members-view"}, CreatedAt: later, UpdatedAt: later}))

	m, err := s.Member(ctx, p.ID, zed.ID)
	must(t, err)
	if m.Email != zed.Email || !slices.Equal(m.Permissions, []string{"api-keys-view", "members-view"}) || !m.UpdatedAt.Equal(later) {
		t.Fatalf("Member after replace = %+v", m)
	}
	m, err = s.Member(ctx, p.ID, amy.ID)
	must(t, err)
	if len(m.Permissions) != 0 {
		t.Fatalf("member without permissions has %q", m.Permissions)
	}

	list, err := s.Members(ctx, p.ID)
	must(t, err)
	var emails []string
	for _, m := range list {
		emails = append(emails, m.Email)
	}
	sameJSON(t, "Members by email", emails, []string{strings.ToLower(amy.Email), owner.Email, zed.Email})

	_, err = s.Member(ctx, p.ID, newID(t, keyward.PrefixUser))
	wantCode(t, err, keyward.ENOTFOUND)
	wantCode(t, s.PutMember(ctx, &keyward.Member{ProjectID: newID(t, keyward.PrefixProject), UserID: zed.ID, CreatedAt: t0, UpdatedAt: t0}), keyward.ENOTFOUND)
	wantCode(t, s.PutMember(ctx, &keyward.Member{ProjectID: p.ID, UserID: newID(t, keyward.PrefixUser), CreatedAt: t0, UpdatedAt: t0}), keyward.ENOTFOUND)
}

func testRemoveMember(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	owner := newUser(t, s)
	p := newProject(t, s, owner)
	q := newProject(t, s, owner)
	u := newUser(t, s)
	must(t, s.PutMember(ctx, &keyward.Member{ProjectID: p.ID, UserID: u.ID, Permissions: []string{"members-view"}, CreatedAt: t0, UpdatedAt: t0}))
	must(t, s.PutMember(ctx, &keyward.Member{ProjectID: q.ID, UserID: u.ID, Permissions: []string{"members-view"}, CreatedAt: t0, UpdatedAt: t0}))
	inP, inPToken := newUserSession(t, s, u, p.ID)
	inQ, _ := newUserSession(t, s, u, q.ID)
	unnarrowed, _ := newUserSession(t, s, u, "")
	ownerInP, _ := newUserSession(t, s, owner, p.ID)
	cursor := feedTail(t, s)

	at := t0.Add(time.Minute)
	must(t, s.RemoveMember(ctx, p.ID, u.ID, at))
	_, err := s.Member(ctx, p.ID, u.ID)
	wantCode(t, err, keyward.ENOTFOUND)
	if activeAt(t, s, inP.ID, at) {
		t.Error("the removed member's session narrowed to the project is still active")
	}
	for _, id := range []string{inQ.ID, unnarrowed.ID, ownerInP.ID} {
		if !activeAt(t, s, id, at) {
			t.Errorf("unrelated session %s was revoked", id)
		}
	}
	sameJSON(t, "feed", revocations(feedSince(t, s, cursor)), []revocation{
		{keyward.RevokedSession, inP.ID, p.ID, at, inPToken.ExpiresAt},
	})
	list, err := s.ProjectsForUser(ctx, u.ID)
	must(t, err)
	sameJSON(t, "ProjectsForUser", list, []*keyward.Project{q})

	// No new session narrowed to the project, even one that raced with the removal.
	err = s.CreateSession(ctx, &keyward.Session{
		ID: newID(t, keyward.PrefixSession), Kind: keyward.SessionUser, UserID: u.ID, ProjectID: p.ID,
		CreatedAt: at, ExpiresAt: at.Add(sessionAge),
	}, newToken(t, at))
	wantCode(t, err, keyward.ENOTFOUND)

	wantCode(t, s.RemoveMember(ctx, p.ID, u.ID, at), keyward.ENOTFOUND)
}

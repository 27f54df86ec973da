package storetest

import (
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// testUserSessions: a user's own sessions page lists their live token sessions, newest first,
// without key sessions, other users' sessions, revoked ones or ones whose refresh token expired;
// and their dashboard logins that have not ended, most recently used first.
func testUserSessions(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	u, other := newUser(t, s), newUser(t, s)
	p := newProject(t, s, u)
	newKeySession(t, s, newKey(t, s, p, "not-a-user-session"))
	newUserSession(t, s, other, "")

	older, _ := newUserSession(t, s, u, "")
	newer := &keyward.Session{ID: newID(t, keyward.PrefixSession), Kind: keyward.SessionUser, UserID: u.ID, ProjectID: p.ID,
		Scope: []string{"api-keys-view"}, CreatedAt: t0.Add(time.Minute), ExpiresAt: t0.Add(sessionAge)}
	must(t, s.CreateSession(ctx, newer, newToken(t, t0.Add(time.Minute))))
	revoked, _ := newUserSession(t, s, u, "")
	must(t, s.RevokeSession(ctx, revoked.ID, "test", t0))

	ids := func(now time.Time, limit int) []string {
		t.Helper()
		got, err := s.UserSessions(ctx, u.ID, now, limit)
		must(t, err)
		var out []string
		for _, sess := range got {
			if sess.UserID != u.ID || sess.Kind != keyward.SessionUser {
				t.Fatalf("UserSessions returned %+v", sess)
			}
			out = append(out, sess.ID)
		}
		return out
	}
	if got := ids(t0, 10); len(got) != 2 || got[0] != newer.ID || got[1] != older.ID {
		t.Fatalf("UserSessions = %v, want [%s %s]", got, newer.ID, older.ID)
	}
	got, err := s.UserSessions(ctx, u.ID, t0, 1)
	must(t, err)
	if len(got) != 1 || got[0].ProjectID != p.ID || len(got[0].Scope) != 1 || got[0].Scope[0] != "api-keys-view" {
		t.Fatalf("UserSessions limit 1 = %+v, want the newer session with its project and scope", got)
	}
	// The older session's refresh token expires first: without it the session cannot go on.
	if got := ids(t0.Add(refreshTTL), 10); len(got) != 1 || got[0] != newer.ID {
		t.Fatalf("after the older refresh token expired: %v, want [%s]", got, newer.ID)
	}
	_, err = s.UserSessions(ctx, u.ID, t0, 0)
	wantCode(t, err, keyward.EINVALID)

	// Dashboard logins.
	a := newWebSession(t, s, u)
	b := newWebSession(t, s, u)
	newWebSession(t, s, other)
	must(t, s.TouchWebSession(ctx, a.Hash, t0.Add(5*time.Minute)))
	logins, err := s.UserWebSessions(ctx, u.ID, t0.Add(6*time.Minute), 10)
	must(t, err)
	if len(logins) != 2 || string(logins[0].Hash) != string(a.Hash) || string(logins[1].Hash) != string(b.Hash) ||
		!logins[0].LastSeenAt.Equal(t0.Add(5*time.Minute)) || !logins[1].CreatedAt.Equal(t0) {
		t.Fatalf("UserWebSessions = %+v, want a (touched) then b", logins)
	}
	must(t, s.DeleteWebSession(ctx, a.Hash))
	if logins, err = s.UserWebSessions(ctx, u.ID, t0, 10); err != nil || len(logins) != 1 {
		t.Fatalf("after logging a out: %d logins, %v", len(logins), err)
	}
	if logins, err = s.UserWebSessions(ctx, u.ID, b.ExpiresAt, 10); err != nil || len(logins) != 0 {
		t.Fatalf("at the logins' absolute end: %d logins, %v", len(logins), err)
	}
	_, err = s.UserWebSessions(ctx, u.ID, t0, -1)
	wantCode(t, err, keyward.EINVALID)
}

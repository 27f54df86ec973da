package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

func testSessions(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	u := newUser(t, s)
	p := newProject(t, s, u)
	k := newKey(t, s, p, "sessions")

	// Scope: nil (every permission), empty (none) and a list must all come back as they went in.
	for _, tc := range []struct {
		name  string
		sess  keyward.Session
		scope []string
	}{
		{"key, nil scope", keyward.Session{Kind: keyward.SessionKey, KeyID: k.ID, ProjectID: p.ID}, nil},
		{"key, empty scope", keyward.Session{Kind: keyward.SessionKey, KeyID: k.ID, ProjectID: p.ID}, []string{}},
		{"key, scope", keyward.Session{Kind: keyward.SessionKey, KeyID: k.ID, ProjectID: p.ID}, []string{"api-keys-view", "members-view"}},
		{"user", keyward.Session{Kind: keyward.SessionUser, UserID: u.ID}, nil},
		{"user in project", keyward.Session{Kind: keyward.SessionUser, UserID: u.ID, ProjectID: p.ID}, []string{"members-view"}},
	} {
		sess := tc.sess
		sess.ID = newID(t, keyward.PrefixSession)
		sess.Scope = tc.scope
		sess.CreatedAt = t0
		sess.ExpiresAt = t0.Add(sessionAge)
		first := newToken(t, t0)
		must(t, s.CreateSession(ctx, &sess, first))

		got, err := s.Session(ctx, sess.ID)
		must(t, err)
		sameJSON(t, tc.name+": Session", got, &sess)
		if (got.Scope == nil) != (tc.scope == nil) {
			t.Fatalf("%s: scope %#v came back as %#v", tc.name, tc.scope, got.Scope)
		}
		got, err = s.RefreshTokenSession(ctx, first.SessionID, first.Hash)
		must(t, err)
		sameJSON(t, tc.name+": RefreshTokenSession", got, &sess)
	}

	_, err := s.Session(ctx, newID(t, keyward.PrefixSession))
	wantCode(t, err, keyward.ENOTFOUND)
	_, err = s.RefreshTokenSession(ctx, "", newToken(t, t0).Hash)
	wantCode(t, err, keyward.ENOTFOUND)
	// A token is found only in the session it names: another session's id is no way in.
	other, otherTok := newKeySession(t, s, k)
	_, err = s.RefreshTokenSession(ctx, other.ID, newToken(t, t0).Hash)
	wantCode(t, err, keyward.ENOTFOUND)
	_, err = s.ConsumeRefreshToken(ctx, other.ID, newToken(t, t0).Hash, t0.Add(time.Minute), newToken(t, t0.Add(time.Minute)))
	wantCode(t, err, keyward.ENOTFOUND)
	if !activeAt(t, s, other.ID, t0.Add(time.Minute)) {
		t.Fatal("presenting an unknown token with a session's id revoked the session")
	}
	_, err = s.RefreshTokenSession(ctx, other.ID, otherTok.Hash)
	must(t, err)

	// A consumed token still names its session.
	sess, first := newKeySession(t, s, k)
	_, err = s.ConsumeRefreshToken(ctx, first.SessionID, first.Hash, t0.Add(time.Minute), newToken(t, t0.Add(time.Minute)))
	must(t, err)
	got, err := s.RefreshTokenSession(ctx, first.SessionID, first.Hash)
	must(t, err)
	if got.ID != sess.ID {
		t.Fatalf("RefreshTokenSession of a consumed token = %s, want %s", got.ID, sess.ID)
	}
}

func testSessionNeedsCredential(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	u := newUser(t, s)
	p := newProject(t, s, u)
	stranger := newUser(t, s)
	for _, tc := range []struct {
		name string
		sess keyward.Session
	}{
		{"unknown key", keyward.Session{Kind: keyward.SessionKey, KeyID: randomString(t, keyward.IDLength), ProjectID: p.ID}},
		{"unknown user", keyward.Session{Kind: keyward.SessionUser, UserID: newID(t, keyward.PrefixUser)}},
		{"not a member", keyward.Session{Kind: keyward.SessionUser, UserID: stranger.ID, ProjectID: p.ID}},
	} {
		sess := tc.sess
		sess.ID = newID(t, keyward.PrefixSession)
		sess.CreatedAt, sess.ExpiresAt = t0, t0.Add(sessionAge)
		first := newToken(t, t0)
		if err := s.CreateSession(ctx, &sess, first); keyward.ErrorCode(err) != keyward.ENOTFOUND {
			t.Errorf("%s: CreateSession error %v, want code %s", tc.name, err, keyward.ENOTFOUND)
		}
		_, err := s.Session(ctx, sess.ID)
		wantCode(t, err, keyward.ENOTFOUND)
		_, err = s.RefreshTokenSession(ctx, first.SessionID, first.Hash)
		wantCode(t, err, keyward.ENOTFOUND)
	}
}

func testRevokeSession(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	p := newProject(t, s, newUser(t, s))
	k := newKey(t, s, p, "revoked")
	sess, first := newKeySession(t, s, k)
	cursor := feedTail(t, s)

	at := t0.Add(time.Minute)
	must(t, s.RevokeSession(ctx, sess.ID, "logout", at))
	got, err := s.Session(ctx, sess.ID)
	must(t, err)
	if got.RevokedAt == nil || !got.RevokedAt.Equal(at) || got.RevokeReason != "logout" {
		t.Fatalf("revoked session: revoked at %v for %q", got.RevokedAt, got.RevokeReason)
	}
	want := []revocation{{keyward.RevokedSession, sess.ID, p.ID, at, first.ExpiresAt}}
	sameJSON(t, "feed", revocations(feedSince(t, s, cursor)), want)

	// Revoking again succeeds and changes nothing.
	must(t, s.RevokeSession(ctx, sess.ID, "again", at.Add(time.Hour)))
	got, err = s.Session(ctx, sess.ID)
	must(t, err)
	if !got.RevokedAt.Equal(at) || got.RevokeReason != "logout" {
		t.Fatalf("second revocation changed the session: revoked at %v for %q", got.RevokedAt, got.RevokeReason)
	}
	sameJSON(t, "feed after a second revocation", revocations(feedSince(t, s, cursor)), want)

	wantCode(t, s.RevokeSession(ctx, newID(t, keyward.PrefixSession), "logout", at), keyward.ENOTFOUND)
}

func testConsumeRefreshToken(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	p := newProject(t, s, newUser(t, s))
	k := newKey(t, s, p, "refresher")
	sess, tok := newKeySession(t, s, k)
	cursor := feedTail(t, s)

	// A chain of refreshes, each token spent by the next.
	now := t0
	for i := range 3 {
		now = now.Add(time.Hour)
		next := newToken(t, now)
		got, err := s.ConsumeRefreshToken(ctx, tok.SessionID, tok.Hash, now, next)
		if err != nil {
			t.Fatalf("refresh %d: %v", i, err)
		}
		sameJSON(t, "session returned", got, sess)
		owner, err := s.RefreshTokenSession(ctx, next.SessionID, next.Hash)
		must(t, err)
		if owner.ID != sess.ID {
			t.Fatalf("next token belongs to %s, want %s", owner.ID, sess.ID)
		}
		tok = next
	}
	if n := len(feedSince(t, s, cursor)); n != 0 {
		t.Fatalf("successful refreshes appended %d feed entries", n)
	}

	_, err := s.ConsumeRefreshToken(ctx, "", newToken(t, now).Hash, now, newToken(t, now))
	wantCode(t, err, keyward.ENOTFOUND)
}

func testConsumeRefreshTokenReuse(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	p := newProject(t, s, newUser(t, s))
	k := newKey(t, s, p, "reused")
	sess, first := newKeySession(t, s, k)
	now := t0.Add(time.Minute)
	second := newToken(t, now)
	_, err := s.ConsumeRefreshToken(ctx, first.SessionID, first.Hash, now, second)
	must(t, err)
	cursor := feedTail(t, s)

	// The spent token comes back: the whole session dies, and the caller learns which one.
	later := now.Add(time.Minute)
	got, err := s.ConsumeRefreshToken(ctx, first.SessionID, first.Hash, later, newToken(t, later))
	wantCode(t, err, keyward.EREFRESHREUSED)
	if got == nil || got.ID != sess.ID || got.RevokedAt == nil {
		t.Fatalf("reuse returned session %+v, want %s revoked", got, sess.ID)
	}
	if activeAt(t, s, sess.ID, later) {
		t.Fatal("session still active after reuse")
	}
	sameJSON(t, "feed after reuse", revocations(feedSince(t, s, cursor)), []revocation{
		{keyward.RevokedSession, sess.ID, p.ID, later, second.ExpiresAt},
	})

	// The legitimate holder's unspent token is dead too.
	_, err = s.ConsumeRefreshToken(ctx, second.SessionID, second.Hash, later, newToken(t, later))
	wantCode(t, err, keyward.EREVOKED)
	// Reuse of a revoked session's token answers reuse again, without a second feed entry.
	_, err = s.ConsumeRefreshToken(ctx, first.SessionID, first.Hash, later, newToken(t, later))
	wantCode(t, err, keyward.EREFRESHREUSED)
	if n := len(feedSince(t, s, cursor)); n != 1 {
		t.Fatalf("feed has %d entries after a second reuse, want 1", n)
	}
}

func testConsumeRefreshTokenRefused(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	p := newProject(t, s, newUser(t, s))
	k := newKey(t, s, p, "refused")
	var refusedNext []*keyward.RefreshToken
	consume := func(tok *keyward.RefreshToken, now time.Time, want string) {
		t.Helper()
		next := newToken(t, now)
		next.SessionID = tok.SessionID
		refusedNext = append(refusedNext, next)
		_, err := s.ConsumeRefreshToken(ctx, tok.SessionID, tok.Hash, now, next)
		wantCode(t, err, want)
	}

	expiring, tok := newKeySession(t, s, k)
	consume(tok, tok.ExpiresAt, keyward.EEXPIRED)
	consume(tok, tok.ExpiresAt, keyward.EEXPIRED) // still not spent: no reuse

	// A session past its max age, with a token that is still good.
	old := &keyward.Session{
		ID: newID(t, keyward.PrefixSession), Kind: keyward.SessionKey, KeyID: k.ID, ProjectID: p.ID,
		CreatedAt: t0, ExpiresAt: t0.Add(time.Hour),
	}
	oldTok := newToken(t, t0)
	must(t, s.CreateSession(ctx, old, oldTok))
	consume(oldTok, old.ExpiresAt, keyward.EEXPIRED)

	revoked, revTok := newKeySession(t, s, k)
	must(t, s.RevokeSession(ctx, revoked.ID, "logout", t0))
	consume(revTok, t0.Add(time.Minute), keyward.EREVOKED)
	// Revoked wins over expired.
	consume(revTok, revTok.ExpiresAt, keyward.EREVOKED)

	// A refusal is not a reuse: it revokes nothing and stores no next token.
	for _, id := range []string{expiring.ID, old.ID} {
		if !activeAt(t, s, id, t0) {
			t.Errorf("a refused refresh revoked session %s", id)
		}
	}
	for _, next := range refusedNext {
		_, err := s.RefreshTokenSession(ctx, next.SessionID, next.Hash)
		wantCode(t, err, keyward.ENOTFOUND)
	}
}

func testConcurrentConsume(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	p := newProject(t, s, newUser(t, s))
	k := newKey(t, s, p, "racing")
	sess, tok := newKeySession(t, s, k)
	cursor := feedTail(t, s)

	const n = 50
	now := t0.Add(time.Minute)
	errs := make([]error, n)
	nexts := make([]*keyward.RefreshToken, n)
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range n {
		nexts[i] = newToken(t, now)
		done.Go(func() {
			start.Wait()
			_, errs[i] = s.ConsumeRefreshToken(ctx, tok.SessionID, tok.Hash, now, nexts[i])
		})
	}
	start.Done()
	done.Wait()

	winner := -1
	for i, err := range errs {
		switch code := keyward.ErrorCode(err); code {
		case "":
			if winner >= 0 {
				t.Fatalf("both call %d and call %d spent the token", winner, i)
			}
			winner = i
		case keyward.EREFRESHREUSED:
		default:
			t.Fatalf("call %d: %v, want success or %s", i, err, keyward.EREFRESHREUSED)
		}
	}
	if winner < 0 {
		t.Fatal("no call spent the token")
	}
	// Only the winner's next token was stored.
	for i, next := range nexts {
		_, err := s.RefreshTokenSession(ctx, next.SessionID, next.Hash)
		if i == winner {
			must(t, err)
		} else {
			wantCode(t, err, keyward.ENOTFOUND)
		}
	}
	// The losers were reuse: the session is revoked once.
	if activeAt(t, s, sess.ID, now) {
		t.Fatal("session still active after concurrent reuse")
	}
	feed := feedSince(t, s, cursor)
	if len(feed) != 1 || feed[0].ID != sess.ID {
		t.Fatalf("feed after concurrent reuse = %+v, want one entry for %s", feed, sess.ID)
	}
}

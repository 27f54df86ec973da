package storetest

import (
	"crypto/sha256"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// keySessionAt starts a session of k at at, from the secret of generation gen, and returns it
// with its first refresh token, or the store's error.
func keySessionAt(t testing.TB, s keyward.Store, k *keyward.APIKey, gen int64, at time.Time) (*keyward.Session, *keyward.RefreshToken, error) {
	t.Helper()
	sess := &keyward.Session{
		ID: newID(t, keyward.PrefixSession), Kind: keyward.SessionKey, KeyID: k.ID, KeyRevision: k.Revision,
		SecretGen: gen, ProjectID: k.ProjectID, CreatedAt: at, ExpiresAt: at.Add(sessionAge),
	}
	first := newToken(t, at)
	return sess, first, s.CreateSession(t.Context(), sess, first)
}

func newSecretHash(t testing.TB) []byte {
	h := sha256.Sum256([]byte(randomString(t, 32)))
	return h[:]
}

// testRollAPIKey checks that a roll gives a key a new secret and keeps the previous one until the
// grace ends: sessions start from either secret within the grace and only from the new one
// after, and the sessions of the previous secret end with it, at their next refresh or at the
// next roll.
func testRollAPIKey(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	p := newProject(t, s, newUser(t, s))
	q := newProject(t, s, newUser(t, s))
	k := newKey(t, s, p, "rolled")
	other := newKey(t, s, q, "elsewhere")
	before, beforeTok := newKeySession(t, s, k)

	grace := 10 * time.Minute
	secret := newSecretHash(t)
	got, err := s.RollAPIKey(ctx, p.ID, k.ID, secret, "wxyz", t0.Add(grace), t0)
	must(t, err)
	want := *k
	want.SecretHash, want.Hint, want.SecretGen, want.Revision = secret, "wxyz", k.SecretGen+1, k.Revision+1
	want.PreviousSecretHash, want.PreviousExpiresAt = k.SecretHash, ptr(t0.Add(grace))
	sameJSON(t, "RollAPIKey", got, &want)
	read, err := s.APIKey(ctx, k.ID)
	must(t, err)
	sameJSON(t, "APIKey after the roll", read, &want)
	if !activeAt(t, s, before.ID, t0.Add(time.Minute)) {
		t.Fatal("a session of the previous secret ended at the roll, within its grace")
	}

	// Within the grace both secrets start sessions; after it only the new one does.
	within := t0.Add(grace - time.Microsecond)
	oldSess, oldTok, err := keySessionAt(t, s, got, got.SecretGen-1, within)
	must(t, err)
	withinNew, _, err := keySessionAt(t, s, got, got.SecretGen, within)
	must(t, err)
	after := t0.Add(grace)
	late, _, err := keySessionAt(t, s, got, got.SecretGen-1, after)
	wantCode(t, err, keyward.EREVOKED)
	_, err = s.Session(ctx, late.ID)
	wantCode(t, err, keyward.ENOTFOUND)
	newSess, newTok, err := keySessionAt(t, s, got, got.SecretGen, after)
	must(t, err)

	// A session of the previous secret refreshes within the grace, and ends at its first refresh
	// after it, in the feed too.
	next := newToken(t, within)
	_, err = s.ConsumeRefreshToken(ctx, before.ID, beforeTok.Hash, within, next)
	must(t, err)
	cursor := feedTail(t, s)
	refused, err := s.ConsumeRefreshToken(ctx, before.ID, next.Hash, after, newToken(t, after))
	wantCode(t, err, keyward.EREVOKED)
	if refused == nil || refused.RevokeReason != "key_rolled" {
		t.Fatalf("refresh after the grace: session %+v, want revoked for key_rolled", refused)
	}
	sameJSON(t, "feed after the refused refresh", revocations(feedSince(t, s, cursor)),
		[]revocation{{keyward.RevokedSession, before.ID, p.ID, after, within.Add(refreshTTL)}})
	// The new secret's sessions carry on.
	_, err = s.ConsumeRefreshToken(ctx, newSess.ID, newTok.Hash, after, newToken(t, after))
	must(t, err)

	// Rolling again replaces the previous secret: its sessions end at once.
	again, err := s.RollAPIKey(ctx, p.ID, k.ID, newSecretHash(t), "abcd", after.Add(grace), after)
	must(t, err)
	if string(again.PreviousSecretHash) != string(secret) || again.SecretGen != got.SecretGen+1 {
		t.Fatalf("second roll: previous secret or generation wrong: %+v", again)
	}
	if activeAt(t, s, oldSess.ID, after) {
		t.Fatal("a session of a replaced secret outlived the roll that replaced it")
	}
	_, err = s.ConsumeRefreshToken(ctx, oldSess.ID, oldTok.Hash, after, newToken(t, after))
	wantCode(t, err, keyward.EREVOKED)
	if !activeAt(t, s, newSess.ID, after) {
		t.Fatal("a session of the secret still in its grace ended at the roll")
	}

	// A roll without grace ends the rolled secret's sessions in its own transaction.
	cursor = feedTail(t, s)
	_, err = s.RollAPIKey(ctx, p.ID, k.ID, newSecretHash(t), "efgh", after, after)
	must(t, err)
	if activeAt(t, s, newSess.ID, after) {
		t.Fatal("a roll without grace left the rolled secret's session live")
	}
	ended := map[string]bool{}
	for _, r := range feedSince(t, s, cursor) {
		ended[r.ID] = true
	}
	if len(ended) != 2 || !ended[newSess.ID] || !ended[withinNew.ID] {
		t.Fatalf("feed after a roll without grace: %v, want %s and %s", ended, newSess.ID, withinNew.ID)
	}

	// Another project's key, an unknown key and a deleted key are not found.
	_, err = s.RollAPIKey(ctx, p.ID, other.ID, newSecretHash(t), "x", after, after)
	wantCode(t, err, keyward.ENOTFOUND)
	must(t, s.DeleteAPIKey(ctx, p.ID, k.ID, after))
	_, err = s.RollAPIKey(ctx, p.ID, k.ID, newSecretHash(t), "x", after, after)
	wantCode(t, err, keyward.ENOTFOUND)
}

// testRollExchangeRace rolls a key without grace while exchanges of its old secret, from a copy
// of the key read before the roll, keep starting sessions: every session that committed before
// the roll is revoked by it, and none commits after it.
func testRollExchangeRace(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	p := newProject(t, s, newUser(t, s))
	for range 8 {
		k := newKey(t, s, p, randomString(t, 12))
		var wg sync.WaitGroup
		var sessions []*keyward.Session
		var exchangeErr error
		wg.Go(func() {
			for range 50 {
				sess, _, err := keySessionAt(t, s, k, k.SecretGen, t0)
				switch keyward.ErrorCode(err) {
				case "":
					sessions = append(sessions, sess)
				case keyward.ECONFLICT:
					return // the roll committed: the copy is stale
				default:
					exchangeErr = err
					return
				}
			}
		})
		_, rollErr := s.RollAPIKey(ctx, p.ID, k.ID, newSecretHash(t), "wxyz", t0, t0)
		wg.Wait()
		must(t, rollErr)
		must(t, exchangeErr)
		for _, sess := range sessions {
			if activeAt(t, s, sess.ID, t0.Add(time.Second)) {
				t.Fatalf("session %s of the old secret is live after a roll without grace", sess.ID)
			}
		}
		// The key as read after the roll refuses the old secret after the grace.
		rolled, err := s.APIKey(ctx, k.ID)
		must(t, err)
		_, _, err = keySessionAt(t, s, rolled, k.SecretGen, t0)
		wantCode(t, err, keyward.EREVOKED)
	}
}

// testEndRollGraces: once a roll's grace is over, EndRollGraces ends the sessions the previous
// secret started, through the feed, and only those, once; a session of the previous secret from
// a copy of the key read before cannot start after it; a key rolled again meanwhile, or within
// its grace, is left alone.
func testEndRollGraces(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	p := newProject(t, s, newUser(t, s))
	k := newKey(t, s, p, "graced")
	waiting := newKey(t, s, p, "still in its grace")
	grace := 10 * time.Minute
	rolled, err := s.RollAPIKey(ctx, p.ID, k.ID, newSecretHash(t), "wxyz", t0.Add(grace), t0)
	must(t, err)
	_, err = s.RollAPIKey(ctx, p.ID, waiting.ID, newSecretHash(t), "wxyz", t0.Add(time.Hour), t0)
	must(t, err)
	oldSess, oldTok, err := keySessionAt(t, s, rolled, rolled.SecretGen-1, t0.Add(time.Minute))
	must(t, err)
	newSess, _, err := keySessionAt(t, s, rolled, rolled.SecretGen, t0.Add(time.Minute))
	must(t, err)

	if n, err := s.EndRollGraces(ctx, t0.Add(grace-time.Microsecond), 10); err != nil || n != 0 {
		t.Fatalf("within the grace EndRollGraces = %d, %v; want nothing ended", n, err)
	}
	cursor := feedTail(t, s)
	end := t0.Add(grace)
	if n, err := s.EndRollGraces(ctx, end, 10); err != nil || n != 1 {
		t.Fatalf("at the grace's end EndRollGraces = %d, %v; want 1 key", n, err)
	}
	if r := sessionReason(t, s, oldSess.ID); r != "key_rolled" {
		t.Errorf("the previous secret's session: revoke reason %q, want key_rolled", r)
	}
	if !activeAt(t, s, newSess.ID, end) {
		t.Error("the new secret's session ended with the previous secret's grace")
	}
	sameJSON(t, "feed", revocations(feedSince(t, s, cursor)), []revocation{
		{keyward.RevokedSession, oldSess.ID, p.ID, end, oldTok.ExpiresAt},
	})
	if n, err := s.EndRollGraces(ctx, end.Add(time.Hour), 10); err != nil || n != 1 {
		t.Fatalf("later, EndRollGraces = %d, %v; want only the other key, whose grace is now over", n, err)
	}
	if n, err := s.EndRollGraces(ctx, end.Add(2*time.Hour), 10); err != nil || n != 0 {
		t.Fatalf("again, EndRollGraces = %d, %v; want nothing left", n, err)
	}
	// A copy of the key read before the grace ended starts no session of the previous secret.
	_, _, err = keySessionAt(t, s, rolled, rolled.SecretGen-1, end.Add(-time.Microsecond))
	wantCode(t, err, keyward.ECONFLICT)
	// A new roll starts a new grace, which ends in its turn.
	_, err = s.RollAPIKey(ctx, p.ID, k.ID, newSecretHash(t), "abcd", end.Add(3*time.Hour), end.Add(2*time.Hour))
	must(t, err)
	if n, err := s.EndRollGraces(ctx, end.Add(2*time.Hour+time.Minute), 10); err != nil || n != 0 {
		t.Fatalf("within the new grace EndRollGraces = %d, %v", n, err)
	}
	if n, err := s.EndRollGraces(ctx, end.Add(3*time.Hour), 10); err != nil || n != 1 {
		t.Fatalf("at the new grace's end EndRollGraces = %d, %v", n, err)
	}
}

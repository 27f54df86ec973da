package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// testDeleteKeyRace deletes keys while sessions of them are being created: a session may lose
// (ENOTFOUND) or be created, but no session of a deleted key may stay active.
func testDeleteKeyRace(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	p := newProject(t, s, newUser(t, s))
	const rounds, creators, each = 8, 3, 6
	at := t0.Add(time.Minute)
	for round := range rounds {
		k := newKey(t, s, p, "race "+randomString(t, 6))
		sessions := make([][]*keyward.Session, creators)
		tokens := make([][]*keyward.RefreshToken, creators)
		for c := range creators {
			for range each {
				sessions[c] = append(sessions[c], &keyward.Session{
					ID: newID(t, keyward.PrefixSession), Kind: keyward.SessionKey, KeyID: k.ID, ProjectID: p.ID,
					CreatedAt: t0, ExpiresAt: t0.Add(sessionAge),
				})
				tokens[c] = append(tokens[c], newToken(t, t0))
			}
		}
		created := make([][]bool, creators)
		errs := make(chan error, creators*each+1)
		var wg sync.WaitGroup
		for c := range creators {
			created[c] = make([]bool, each)
			wg.Go(func() {
				for i, sess := range sessions[c] {
					err := s.CreateSession(ctx, sess, tokens[c][i])
					switch keyward.ErrorCode(err) {
					case "":
						created[c][i] = true
					case keyward.ENOTFOUND:
					default:
						errs <- err
					}
				}
			})
		}
		wg.Go(func() {
			if err := s.DeleteAPIKey(ctx, p.ID, k.ID, at); err != nil {
				errs <- err
			}
		})
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("round %d: %v", round, err)
		}
		for c := range creators {
			for i, ok := range created[c] {
				if ok && activeAt(t, s, sessions[c][i].ID, at) {
					t.Fatalf("round %d: session %s of the deleted key is active", round, sessions[c][i].ID)
				}
			}
		}
	}
}

// testRevokeRefreshRace revokes a session while it is being refreshed: the refreshes stop, and
// the feed entry outlives every refresh token that was stored, so verifiers keep refusing the
// session's access tokens as long as any may be valid.
func testRevokeRefreshRace(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	p := newProject(t, s, newUser(t, s))
	k := newKey(t, s, p, "refresh race")
	const rounds, chain = 8, 30
	for round := range rounds {
		sess, tok := newKeySession(t, s, k)
		cursor := feedTail(t, s)
		nexts := tokenChain(t, chain)
		var last *keyward.RefreshToken // the newest token stored
		var refreshErr, revokeErr error
		var wg sync.WaitGroup
		wg.Go(func() {
			cur := tok
			for _, next := range nexts {
				if _, err := s.ConsumeRefreshToken(ctx, cur.SessionID, cur.Hash, next.IssuedAt, next); err != nil {
					if keyward.ErrorCode(err) != keyward.EREVOKED {
						refreshErr = err
					}
					return
				}
				last, cur = next, next
			}
		})
		wg.Go(func() { revokeErr = s.RevokeSession(ctx, sess.ID, "logout", t0) })
		wg.Wait()
		must(t, refreshErr)
		must(t, revokeErr)
		if last == nil {
			last = tok
		}
		feed := feedSince(t, s, cursor)
		if len(feed) != 1 || feed[0].ID != sess.ID {
			t.Fatalf("round %d: feed %+v, want one entry for %s", round, feed, sess.ID)
		}
		if feed[0].ExpiresAt.Before(last.ExpiresAt) {
			t.Fatalf("round %d: feed entry expires at %s, before the last refresh token (%s)",
				round, feed[0].ExpiresAt.Format(time.RFC3339), last.ExpiresAt.Format(time.RFC3339))
		}
	}
}

// testFeedFollower follows the feed while revocations commit concurrently: a reader that
// advances its cursor past every entry it sees must still see every entry.
func testFeedFollower(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	p := newProject(t, s, newUser(t, s))
	k := newKey(t, s, p, "followed")
	const writers, each = 6, 15
	sessions := make([][]string, writers)
	for w := range writers {
		for range each {
			sess, _ := newKeySession(t, s, k)
			sessions[w] = append(sessions[w], sess.ID)
		}
	}
	cursor := feedTail(t, s)

	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Go(func() {
			for _, id := range sessions[w] {
				if err := s.RevokeSession(ctx, id, "logout", t0); err != nil {
					errs <- err
				}
			}
		})
	}
	seen := map[string]bool{}
	writersDone := make(chan struct{})
	go func() { wg.Wait(); close(writersDone) }()
	for done := false; !done; {
		select {
		case <-writersDone:
			done = true // one last read below sees everything committed
		default:
		}
		page, err := s.Revocations(ctx, cursor, 7)
		must(t, err)
		for _, r := range page {
			if r.Seq <= cursor {
				t.Fatalf("Seq %d after cursor %d", r.Seq, cursor)
			}
			cursor = r.Seq
			seen[r.ID] = true
		}
		if done && len(page) > 0 {
			done = false // drain the rest
		}
	}
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, ids := range sessions {
		for _, id := range ids {
			if !seen[id] {
				t.Fatalf("the follower never saw the revocation of %s", id)
			}
		}
	}
}

// tokenChain makes n successive refresh tokens, one a minute after t0, for a session refreshed n
// times in a row.
func tokenChain(t *testing.T, n int) []*keyward.RefreshToken {
	out := make([]*keyward.RefreshToken, n)
	for i := range out {
		out[i] = newToken(t, t0.Add(time.Duration(i+1)*time.Minute))
	}
	return out
}

package storetest

import (
	"crypto/sha256"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

func testConcurrentWrites(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	owner := newUser(t, s)
	p := newProject(t, s, owner)
	const workers, each = 8, 15

	// Everything random is drawn here: t.Fatal belongs to the test's own goroutine.
	type job struct {
		key         *keyward.APIKey
		sess        *keyward.Session
		first, next *keyward.RefreshToken
	}
	jobs := make([][]job, workers)
	for w := range workers {
		for i := range each {
			k := &keyward.APIKey{
				ID: randomString(t, keyward.IDLength), ProjectID: p.ID, Name: fmt.Sprintf("key %d-%d", w, i),
				Permissions: []string{"api-keys-view"}, SecretHash: []byte{byte(w), byte(i)}, Hint: "abcd",
				CreatedBy: "user:" + owner.ID, Owner: owner.ID, CreatedAt: t0,
			}
			jobs[w] = append(jobs[w], job{k, &keyward.Session{
				ID: newID(t, keyward.PrefixSession), Kind: keyward.SessionKey, KeyID: k.ID, ProjectID: p.ID,
				CreatedAt: t0, ExpiresAt: t0.Add(sessionAge),
			}, newToken(t, t0), newToken(t, t0.Add(time.Minute))})
		}
	}

	var wg sync.WaitGroup
	errs := make(chan error, workers*each*6)
	for w := range workers {
		wg.Go(func() {
			for _, j := range jobs[w] {
				k := j.key
				if err := s.CreateAPIKey(ctx, k); err != nil {
					errs <- fmt.Errorf("create key: %w", err)
					continue
				}
				if err := s.CreateSession(ctx, j.sess, j.first); err != nil {
					errs <- fmt.Errorf("create session: %w", err)
					continue
				}
				if _, err := s.ConsumeRefreshToken(ctx, j.first.SessionID, j.first.Hash, t0.Add(time.Minute), j.next); err != nil {
					errs <- fmt.Errorf("refresh: %w", err)
				}
				if err := s.TouchAPIKey(ctx, k.ID, t0.Add(time.Minute), "192.0.2.1"); err != nil {
					errs <- fmt.Errorf("touch: %w", err)
				}
				if _, err := s.APIKey(ctx, k.ID); err != nil {
					errs <- fmt.Errorf("read key: %w", err)
				}
				if err := s.AppendAudit(ctx, &keyward.AuditEvent{ProjectID: p.ID, At: t0, Action: keyward.AuditKeyCreated, Target: "key:" + k.ID}); err != nil {
					errs <- fmt.Errorf("audit: %w", err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	keys, err := s.APIKeys(ctx, p.ID)
	must(t, err)
	if len(keys) != workers*each {
		t.Fatalf("%d keys stored, want %d", len(keys), workers*each)
	}
	events, err := s.AuditEvents(ctx, p.ID, 0, 2*workers*each)
	must(t, err)
	if len(events) != workers*each {
		t.Fatalf("%d audit events stored, want %d", len(events), workers*each)
	}
}

func testRevocations(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	p := newProject(t, s, newUser(t, s))
	k := newKey(t, s, p, "paged")
	cursor := feedTail(t, s)
	var ids []string
	for i := range 5 {
		sess, _ := newKeySession(t, s, k)
		must(t, s.RevokeSession(ctx, sess.ID, "logout", t0.Add(time.Duration(i)*time.Second)))
		ids = append(ids, sess.ID)
	}

	// Pages of two: 2, 2, 1, then nothing; each Seq above the one before.
	var got []string
	after := cursor
	for _, size := range []int{2, 2, 1, 0} {
		page, err := s.Revocations(ctx, after, 2)
		must(t, err)
		if len(page) != size {
			t.Fatalf("page after %d has %d entries, want %d", after, len(page), size)
		}
		for _, r := range page {
			if r.Seq <= after {
				t.Fatalf("Seq %d not above the cursor %d", r.Seq, after)
			}
			after = r.Seq
			got = append(got, r.ID)
		}
	}
	sameJSON(t, "feed order", got, ids)

	// Any cursor in the middle resumes right after it.
	all := feedSince(t, s, cursor)
	page, err := s.Revocations(ctx, all[1].Seq, 10)
	must(t, err)
	sameJSON(t, "resumed page", page, all[2:])
	page, err = s.Revocations(ctx, all[len(all)-1].Seq+1000, 10)
	must(t, err)
	if len(page) != 0 {
		t.Fatalf("a cursor past the end returned %d entries", len(page))
	}
}

func testAudit(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	owner := newUser(t, s)
	p := newProject(t, s, owner)
	q := newProject(t, s, owner)

	var events []*keyward.AuditEvent
	for i := range 5 {
		e := &keyward.AuditEvent{
			ProjectID: p.ID, At: t0.Add(time.Duration(i) * time.Second), Actor: "user:" + owner.ID,
			Action: keyward.AuditKeyCreated, Target: fmt.Sprintf("key:k%d", i), IP: "2001:db8::1", Detail: "name=bot",
		}
		must(t, s.AppendAudit(ctx, e))
		if len(events) > 0 && e.ID <= events[len(events)-1].ID {
			t.Fatalf("audit id %d not above the previous one", e.ID)
		}
		events = append(events, e)
		// Interleaved events of another project, and an instance-level one.
		must(t, s.AppendAudit(ctx, &keyward.AuditEvent{ProjectID: q.ID, At: t0, Action: keyward.AuditLogin}))
	}
	must(t, s.AppendAudit(ctx, &keyward.AuditEvent{At: t0, Action: keyward.AuditLoginFailed, Target: "someone@example.com", IP: "192.0.2.9"}))

	// Newest first, in pages of two, each page starting below the last id seen.
	var got []*keyward.AuditEvent
	var before int64
	for _, size := range []int{2, 2, 1, 0} {
		page, err := s.AuditEvents(ctx, p.ID, before, 2)
		must(t, err)
		if len(page) != size {
			t.Fatalf("page before %d has %d events, want %d", before, len(page), size)
		}
		for _, e := range page {
			before = e.ID
		}
		got = append(got, page...)
	}
	want := []*keyward.AuditEvent{events[4], events[3], events[2], events[1], events[0]}
	sameJSON(t, "audit events", got, want)

	other, err := s.AuditEvents(ctx, q.ID, 0, 100)
	must(t, err)
	if len(other) != 5 {
		t.Fatalf("the other project has %d events, want 5", len(other))
	}
	for _, e := range other {
		if e.ProjectID != q.ID {
			t.Fatalf("event of project %q listed for %q", e.ProjectID, q.ID)
		}
	}
}

func testSigningKeys(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	set, err := s.LoadSigningKeys(ctx)
	must(t, err)
	if set.Version != 0 || len(set.Keys) != 0 {
		t.Fatalf("fresh store: version %d with %d keys, want version 0 and no key", set.Version, len(set.Keys))
	}

	key := func(id string, created time.Time) keyward.SigningKey {
		return keyward.SigningKey{
			ID: id, Alg: "ES256", Private: []byte{0x30, 0x81, 0, 0xff, byte(len(id))}, Sealed: true,
			CreatedAt: created, PublishAt: created, ActivateAt: created.Add(time.Hour),
			RetireAt: created.Add(24 * time.Hour), UnpublishAt: created.Add(26 * time.Hour),
		}
	}
	first := []keyward.SigningKey{key("kid-a", t0)}
	v1, err := s.ReplaceSigningKeys(ctx, 0, first)
	must(t, err)
	if v1 != 1 {
		t.Fatalf("version after the first replacement = %d, want 1", v1)
	}
	set, err = s.LoadSigningKeys(ctx)
	must(t, err)
	sameJSON(t, "loaded set", set, keyward.SigningKeySet{Version: 1, Keys: first})

	// A stale version loses and changes nothing.
	_, err = s.ReplaceSigningKeys(ctx, 0, []keyward.SigningKey{key("kid-stale", t0)})
	wantCode(t, err, keyward.ECONFLICT)
	set, err = s.LoadSigningKeys(ctx)
	must(t, err)
	sameJSON(t, "set after a lost swap", set, keyward.SigningKeySet{Version: 1, Keys: first})

	// The whole set is replaced: keys left out are gone.
	second := []keyward.SigningKey{key("kid-b", t0.Add(time.Hour)), key("kid-c", t0.Add(2*time.Hour))}
	v2, err := s.ReplaceSigningKeys(ctx, v1, second)
	must(t, err)
	if v2 <= v1 {
		t.Fatalf("version went from %d to %d", v1, v2)
	}
	set, err = s.LoadSigningKeys(ctx)
	must(t, err)
	sameJSON(t, "replaced set", set, keyward.SigningKeySet{Version: v2, Keys: second})

	// Instances racing on one version: exactly one wins.
	const racers = 10
	var wg sync.WaitGroup
	results := make([]error, racers)
	for i := range racers {
		wg.Go(func() {
			_, results[i] = s.ReplaceSigningKeys(ctx, v2, []keyward.SigningKey{key(fmt.Sprintf("kid-race-%d", i), t0)})
		})
	}
	wg.Wait()
	wins := 0
	for _, err := range results {
		if err == nil {
			wins++
		} else {
			wantCode(t, err, keyward.ECONFLICT)
		}
	}
	if wins != 1 {
		t.Fatalf("%d racing replacements won, want 1", wins)
	}
	set, err = s.LoadSigningKeys(ctx)
	must(t, err)
	if len(set.Keys) != 1 || set.Version <= v2 {
		t.Fatalf("after the race: version %d with %d keys", set.Version, len(set.Keys))
	}
}

func testTimesRoundTrip(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	// Nanoseconds are cut to microseconds; any zone comes back as UTC, the same instant.
	zone := time.FixedZone("UTC+5:30", 5*3600+1800)
	in := time.Date(2032, 2, 29, 23, 59, 58, 987654321, zone)
	want := time.Date(2032, 2, 29, 18, 29, 58, 987654000, time.UTC)
	check := func(what string, got time.Time) {
		t.Helper()
		if !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("%s = %s, want %s", what, got.Format(time.RFC3339Nano), want.Format(time.RFC3339Nano))
		}
	}

	u := newUser(t, s)
	p := &keyward.Project{ID: newID(t, keyward.PrefixProject), Name: "times-" + strings.ToLower(randomString(t, 10)), CreatedAt: in}
	must(t, s.CreateProject(ctx, p, &keyward.Member{UserID: u.ID, CreatedAt: in, UpdatedAt: in}))
	got, err := s.ProjectByID(ctx, p.ID)
	must(t, err)
	check("project CreatedAt", got.CreatedAt)
	m, err := s.Member(ctx, p.ID, u.ID)
	must(t, err)
	check("member UpdatedAt", m.UpdatedAt)

	k := &keyward.APIKey{
		ID: randomString(t, keyward.IDLength), ProjectID: p.ID, Name: "times", SecretHash: []byte{1}, Hint: "abcd",
		CreatedBy: "user:" + u.ID, Owner: u.ID, CreatedAt: in, ExpiresAt: &in, LastUsedAt: &in,
	}
	must(t, s.CreateAPIKey(ctx, k))
	gotKey, err := s.APIKey(ctx, k.ID)
	must(t, err)
	check("key CreatedAt", gotKey.CreatedAt)
	check("key ExpiresAt", *gotKey.ExpiresAt)
	check("key LastUsedAt", *gotKey.LastUsedAt)

	sess := &keyward.Session{
		ID: newID(t, keyward.PrefixSession), Kind: keyward.SessionKey, KeyID: k.ID, ProjectID: p.ID,
		CreatedAt: in, ExpiresAt: in.Add(sessionAge),
	}
	must(t, s.CreateSession(ctx, sess, &keyward.RefreshToken{Hash: newToken(t, in).Hash, IssuedAt: in, ExpiresAt: in}))
	cursor := feedTail(t, s)
	must(t, s.RevokeSession(ctx, sess.ID, "logout", in))
	gotSess, err := s.Session(ctx, sess.ID)
	must(t, err)
	check("session CreatedAt", gotSess.CreatedAt)
	check("session RevokedAt", *gotSess.RevokedAt)
	feed := feedSince(t, s, cursor)
	if len(feed) != 1 {
		t.Fatalf("feed has %d new entries, want 1", len(feed))
	}
	check("feed RevokedAt", feed[0].RevokedAt)
	check("feed ExpiresAt", feed[0].ExpiresAt)

	e := &keyward.AuditEvent{ProjectID: p.ID, At: in, Action: keyward.AuditLogin}
	must(t, s.AppendAudit(ctx, e))
	events, err := s.AuditEvents(ctx, p.ID, 0, 1)
	must(t, err)
	check("audit At", events[0].At)
}

func testSweep(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	// Its own era, long before every other subtest's data, so that only its rows are due.
	now := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	past, future := now.Add(-time.Hour), now.Add(time.Hour)
	p := newProject(t, s, newUser(t, s))
	k := newKey(t, s, p, "swept")
	start := func(expires time.Time, tokenExpiries ...time.Time) (*keyward.Session, []*keyward.RefreshToken) {
		t.Helper()
		sess := &keyward.Session{
			ID: newID(t, keyward.PrefixSession), Kind: keyward.SessionKey, KeyID: k.ID, ProjectID: p.ID,
			CreatedAt: now.Add(-48 * time.Hour), ExpiresAt: expires,
		}
		var toks []*keyward.RefreshToken
		for i, exp := range tokenExpiries {
			tok := newToken(t, now.Add(-48*time.Hour))
			tok.ExpiresAt = exp
			toks = append(toks, tok)
			if i == 0 {
				must(t, s.CreateSession(ctx, sess, tok))
			} else {
				_, err := s.ConsumeRefreshToken(ctx, toks[i-1].SessionID, toks[i-1].Hash, tok.IssuedAt, tok)
				must(t, err)
			}
		}
		return sess, toks
	}

	// Live session: three expired tokens and a live one.
	live, liveToks := start(future, past, past, past, future)
	// Expired session whose last token is still within its expiry: the session goes, and its
	// tokens with it.
	dead, deadToks := start(past, future)
	// Revoked session whose tokens are all expired: its feed entry is due, and so is the session,
	// which can do nothing more (a session expires with its last refresh token).
	revoked, _ := start(future, past)
	must(t, s.RevokeSession(ctx, revoked.ID, "logout", past))
	// Revoked session with a live token: its feed entry must stay.
	kept, _ := start(future, future)
	must(t, s.RevokeSession(ctx, kept.ID, "logout", past))
	e := &keyward.AuditEvent{ProjectID: p.ID, At: past.Add(-time.Hour), Action: keyward.AuditLogin}
	must(t, s.AppendAudit(ctx, e))
	owner := newUser(t, s)
	loginAt := func(expires time.Time) *keyward.WebSession {
		t.Helper()
		h := sha256.Sum256([]byte(randomString(t, 43)))
		ws := &keyward.WebSession{Hash: h[:], UserID: owner.ID, CreatedAt: past, LastSeenAt: past, ExpiresAt: expires}
		must(t, s.CreateWebSession(ctx, ws))
		return ws
	}
	staleLogin, liveLogin := loginAt(past), loginAt(future)

	// Small batches: every call deletes at most limit rows of each kind, and repeated calls
	// finish the job.
	const limit = 1
	total := 0
	for range 20 {
		n, err := s.Sweep(ctx, now, limit)
		must(t, err)
		if n > 4*limit {
			t.Fatalf("Sweep(limit %d) deleted %d rows", limit, n)
		}
		if n == 0 {
			break
		}
		total += n
	}
	if total < 7 { // 3 spent tokens of a live session, 2 sessions, 1 login, 1 feed entry
		t.Fatalf("sweeps deleted %d rows in all, want at least 7", total)
	}
	_, err := s.WebSession(ctx, staleLogin.Hash)
	wantCode(t, err, keyward.ENOTFOUND)
	_, err = s.WebSession(ctx, liveLogin.Hash)
	must(t, err)

	for i, tok := range liveToks {
		_, err := s.RefreshTokenSession(ctx, tok.SessionID, tok.Hash)
		if i < 3 {
			wantCode(t, err, keyward.ENOTFOUND)
		} else {
			must(t, err)
		}
	}
	_, err = s.Session(ctx, dead.ID)
	wantCode(t, err, keyward.ENOTFOUND)
	_, err = s.RefreshTokenSession(ctx, deadToks[0].SessionID, deadToks[0].Hash)
	wantCode(t, err, keyward.ENOTFOUND)
	_, err = s.Session(ctx, revoked.ID)
	wantCode(t, err, keyward.ENOTFOUND)
	for _, id := range []string{live.ID, kept.ID} {
		if _, err := s.Session(ctx, id); err != nil {
			t.Fatalf("live session %s swept: %v", id, err)
		}
	}
	feed := feedSince(t, s, 0)
	seen := map[string]bool{}
	for _, r := range feed {
		seen[r.ID] = true
	}
	if seen[revoked.ID] || !seen[kept.ID] {
		t.Fatalf("feed after sweeping: expired entry kept %v, live entry kept %v", seen[revoked.ID], seen[kept.ID])
	}
	events, err := s.AuditEvents(ctx, p.ID, 0, 10)
	must(t, err)
	if len(events) != 1 {
		t.Fatalf("sweeping touched audit events: %d left, want 1", len(events))
	}
}

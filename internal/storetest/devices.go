package storetest

import (
	"crypto/sha256"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// newDevice stores a pending device authorization created at t0, valid 10 minutes, polled at
// most every 5 seconds.
func newDevice(t testing.TB, s keyward.Store, project string, scope []string) *keyward.DeviceAuthorization {
	t.Helper()
	dh := sha256.Sum256([]byte(randomString(t, 43)))
	uh := sha256.Sum256([]byte(randomString(t, 8)))
	d := &keyward.DeviceAuthorization{DeviceCodeHash: dh[:], UserCodeHash: uh[:], ClientID: "keyward-cli", Project: project,
		Scope: scope, IP: "192.0.2.1", CreatedAt: t0, ExpiresAt: t0.Add(10 * time.Minute), Interval: 5 * time.Second}
	must(t, s.CreateDeviceAuthorization(t.Context(), d))
	return d
}

// deviceSession is the session of u that redeeming a device code at t0+1m would store.
func deviceSession(t testing.TB, u *keyward.User, projectID string) (*keyward.Session, *keyward.RefreshToken) {
	at := t0.Add(time.Minute)
	return &keyward.Session{ID: newID(t, keyward.PrefixSession), Kind: keyward.SessionUser, UserID: u.ID, ProjectID: projectID,
		CreatedAt: at, ExpiresAt: at.Add(sessionAge)}, newToken(t, at)
}

func testDeviceAuthorizations(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	u := newUser(t, s)
	p := newProject(t, s, u)
	d := newDevice(t, s, p.Name, []string{"api-keys-view"})
	if d.Status != keyward.DevicePending {
		t.Fatalf("new authorization status %q, want pending", d.Status)
	}
	got, err := s.DeviceAuthorization(ctx, d.UserCodeHash)
	must(t, err)
	sameJSON(t, "DeviceAuthorization", got, d)
	unknown := sha256.Sum256([]byte("unknown"))
	_, err = s.DeviceAuthorization(ctx, unknown[:])
	wantCode(t, err, keyward.ENOTFOUND)
	_, err = s.PollDeviceAuthorization(ctx, unknown[:], t0)
	wantCode(t, err, keyward.ENOTFOUND)
	// A live user code is never given twice.
	dup := *newDevice(t, s, "", nil)
	dup.DeviceCodeHash = unknown[:]
	wantCode(t, s.CreateDeviceAuthorization(ctx, &dup), keyward.ECONFLICT)
	// An empty scope is kept apart from none.
	empty := newDevice(t, s, "", []string{})
	if got, err := s.DeviceAuthorization(ctx, empty.UserCodeHash); err != nil || got.Scope == nil || len(got.Scope) != 0 {
		t.Fatalf("empty scope read back as %#v, %v", got, err)
	}

	// Polls: the first and one after the interval are fine; one sooner grows the interval by 5 s
	// and counts from then.
	poll := func(at time.Time) *keyward.DeviceAuthorization {
		t.Helper()
		got, err := s.PollDeviceAuthorization(ctx, d.DeviceCodeHash, at)
		must(t, err)
		return got
	}
	if got := poll(t0.Add(time.Second)); got.SlowDown || got.Interval != 5*time.Second || got.Status != keyward.DevicePending {
		t.Fatalf("first poll: %+v", got)
	}
	if got := poll(t0.Add(6 * time.Second)); got.SlowDown || got.Interval != 5*time.Second {
		t.Fatalf("poll after the interval: slow down %v, interval %s", got.SlowDown, got.Interval)
	}
	if got := poll(t0.Add(8 * time.Second)); !got.SlowDown || got.Interval != 10*time.Second {
		t.Fatalf("poll 2 s after the previous: slow down %v, interval %s; want true, 10s", got.SlowDown, got.Interval)
	}
	if got := poll(t0.Add(15 * time.Second)); !got.SlowDown || got.Interval != 15*time.Second {
		t.Fatalf("poll 7 s later with a 10 s interval: slow down %v, interval %s; want true, 15s", got.SlowDown, got.Interval)
	}
	if got := poll(t0.Add(30 * time.Second)); got.SlowDown || !got.LastPolledAt.Equal(t0.Add(30*time.Second)) {
		t.Fatalf("poll after the grown interval: %+v", got)
	}

	// Not approved yet: nothing to redeem.
	sess, first := deviceSession(t, u, p.ID)
	wantCode(t, s.RedeemDeviceAuthorization(ctx, d.DeviceCodeHash, sess, first), keyward.ECONFLICT)

	// Approval, once.
	at := t0.Add(40 * time.Second)
	got, err = s.DecideDeviceAuthorization(ctx, d.UserCodeHash, u.ID, true, at)
	must(t, err)
	if got.Status != keyward.DeviceApproved || got.UserID != u.ID || !got.DecidedAt.Equal(at) {
		t.Fatalf("approved: %+v", got)
	}
	_, err = s.DecideDeviceAuthorization(ctx, d.UserCodeHash, u.ID, false, at)
	wantCode(t, err, keyward.ECONFLICT)
	_, err = s.DecideDeviceAuthorization(ctx, unknown[:], u.ID, true, at)
	wantCode(t, err, keyward.ENOTFOUND)
	// An approved authorization is not slowed down: its tokens are ready.
	if got := poll(t0.Add(41 * time.Second)); got.SlowDown || got.Status != keyward.DeviceApproved {
		t.Fatalf("approved, polled soon: %+v", got)
	}

	// Only the approver's session redeems it.
	other := newUser(t, s)
	osess, ofirst := deviceSession(t, other, "")
	wantCode(t, s.RedeemDeviceAuthorization(ctx, d.DeviceCodeHash, osess, ofirst), keyward.ECONFLICT)
	if _, err := s.Session(ctx, osess.ID); keyward.ErrorCode(err) != keyward.ENOTFOUND {
		t.Fatalf("a refused redemption stored a session: %v", err)
	}
	must(t, s.RedeemDeviceAuthorization(ctx, d.DeviceCodeHash, sess, first))
	stored, err := s.Session(ctx, sess.ID)
	must(t, err)
	if stored.UserID != u.ID || stored.ProjectID != p.ID {
		t.Fatalf("redeemed session: %+v", stored)
	}
	// Redeemed: the codes are as good as unknown.
	again, afirst := deviceSession(t, u, p.ID)
	wantCode(t, s.RedeemDeviceAuthorization(ctx, d.DeviceCodeHash, again, afirst), keyward.ENOTFOUND)
	_, err = s.PollDeviceAuthorization(ctx, d.DeviceCodeHash, at)
	wantCode(t, err, keyward.ENOTFOUND)
	_, err = s.DeviceAuthorization(ctx, d.UserCodeHash)
	wantCode(t, err, keyward.ENOTFOUND)

	// Denial.
	denied := newDevice(t, s, "", nil)
	got, err = s.DecideDeviceAuthorization(ctx, denied.UserCodeHash, u.ID, false, at)
	must(t, err)
	if got.Status != keyward.DeviceDenied {
		t.Fatalf("denied: %+v", got)
	}
	dsess, dfirst := deviceSession(t, u, "")
	wantCode(t, s.RedeemDeviceAuthorization(ctx, denied.DeviceCodeHash, dsess, dfirst), keyward.ECONFLICT)
	if got := poll2(t, s, denied.DeviceCodeHash, at); got.Status != keyward.DeviceDenied {
		t.Fatalf("poll of a denied authorization: %+v", got)
	}
}

func poll2(t *testing.T, s keyward.Store, hash []byte, at time.Time) *keyward.DeviceAuthorization {
	t.Helper()
	got, err := s.PollDeviceAuthorization(t.Context(), hash, at)
	must(t, err)
	return got
}

// testDeviceAuthorizationExpiry: past its expiry an authorization can be neither decided nor
// redeemed, a poll changes nothing, and its user code may be drawn again.
func testDeviceAuthorizationExpiry(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	u := newUser(t, s)
	d := newDevice(t, s, "", nil)
	late := d.ExpiresAt
	_, err := s.DecideDeviceAuthorization(ctx, d.UserCodeHash, u.ID, true, late)
	wantCode(t, err, keyward.EEXPIRED)
	got := poll2(t, s, d.DeviceCodeHash, late)
	if !got.Expired(late) || got.LastPolledAt != nil || got.SlowDown {
		t.Fatalf("poll after expiry: %+v", got)
	}

	approved := newDevice(t, s, "", nil)
	_, err = s.DecideDeviceAuthorization(ctx, approved.UserCodeHash, u.ID, true, t0.Add(time.Minute))
	must(t, err)
	sess := &keyward.Session{ID: newID(t, keyward.PrefixSession), Kind: keyward.SessionUser, UserID: u.ID,
		CreatedAt: approved.ExpiresAt, ExpiresAt: approved.ExpiresAt.Add(sessionAge)}
	wantCode(t, s.RedeemDeviceAuthorization(ctx, approved.DeviceCodeHash, sess, newToken(t, sess.CreatedAt)), keyward.EEXPIRED)

	again := *d
	dh := sha256.Sum256([]byte(randomString(t, 43)))
	again.DeviceCodeHash = dh[:]
	again.CreatedAt, again.ExpiresAt = late, late.Add(10*time.Minute)
	must(t, s.CreateDeviceAuthorization(ctx, &again))
	got, err = s.DeviceAuthorization(ctx, d.UserCodeHash)
	must(t, err)
	if string(got.DeviceCodeHash) != string(again.DeviceCodeHash) {
		t.Fatal("the user code of an expired authorization still names it")
	}
}

// testDeviceRedeemOfDisabledUser: an approval whose approver was disabled since redeems
// nothing.
func testDeviceRedeemOfDisabledUser(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	u := newUser(t, s)
	d := newDevice(t, s, "", nil)
	_, err := s.DecideDeviceAuthorization(ctx, d.UserCodeHash, u.ID, true, t0.Add(time.Second))
	must(t, err)
	must(t, s.SetUserDisabled(ctx, u.ID, true, t0.Add(2*time.Second)))
	sess, first := deviceSession(t, u, "")
	wantCode(t, s.RedeemDeviceAuthorization(ctx, d.DeviceCodeHash, sess, first), keyward.EREVOKED)
}

// testDeviceRedeemRace polls an approved authorization from many goroutines at once: exactly one
// gets a session.
func testDeviceRedeemRace(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	u := newUser(t, s)
	const rounds, pollers = 6, 4
	for round := range rounds {
		d := newDevice(t, s, "", nil)
		_, err := s.DecideDeviceAuthorization(ctx, d.UserCodeHash, u.ID, true, t0.Add(time.Second))
		must(t, err)
		var mu sync.Mutex
		won, errs := 0, []error{}
		var wg sync.WaitGroup
		for range pollers {
			sess, first := deviceSession(t, u, "")
			wg.Go(func() {
				err := s.RedeemDeviceAuthorization(ctx, d.DeviceCodeHash, sess, first)
				mu.Lock()
				defer mu.Unlock()
				switch keyward.ErrorCode(err) {
				case "":
					won++
				case keyward.ENOTFOUND:
				default:
					errs = append(errs, err)
				}
			})
		}
		wg.Wait()
		if len(errs) > 0 || won != 1 {
			t.Fatalf("round %d: %d redemptions succeeded (want 1), errors %v", round, won, errs)
		}
	}
}

// testDeviceDecideRace approves and denies one code at once: one decision wins and stays.
func testDeviceDecideRace(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	u := newUser(t, s)
	for round := range 6 {
		d := newDevice(t, s, "", nil)
		results := make([]error, 2)
		var wg sync.WaitGroup
		for i := range 2 {
			wg.Go(func() {
				_, results[i] = s.DecideDeviceAuthorization(ctx, d.UserCodeHash, u.ID, i == 0, t0.Add(time.Second))
			})
		}
		wg.Wait()
		wins := 0
		for _, err := range results {
			switch keyward.ErrorCode(err) {
			case "":
				wins++
			case keyward.ECONFLICT:
			default:
				t.Fatalf("round %d: %v", round, err)
			}
		}
		got, err := s.DeviceAuthorization(ctx, d.UserCodeHash)
		must(t, err)
		if wins != 1 || (results[0] == nil) != (got.Status == keyward.DeviceApproved) {
			t.Fatalf("round %d: %d decisions won, stored %s, results %v", round, wins, got.Status, results)
		}
	}
}

// testDeviceSweep: Sweep deletes the authorizations that expired, and only those.
func testDeviceSweep(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	// Its own era, before every other subtest's data, so that only its rows are due.
	now := time.Date(2002, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(created time.Time) *keyward.DeviceAuthorization {
		dh := sha256.Sum256([]byte(randomString(t, 43)))
		uh := sha256.Sum256([]byte(randomString(t, 8)))
		d := &keyward.DeviceAuthorization{DeviceCodeHash: dh[:], UserCodeHash: uh[:], ClientID: "keyward-cli", IP: "192.0.2.1",
			CreatedAt: created, ExpiresAt: created.Add(10 * time.Minute), Interval: 5 * time.Second}
		must(t, s.CreateDeviceAuthorization(ctx, d))
		return d
	}
	expired, live := at(now.Add(-time.Hour)), at(now.Add(-time.Minute))
	n, err := s.Sweep(ctx, now, 100)
	must(t, err)
	if n < 1 {
		t.Fatalf("Sweep deleted %d rows, want the expired authorization", n)
	}
	_, err = s.DeviceAuthorization(ctx, expired.UserCodeHash)
	wantCode(t, err, keyward.ENOTFOUND)
	_, err = s.DeviceAuthorization(ctx, live.UserCodeHash)
	must(t, err)
}

package storetest

import (
	"crypto/sha256"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// newWebSession stores a dashboard login of u created at t0 that expires after 12 hours.
func newWebSession(t testing.TB, s keyward.Store, u *keyward.User) *keyward.WebSession {
	t.Helper()
	h := sha256.Sum256([]byte(randomString(t, 43)))
	ws := &keyward.WebSession{Hash: h[:], UserID: u.ID, CreatedAt: t0, LastSeenAt: t0, ExpiresAt: t0.Add(12 * time.Hour)}
	must(t, s.CreateWebSession(t.Context(), ws))
	return ws
}

func testWebSessions(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	u := newUser(t, s)
	ws := newWebSession(t, s, u)
	got, err := s.WebSession(ctx, ws.Hash)
	must(t, err)
	sameJSON(t, "WebSession", got, ws)

	unknown := sha256.Sum256([]byte("unknown"))
	_, err = s.WebSession(ctx, unknown[:])
	wantCode(t, err, keyward.ENOTFOUND)
	dup := *ws
	wantCode(t, s.CreateWebSession(ctx, &dup), keyward.ECONFLICT)
	ghost := &keyward.WebSession{Hash: unknown[:], UserID: newID(t, keyward.PrefixUser), CreatedAt: t0, LastSeenAt: t0, ExpiresAt: t0.Add(time.Hour)}
	wantCode(t, s.CreateWebSession(ctx, ghost), keyward.ENOTFOUND)
	if _, err := s.WebSession(ctx, unknown[:]); keyward.ErrorCode(err) != keyward.ENOTFOUND {
		t.Fatalf("a login of an unknown user was stored: %v", err)
	}

	// Last seen moves forward only: an instance with a clock a little behind does not make a
	// login look idle for longer than it is.
	later := t0.Add(10 * time.Minute)
	must(t, s.TouchWebSession(ctx, ws.Hash, later))
	must(t, s.TouchWebSession(ctx, ws.Hash, t0.Add(time.Minute)))
	got, err = s.WebSession(ctx, ws.Hash)
	must(t, err)
	if !got.LastSeenAt.Equal(later) || !got.ExpiresAt.Equal(ws.ExpiresAt) || !got.CreatedAt.Equal(t0) {
		t.Fatalf("after touches: %+v, want last seen %s and the other times unchanged", got, later)
	}
	wantCode(t, s.TouchWebSession(ctx, unknown[:], later), keyward.ENOTFOUND)

	// A flash is returned once, and only to its own login.
	other0 := newWebSession(t, s, u)
	must(t, s.SetWebSessionFlash(ctx, ws.Hash, []byte("first")))
	must(t, s.SetWebSessionFlash(ctx, ws.Hash, []byte("second")))
	if f, err := s.TakeWebSessionFlash(ctx, other0.Hash); err != nil || f != nil {
		t.Fatalf("another login's flash: %q, %v; want none", f, err)
	}
	if f, err := s.TakeWebSessionFlash(ctx, ws.Hash); err != nil || string(f) != "second" {
		t.Fatalf("flash: %q, %v; want the latest, %q", f, err, "second")
	}
	if f, err := s.TakeWebSessionFlash(ctx, ws.Hash); err != nil || f != nil {
		t.Fatalf("flash taken twice: %q, %v", f, err)
	}
	if f, err := s.TakeWebSessionFlash(ctx, unknown[:]); err != nil || f != nil {
		t.Fatalf("flash of an unknown login: %q, %v; want none", f, err)
	}
	wantCode(t, s.SetWebSessionFlash(ctx, unknown[:], []byte("x")), keyward.ENOTFOUND)

	// Logout ends one login; the user's other logins and other users' stay.
	second := newWebSession(t, s, u)
	other := newWebSession(t, s, newUser(t, s))
	must(t, s.DeleteWebSession(ctx, ws.Hash))
	_, err = s.WebSession(ctx, ws.Hash)
	wantCode(t, err, keyward.ENOTFOUND)
	must(t, s.DeleteWebSession(ctx, ws.Hash)) // logging out twice is fine
	wantCode(t, s.TouchWebSession(ctx, ws.Hash, later), keyward.ENOTFOUND)
	_, err = s.WebSession(ctx, second.Hash)
	must(t, err)

	_, err = s.WebSession(ctx, other.Hash)
	must(t, err)
}

// testWebSessionsOfDisabledUser: disabling a user ends their dashboard logins at once and lets
// them start no new one; enabling them again does not bring the old ones back.
func testWebSessionsOfDisabledUser(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	u := newUser(t, s)
	bystander := newUser(t, s)
	a, b := newWebSession(t, s, u), newWebSession(t, s, u)
	kept := newWebSession(t, s, bystander)
	must(t, s.SetUserDisabled(ctx, u.ID, true, t0.Add(time.Minute)))
	for _, ws := range []*keyward.WebSession{a, b} {
		_, err := s.WebSession(ctx, ws.Hash)
		wantCode(t, err, keyward.ENOTFOUND)
	}
	_, err := s.WebSession(ctx, kept.Hash)
	must(t, err)

	h := sha256.Sum256([]byte(randomString(t, 43)))
	late := &keyward.WebSession{Hash: h[:], UserID: u.ID, CreatedAt: t0, LastSeenAt: t0, ExpiresAt: t0.Add(time.Hour)}
	wantCode(t, s.CreateWebSession(ctx, late), keyward.EREVOKED)

	must(t, s.SetUserDisabled(ctx, u.ID, false, t0.Add(2*time.Minute)))
	_, err = s.WebSession(ctx, a.Hash)
	wantCode(t, err, keyward.ENOTFOUND)
	must(t, s.CreateWebSession(ctx, late))
}

package storetest

import (
	"bytes"
	"crypto/sha256"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

func testTOTP(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	u := newUser(t, s)
	_, err := s.TOTP(ctx, u.ID)
	wantCode(t, err, keyward.ENOTFOUND)
	has, err := s.HasSecondFactor(ctx, u.ID)
	must(t, err)
	if has {
		t.Fatal("a new user has a second factor")
	}
	wantCode(t, s.ConfirmTOTP(ctx, u.ID, 5, nil, t0), keyward.ENOTFOUND)
	wantCode(t, s.PutTOTP(ctx, &keyward.TOTPSecret{UserID: "usr_unknown", Secret: []byte("x"), CreatedAt: t0}), keyward.ENOTFOUND)

	// An enrolment may start over; the latest secret is the one kept.
	must(t, s.PutTOTP(ctx, &keyward.TOTPSecret{UserID: u.ID, Secret: []byte("first"), CreatedAt: t0}))
	must(t, s.PutTOTP(ctx, &keyward.TOTPSecret{UserID: u.ID, Secret: []byte("second"), Sealed: true, CreatedAt: t0}))
	got, err := s.TOTP(ctx, u.ID)
	must(t, err)
	sameJSON(t, "TOTP", got, &keyward.TOTPSecret{UserID: u.ID, Secret: []byte("second"), Sealed: true, CreatedAt: t0})
	if has, _ := s.HasSecondFactor(ctx, u.ID); has {
		t.Fatal("an unconfirmed secret counts as a second factor")
	}
	wantCode(t, s.UseTOTPStep(ctx, u.ID, 10), keyward.ECONFLICT) // not confirmed: no code is accepted

	codes := [][]byte{hashOf("a"), hashOf("b")}
	must(t, s.ConfirmTOTP(ctx, u.ID, 100, codes, t0))
	wantCode(t, s.ConfirmTOTP(ctx, u.ID, 101, codes, t0), keyward.ENOTFOUND)
	wantCode(t, s.PutTOTP(ctx, &keyward.TOTPSecret{UserID: u.ID, Secret: []byte("third"), CreatedAt: t0}), keyward.ECONFLICT)
	if has, _ := s.HasSecondFactor(ctx, u.ID); !has {
		t.Fatal("a confirmed secret is not a second factor")
	}
	got, err = s.TOTP(ctx, u.ID)
	must(t, err)
	if !got.Confirmed || got.LastStep != 100 || !bytes.Equal(got.Secret, []byte("second")) {
		t.Fatalf("confirmed TOTP %+v", got)
	}

	// A step is accepted once, and never one before it.
	wantCode(t, s.UseTOTPStep(ctx, u.ID, 100), keyward.ECONFLICT)
	wantCode(t, s.UseTOTPStep(ctx, u.ID, 99), keyward.ECONFLICT)
	must(t, s.UseTOTPStep(ctx, u.ID, 101))
	wantCode(t, s.UseTOTPStep(ctx, u.ID, 101), keyward.ECONFLICT)

	must(t, s.DeleteTOTP(ctx, u.ID))
	must(t, s.DeleteTOTP(ctx, u.ID))
	if has, _ := s.HasSecondFactor(ctx, u.ID); has {
		t.Fatal("second factor after DeleteTOTP")
	}
	if n, err := s.RecoveryCodesLeft(ctx, u.ID); err != nil || n != 0 {
		t.Fatalf("recovery codes after DeleteTOTP: %d, %v", n, err)
	}
}

func hashOf(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func testRecoveryCodes(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	u, other := newUser(t, s), newUser(t, s)
	wantCode(t, s.ReplaceRecoveryCodes(ctx, u.ID, [][]byte{hashOf("x")}, t0), keyward.ENOTFOUND) // no second factor
	must(t, s.PutTOTP(ctx, &keyward.TOTPSecret{UserID: u.ID, Secret: []byte("s"), CreatedAt: t0}))
	must(t, s.ConfirmTOTP(ctx, u.ID, 1, [][]byte{hashOf("a"), hashOf("b"), hashOf("c")}, t0))
	if n, err := s.RecoveryCodesLeft(ctx, u.ID); err != nil || n != 3 {
		t.Fatalf("left = %d, %v", n, err)
	}
	_, err := s.UseRecoveryCode(ctx, other.ID, hashOf("a"), t0) // another user's code
	wantCode(t, err, keyward.ENOTFOUND)
	left, err := s.UseRecoveryCode(ctx, u.ID, hashOf("a"), t0)
	must(t, err)
	if left != 2 {
		t.Fatalf("left after one use = %d", left)
	}
	_, err = s.UseRecoveryCode(ctx, u.ID, hashOf("a"), t0)
	wantCode(t, err, keyward.ENOTFOUND)

	// Of racing uses of one code, exactly one succeeds.
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for range 8 {
		wg.Go(func() {
			if _, err := s.UseRecoveryCode(ctx, u.ID, hashOf("b"), t0); err == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			} else if keyward.ErrorCode(err) != keyward.ENOTFOUND {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d racing uses of one recovery code succeeded", wins)
	}

	must(t, s.ReplaceRecoveryCodes(ctx, u.ID, [][]byte{hashOf("d"), hashOf("e")}, t0))
	_, err = s.UseRecoveryCode(ctx, u.ID, hashOf("c"), t0) // replaced
	wantCode(t, err, keyward.ENOTFOUND)
	if n, err := s.RecoveryCodesLeft(ctx, u.ID); err != nil || n != 2 {
		t.Fatalf("left after replacing = %d, %v", n, err)
	}
}

func testTOTPStepRace(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	u := newUser(t, s)
	must(t, s.PutTOTP(ctx, &keyward.TOTPSecret{UserID: u.ID, Secret: []byte("s"), CreatedAt: t0}))
	must(t, s.ConfirmTOTP(ctx, u.ID, 1, nil, t0))
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for range 8 {
		wg.Go(func() {
			if err := s.UseTOTPStep(ctx, u.ID, 2); err == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			} else if keyward.ErrorCode(err) != keyward.ECONFLICT {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d racing uses of one code succeeded", wins)
	}
}

func testLoginChallenges(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	u := newUser(t, s)
	c := &keyward.LoginChallenge{Hash: hashOf(randomString(t, 16)), UserID: u.ID, Next: "/projects/x", CreatedAt: t0, ExpiresAt: t0.Add(5 * time.Minute)}
	must(t, s.CreateLoginChallenge(ctx, c))
	wantCode(t, s.CreateLoginChallenge(ctx, c), keyward.ECONFLICT)
	wantCode(t, s.CreateLoginChallenge(ctx, &keyward.LoginChallenge{Hash: hashOf("other"), UserID: "usr_unknown", CreatedAt: t0, ExpiresAt: t0}), keyward.ENOTFOUND)
	got, err := s.LoginChallenge(ctx, c.Hash)
	must(t, err)
	sameJSON(t, "LoginChallenge", got, c)
	ok, err := s.DeleteLoginChallenge(ctx, c.Hash)
	must(t, err)
	if !ok {
		t.Fatal("DeleteLoginChallenge found nothing")
	}
	if ok, _ := s.DeleteLoginChallenge(ctx, c.Hash); ok {
		t.Fatal("a challenge was deleted twice")
	}
	_, err = s.LoginChallenge(ctx, c.Hash)
	wantCode(t, err, keyward.ENOTFOUND)

	// Sweep removes expired challenges and keeps the others.
	old := &keyward.LoginChallenge{Hash: hashOf(randomString(t, 16)), UserID: u.ID, CreatedAt: t0, ExpiresAt: t0.Add(time.Minute)}
	live := &keyward.LoginChallenge{Hash: hashOf(randomString(t, 16)), UserID: u.ID, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	must(t, s.CreateLoginChallenge(ctx, old))
	must(t, s.CreateLoginChallenge(ctx, live))
	for {
		n, err := s.Sweep(ctx, t0.Add(2*time.Minute), 1000)
		must(t, err)
		if n == 0 {
			break
		}
	}
	_, err = s.LoginChallenge(ctx, old.Hash)
	wantCode(t, err, keyward.ENOTFOUND)
	_, err = s.LoginChallenge(ctx, live.Hash)
	must(t, err)
}

func testRequire2FA(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	u := newUser(t, s)
	p := newProject(t, s, u)
	if p.Require2FA {
		t.Fatal("a new project requires 2FA")
	}
	got, err := s.SetProjectRequire2FA(ctx, p.ID, true)
	must(t, err)
	if !got.Require2FA || got.Name != p.Name {
		t.Fatalf("SetProjectRequire2FA = %+v", got)
	}
	for _, read := range []func() (*keyward.Project, error){
		func() (*keyward.Project, error) { return s.ProjectByID(ctx, p.ID) },
		func() (*keyward.Project, error) { return s.ProjectByName(ctx, p.Name) },
		func() (*keyward.Project, error) {
			ps, err := s.ProjectsForUser(ctx, u.ID)
			if err != nil || len(ps) != 1 {
				t.Fatalf("ProjectsForUser = %v, %v", ps, err)
			}
			return ps[0], nil
		},
	} {
		got, err := read()
		must(t, err)
		if !got.Require2FA {
			t.Fatalf("read back %+v", got)
		}
	}
	got, err = s.SetProjectRequire2FA(ctx, p.ID, false)
	must(t, err)
	if got.Require2FA {
		t.Fatal("require_2fa still on")
	}
	_, err = s.SetProjectRequire2FA(ctx, "prj_unknown", true)
	wantCode(t, err, keyward.ENOTFOUND)
}

func testPasskeys(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	u, other := newUser(t, s), newUser(t, s)
	pk := &keyward.Passkey{ID: newID(t, keyward.PrefixPasskey), UserID: u.ID, CredentialID: []byte(randomString(t, 16)),
		Name: "laptop", Credential: []byte(`{"counter":0}`), CreatedAt: t0}
	must(t, s.CreatePasskey(ctx, pk))
	dup := *pk
	dup.ID = newID(t, keyward.PrefixPasskey)
	wantCode(t, s.CreatePasskey(ctx, &dup), keyward.ECONFLICT) // the same credential twice
	gone := *pk
	gone.ID, gone.UserID, gone.CredentialID = newID(t, keyward.PrefixPasskey), "usr_unknown", []byte("x")
	wantCode(t, s.CreatePasskey(ctx, &gone), keyward.ENOTFOUND)

	if has, err := s.HasSecondFactor(ctx, u.ID); err != nil || !has {
		t.Fatalf("a passkey is not a second factor: %v, %v", has, err)
	}
	list, err := s.Passkeys(ctx, u.ID)
	must(t, err)
	sameJSON(t, "Passkeys", list, []*keyward.Passkey{pk})
	if list, _ := s.Passkeys(ctx, other.ID); len(list) != 0 {
		t.Fatalf("another user's passkeys: %v", list)
	}

	wantCode(t, s.UsePasskey(ctx, other.ID, pk.CredentialID, []byte(`{}`), t0), keyward.ENOTFOUND)
	later := t0.Add(time.Hour)
	must(t, s.UsePasskey(ctx, u.ID, pk.CredentialID, []byte(`{"counter":1}`), later))
	list, err = s.Passkeys(ctx, u.ID)
	must(t, err)
	if len(list) != 1 || string(list[0].Credential) != `{"counter":1}` || list[0].LastUsedAt == nil || !list[0].LastUsedAt.Equal(later) {
		t.Fatalf("after use: %+v", list[0])
	}

	wantCode(t, s.DeletePasskey(ctx, other.ID, pk.ID), keyward.ENOTFOUND) // not theirs
	must(t, s.DeletePasskey(ctx, u.ID, pk.ID))
	wantCode(t, s.DeletePasskey(ctx, u.ID, pk.ID), keyward.ENOTFOUND)
	if has, _ := s.HasSecondFactor(ctx, u.ID); has {
		t.Fatal("second factor after deleting the only passkey")
	}
}

func testCeremonies(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	u := newUser(t, s)
	hash := hashOf(randomString(t, 16))
	must(t, s.PutCeremony(ctx, &keyward.Ceremony{Hash: hash, Purpose: "login", UserID: u.ID, Data: []byte("first"), ExpiresAt: t0.Add(time.Minute)}))
	must(t, s.PutCeremony(ctx, &keyward.Ceremony{Hash: hash, Purpose: "login", UserID: u.ID, Data: []byte("second"), ExpiresAt: t0.Add(time.Minute)}))
	must(t, s.PutCeremony(ctx, &keyward.Ceremony{Hash: hash, Purpose: "register", UserID: u.ID, Data: []byte("other"), ExpiresAt: t0.Add(time.Minute)}))
	c, err := s.TakeCeremony(ctx, hash, "login")
	must(t, err)
	if string(c.Data) != "second" || c.UserID != u.ID || !c.ExpiresAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("TakeCeremony = %+v", c)
	}
	_, err = s.TakeCeremony(ctx, hash, "login") // answered once
	wantCode(t, err, keyward.ENOTFOUND)
	c, err = s.TakeCeremony(ctx, hash, "register")
	must(t, err)
	if string(c.Data) != "other" {
		t.Fatalf("the other purpose: %+v", c)
	}
	wantCode(t, s.PutCeremony(ctx, &keyward.Ceremony{Hash: hash, Purpose: "login", UserID: "usr_unknown", Data: []byte("x"), ExpiresAt: t0}), keyward.ENOTFOUND)
}

package dashboard

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/fakeclock"
	"github.com/keyward/keyward/internal/sqlstore"
)

// lateStore answers UserByID as if the user changed after the web session was read: disabling
// deletes a user's logins, so only a read in that window still finds the login of a disabled
// user, and only the session check itself can end it.
type lateStore struct {
	*sqlstore.DB
	user func(u *keyward.User) (*keyward.User, error)
}

func (s lateStore) UserByID(ctx context.Context, id string) (*keyward.User, error) {
	u, err := s.DB.UserByID(ctx, id)
	if err != nil || s.user == nil {
		return u, err
	}
	return s.user(u)
}

// TestSessionEndsWithItsUser: the next request of a web session whose user was disabled or
// deleted meanwhile is signed out, and a store failure is an error, not a sign-out.
func TestSessionEndsWithItsUser(t *testing.T) {
	ctx := t.Context()
	db, err := sqlstore.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "keyward.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	clock := fakeclock.New(time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC))
	u := &keyward.User{ID: "usr_0000000000000001", Email: "ada@example.com", PasswordHash: "x", CreatedAt: clock.Now()}
	if err := db.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	secret := make([]byte, secretBytes)
	if _, err := rand.Read(secret); err != nil {
		t.Fatal(err)
	}
	hash := sha256.Sum256(secret)
	ws := &keyward.WebSession{Hash: hash[:], UserID: u.ID, CreatedAt: clock.Now(), LastSeenAt: clock.Now(), ExpiresAt: clock.Now().Add(time.Hour)}
	if err := db.CreateWebSession(ctx, ws); err != nil {
		t.Fatal(err)
	}
	outage := errors.New("database unreachable")
	for _, tt := range []struct {
		name     string
		user     func(u *keyward.User) (*keyward.User, error)
		signedIn bool
		err      error
	}{
		{"live user", nil, true, nil},
		{"user disabled", func(u *keyward.User) (*keyward.User, error) { u.Disabled = true; return u, nil }, false, nil},
		{"user deleted", func(*keyward.User) (*keyward.User, error) {
			return nil, keyward.Errorf(keyward.ENOTFOUND, "User not found.")
		}, false, nil},
		{"store down", func(*keyward.User) (*keyward.User, error) { return nil, outage }, false, outage},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := &Server{Store: lateStore{DB: db, user: tt.user}, IdleTimeout: DefaultIdleTimeout, Now: clock.Now}
			r := httptest.NewRequest("GET", "/projects", nil)
			r.AddCookie(&http.Cookie{Name: s.cookieName(), Value: base64.RawURLEncoding.EncodeToString(secret)})
			v, err := s.session(r)
			if !errors.Is(err, tt.err) {
				t.Fatalf("session error %v, want %v", err, tt.err)
			}
			if got := v != nil; got != tt.signedIn {
				t.Fatalf("signed in %v, want %v", got, tt.signedIn)
			}
			if v != nil && (v.User.ID != u.ID || v.Caller.Principal.Subject != "user:"+u.ID) {
				t.Errorf("visit of %+v", v.User)
			}
		})
	}
}

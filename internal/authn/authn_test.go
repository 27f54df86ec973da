package authn

import (
	"context"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/apikey"
	"github.com/keyward/keyward/internal/sqlstore"
	"github.com/keyward/keyward/internal/token"
)

// tokens stands in for the signature check, which internal/token tests; here a raw token is
// valid exactly when it is in the map.
type tokens map[string]*token.Claims

func (t tokens) Verify(raw string) (*token.Claims, error) {
	if c, ok := t[raw]; ok {
		return c, nil
	}
	return nil, keyward.Errorf(keyward.EUNAUTHORIZED, "bad token")
}

type fixture struct {
	t     *testing.T
	ctx   context.Context
	now   time.Time
	store keyward.Store
	toks  tokens
	auth  *Authenticator
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	store, err := sqlstore.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "keyward.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	f := &fixture{t: t, ctx: ctx, now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), store: store, toks: tokens{}}
	f.auth = &Authenticator{Store: store, Tokens: f.toks, Now: func() time.Time { return f.now }}
	return f
}

func (f *fixture) id(prefix string) string {
	id, err := keyward.NewID(rand.Reader, prefix)
	if err != nil {
		f.t.Fatal(err)
	}
	return id
}

func (f *fixture) user(email string) *keyward.User {
	u := &keyward.User{ID: f.id(keyward.PrefixUser), Email: email, PasswordHash: "x", CreatedAt: f.now}
	if err := f.store.CreateUser(f.ctx, u); err != nil {
		f.t.Fatal(err)
	}
	return u
}

func (f *fixture) project(name string, owner *keyward.User, perms ...string) *keyward.Project {
	p := &keyward.Project{ID: f.id(keyward.PrefixProject), Name: name, CreatedAt: f.now}
	if err := f.store.CreateProject(f.ctx, p, &keyward.Member{ProjectID: p.ID, UserID: owner.ID, Permissions: perms, CreatedAt: f.now, UpdatedAt: f.now}); err != nil {
		f.t.Fatal(err)
	}
	return p
}

func (f *fixture) key(p *keyward.Project, expires *time.Time, perms ...string) *keyward.APIKey {
	secret, id, err := apikey.New(rand.Reader)
	if err != nil {
		f.t.Fatal(err)
	}
	k := &keyward.APIKey{ID: id, ProjectID: p.ID, Name: id, Permissions: perms, SecretHash: apikey.Hash(secret), Hint: apikey.Hint(secret),
		CreatedBy: "user:x", Owner: "usr_x", CreatedAt: f.now, ExpiresAt: expires}
	if err := f.store.CreateAPIKey(f.ctx, k); err != nil {
		f.t.Fatal(err)
	}
	return k
}

// token stores s and returns a raw token whose claims name it.
func (f *fixture) token(s *keyward.Session) string {
	s.ID = f.id(keyward.PrefixSession)
	s.CreatedAt = f.now
	if s.ExpiresAt.IsZero() {
		s.ExpiresAt = f.now.Add(24 * time.Hour)
	}
	_, hash, err := token.NewRefreshToken(rand.Reader, s.ID)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.store.CreateSession(f.ctx, s, &keyward.RefreshToken{Hash: hash, SessionID: s.ID, IssuedAt: f.now, ExpiresAt: f.now.Add(time.Hour)}); err != nil {
		f.t.Fatal(err)
	}
	raw := "tok" + s.ID
	f.toks[raw] = &token.Claims{Subject: s.Subject(), SessionID: s.ID, Project: s.ProjectID, Expiry: f.now.Add(time.Hour)}
	return raw
}

func TestBearer(t *testing.T) {
	f := newFixture(t)
	ada := f.user("ada@example.com")
	p := f.project("shop", ada, "containers-view")
	gone := f.user("gone@example.com")
	soon := f.now.Add(time.Minute)
	past := f.now.Add(-time.Minute)
	live := f.key(p, &soon, "containers-view")
	expired := f.key(p, &past, "containers-view")
	deleted := f.key(p, nil, "containers-view")

	userTok := f.token(&keyward.Session{Kind: keyward.SessionUser, UserID: ada.ID})
	keyTok := f.token(&keyward.Session{Kind: keyward.SessionKey, KeyID: live.ID, ProjectID: p.ID})
	expiredKeyTok := f.token(&keyward.Session{Kind: keyward.SessionKey, KeyID: expired.ID, ProjectID: p.ID})
	deletedKeyTok := f.token(&keyward.Session{Kind: keyward.SessionKey, KeyID: deleted.ID, ProjectID: p.ID})
	if err := f.store.DeleteAPIKey(f.ctx, p.ID, deleted.ID, f.now); err != nil {
		t.Fatal(err)
	}
	disabledTok := f.token(&keyward.Session{Kind: keyward.SessionUser, UserID: gone.ID})
	if err := f.store.SetUserDisabled(f.ctx, gone.ID, true, f.now); err != nil {
		t.Fatal(err)
	}
	revokedTok := f.token(&keyward.Session{Kind: keyward.SessionUser, UserID: ada.ID})
	if err := f.store.RevokeSession(f.ctx, f.toks[revokedTok].SessionID, "test", f.now); err != nil {
		t.Fatal(err)
	}
	oldTok := f.token(&keyward.Session{Kind: keyward.SessionUser, UserID: ada.ID, ExpiresAt: f.now})
	mismatchTok := "mismatch"
	f.toks[mismatchTok] = &token.Claims{Subject: "user:" + gone.ID, SessionID: f.toks[userTok].SessionID}
	unknownSessionTok := "unknown-session"
	f.toks[unknownSessionTok] = &token.Claims{Subject: "user:" + ada.ID, SessionID: "ses_0000000000000000"}
	noSessionTok := "no-session"
	f.toks[noSessionTok] = &token.Claims{Subject: "user:" + ada.ID}

	tests := []struct {
		name    string
		raw     string
		subject string // "" when the token must be refused
	}{
		{"user", userTok, "user:" + ada.ID},
		{"key", keyTok, "key:" + live.ID},
		{"bad signature", "forged", ""},
		{"expired key", expiredKeyTok, ""},
		{"deleted key", deletedKeyTok, ""},
		{"disabled user", disabledTok, ""},
		{"revoked session", revokedTok, ""},
		{"session past max age", oldTok, ""},
		{"session of another subject", mismatchTok, ""},
		{"unknown session", unknownSessionTok, ""},
		{"no session claim", noSessionTok, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := f.auth.Bearer(f.ctx, tt.raw)
			if tt.subject == "" {
				if keyward.ErrorCode(err) != keyward.EUNAUTHORIZED || p != nil {
					t.Fatalf("Bearer = %v, %v; want EUNAUTHORIZED", p, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Subject != tt.subject || (p.User == nil) == (p.Key == nil) || p.Session == nil || p.Claims == nil {
				t.Errorf("principal %+v", p)
			}
		})
	}
	// The live key expires a minute later: the same token then stops working.
	f.now = soon
	if _, err := f.auth.Bearer(f.ctx, keyTok); keyward.ErrorCode(err) != keyward.EUNAUTHORIZED {
		t.Errorf("token of a key past its expiry: %v", err)
	}
}

// TestBearerStoreDown: a database failure is reported as one, not as a bad token, so that an
// outage does not look like mass revocation.
func TestBearerStoreDown(t *testing.T) {
	f := newFixture(t)
	ada := f.user("ada@example.com")
	raw := f.token(&keyward.Session{Kind: keyward.SessionUser, UserID: ada.ID})
	f.store.Close()
	_, err := f.auth.Bearer(f.ctx, raw)
	if err == nil || keyward.ErrorCode(err) == keyward.EUNAUTHORIZED {
		t.Errorf("Bearer on a closed store = %v", err)
	}
}

func TestFromRequest(t *testing.T) {
	f := newFixture(t)
	ada := f.user("ada@example.com")
	raw := f.token(&keyward.Session{Kind: keyward.SessionUser, UserID: ada.ID})
	f.toks["eyJ.abc-_.x+/=="] = f.toks[raw]
	key, _, err := apikey.New(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		values []string
		ok     bool
		detail string
	}{
		{"bearer", []string{"Bearer " + raw}, true, ""},
		{"lower case", []string{"bearer " + raw}, true, ""},
		{"b64token characters", []string{"Bearer eyJ.abc-_.x+/=="}, true, ""},
		{"extra spaces before the token", []string{"Bearer   " + raw}, true, ""},
		{"missing", nil, false, "Bearer"},
		{"two headers", []string{"Bearer " + raw, "Bearer " + raw}, false, "exactly one"},
		{"basic", []string{"Basic " + raw}, false, "Bearer"},
		{"scheme only", []string{"Bearer"}, false, "invalid"},
		{"token with a space", []string{"Bearer " + raw + " extra"}, false, "invalid"},
		{"token with a comma", []string{"Bearer " + raw + ",x"}, false, "invalid"},
		{"API key", []string{"Bearer " + key}, false, "/oauth/token"},
		{"API key look-alike", []string{"Bearer kw_123"}, false, "/oauth/token"},
		{"tab separator", []string{"Bearer\t" + raw}, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/v1/me", nil)
			r.Header["Authorization"] = tt.values
			p, err := f.auth.FromRequest(r)
			if tt.ok {
				if err != nil || p.User == nil || p.User.ID != ada.ID {
					t.Fatalf("FromRequest = %v, %v", p, err)
				}
				return
			}
			if keyward.ErrorCode(err) != keyward.EUNAUTHORIZED {
				t.Fatalf("FromRequest error %v, want EUNAUTHORIZED", err)
			}
			if !strings.Contains(keyward.ErrorMessage(err), tt.detail) {
				t.Errorf("message %q does not mention %q", keyward.ErrorMessage(err), tt.detail)
			}
		})
	}
}

func FuzzFromRequest(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer  a.b.c", "Basic x", "Bearer kw_abc", "Bearer", "", "Bearer \x00", "BEARER a=b"} {
		f.Add(s)
	}
	auth := &Authenticator{Tokens: tokens{}, Now: time.Now}
	f.Fuzz(func(t *testing.T, header string) {
		r := httptest.NewRequest("GET", "/v1/me", nil)
		r.Header = http.Header{"Authorization": {header}}
		p, err := auth.FromRequest(r)
		if p != nil || keyward.ErrorCode(err) != keyward.EUNAUTHORIZED {
			t.Fatalf("FromRequest(%q) = %v, %v", header, p, err)
		}
	})
}

package authn

import (
	"context"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
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
	f.auth = &Authenticator{Store: store, Tokens: f.toks, Catalog: keyward.DefaultCatalog(), Now: func() time.Time { return f.now }}
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
		CreatedBy: "user:x", CreatedAt: f.now, ExpiresAt: expires}
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
	auth := &Authenticator{Tokens: tokens{}, Catalog: keyward.DefaultCatalog(), Now: time.Now}
	f.Fuzz(func(t *testing.T, header string) {
		r := httptest.NewRequest("GET", "/v1/me", nil)
		r.Header = http.Header{"Authorization": {header}}
		p, err := auth.FromRequest(r)
		if p != nil || keyward.ErrorCode(err) != keyward.EUNAUTHORIZED {
			t.Fatalf("FromRequest(%q) = %v, %v", header, p, err)
		}
	})
}

func TestPermissions(t *testing.T) {
	f := newFixture(t)
	ada := f.user("ada@example.com")
	bob := f.user("bob@example.com")
	shop := f.project("shop", ada, "containers-view", "containers-manage", "api-keys-view")
	blog := f.project("blog", bob, "dns-view")
	if err := f.store.PutMember(f.ctx, &keyward.Member{ProjectID: blog.ID, UserID: ada.ID, Permissions: []string{"dns-view", "retired-permission"}, CreatedAt: f.now, UpdatedAt: f.now}); err != nil {
		t.Fatal(err)
	}
	shopKey := f.key(shop, nil, "containers-view", "api-keys-view", "retired-permission")

	principal := func(raw string) *Principal {
		p, err := f.auth.Bearer(f.ctx, raw)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	adaFull := principal(f.token(&keyward.Session{Kind: keyward.SessionUser, UserID: ada.ID}))
	adaShop := principal(f.token(&keyward.Session{Kind: keyward.SessionUser, UserID: ada.ID, ProjectID: shop.ID}))
	adaScoped := principal(f.token(&keyward.Session{Kind: keyward.SessionUser, UserID: ada.ID, ProjectID: shop.ID, Scope: []string{"containers-view", "billing-view"}}))
	bobFull := principal(f.token(&keyward.Session{Kind: keyward.SessionUser, UserID: bob.ID}))
	key := principal(f.token(&keyward.Session{Kind: keyward.SessionKey, KeyID: shopKey.ID, ProjectID: shop.ID}))
	keyScoped := principal(f.token(&keyward.Session{Kind: keyward.SessionKey, KeyID: shopKey.ID, ProjectID: shop.ID, Scope: []string{"api-keys-view"}}))
	keyEmptyScope := principal(f.token(&keyward.Session{Kind: keyward.SessionKey, KeyID: shopKey.ID, ProjectID: shop.ID, Scope: []string{}}))

	tests := []struct {
		name    string
		p       *Principal
		project *keyward.Project
		want    []string // nil: ENOTFOUND
	}{
		{"member", adaFull, shop, []string{"api-keys-view", "containers-view", "containers-manage"}},
		{"member of a second project; retired permissions dropped", adaFull, blog, []string{"dns-view"}},
		{"not a member", bobFull, shop, nil},
		{"narrowed to this project", adaShop, shop, []string{"api-keys-view", "containers-view", "containers-manage"}},
		{"narrowed to another project", adaShop, blog, nil},
		{"scope narrows a user", adaScoped, shop, []string{"containers-view"}},
		{"key in its project (catalog order)", key, shop, []string{"api-keys-view", "containers-view"}},
		{"key in another project", key, blog, nil},
		{"scope narrows a key", keyScoped, shop, []string{"api-keys-view"}},
		{"empty scope is nothing", keyEmptyScope, shop, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.auth.Permissions(f.ctx, tt.p, tt.project)
			if tt.want == nil {
				if keyward.ErrorCode(err) != keyward.ENOTFOUND {
					t.Fatalf("Permissions = %v, %v; want ENOTFOUND", got, err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Errorf("Permissions = %v, %v; want %v", got, err, tt.want)
			}
		})
	}

	// ResolveProject: visible by id and by name; invisible and nonexistent read the same.
	for _, ref := range []string{shop.ID, "shop"} {
		got, perms, err := f.auth.ResolveProject(f.ctx, key, ref)
		if err != nil || got.ID != shop.ID || len(perms) != 2 {
			t.Errorf("ResolveProject(%q) = %v, %v, %v", ref, got, perms, err)
		}
	}
	_, _, hidden := f.auth.ResolveProject(f.ctx, key, "blog")
	_, _, missing := f.auth.ResolveProject(f.ctx, key, "blag")
	if keyward.ErrorCode(hidden) != keyward.ENOTFOUND || keyward.ErrorCode(missing) != keyward.ENOTFOUND ||
		strings.Replace(keyward.ErrorMessage(hidden), "blog", "blag", 1) != keyward.ErrorMessage(missing) {
		t.Errorf("hidden %v and missing %v differ", hidden, missing)
	}
	for _, ref := range []string{"", "Shop", "prj_", "shop/../blog", strings.Repeat("a", 64)} {
		if _, _, err := f.auth.ResolveProject(f.ctx, adaFull, ref); keyward.ErrorCode(err) != keyward.ENOTFOUND {
			t.Errorf("ResolveProject(%q) = %v", ref, err)
		}
	}

	// Projects lists what each caller can see.
	for _, tt := range []struct {
		p    *Principal
		want []string
	}{
		{adaFull, []string{"blog", "shop"}},
		{adaShop, []string{"shop"}},
		{key, []string{"shop"}},
		{bobFull, []string{"blog"}},
	} {
		ps, err := f.auth.Projects(f.ctx, tt.p)
		var names []string
		for _, p := range ps {
			names = append(names, p.Name)
		}
		if err != nil || !slices.Equal(names, tt.want) {
			t.Errorf("Projects(%s) = %v, %v; want %v", tt.p.Subject, names, err, tt.want)
		}
	}
}

func TestValidProjectName(t *testing.T) {
	for name, want := range map[string]bool{
		"a": true, "web-shop": true, "a1-b2": true, strings.Repeat("a", 63): true,
		"": false, "-a": false, "a-": false, "A": false, "a_b": false, "a.b": false, strings.Repeat("a", 64): false, "prj_x": false,
	} {
		if got := ValidProjectName(name); got != want {
			t.Errorf("ValidProjectName(%q) = %v", name, got)
		}
	}
}

package manage_test

import (
	"crypto/rand"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/apikey"
	"github.com/keyward/keyward/internal/authn"
	"github.com/keyward/keyward/internal/manage"
)

func (f *fixture) newID(prefix string) string {
	f.t.Helper()
	id, err := keyward.NewID(rand.Reader, prefix)
	if err != nil {
		f.t.Fatal(err)
	}
	return id
}

func (f *fixture) user(email string) *keyward.User {
	f.t.Helper()
	u := &keyward.User{ID: f.newID(keyward.PrefixUser), Email: email, PasswordHash: "x", CreatedAt: f.now}
	if err := f.store.CreateUser(f.t.Context(), u); err != nil {
		f.t.Fatal(err)
	}
	return u
}

func (f *fixture) project(name string, owner *keyward.User, perms ...string) *keyward.Project {
	f.t.Helper()
	p := &keyward.Project{ID: f.newID(keyward.PrefixProject), Name: name, CreatedAt: f.now}
	m := &keyward.Member{ProjectID: p.ID, UserID: owner.ID, Permissions: perms, CreatedAt: f.now, UpdatedAt: f.now}
	if err := f.store.CreateProject(f.t.Context(), p, m); err != nil {
		f.t.Fatal(err)
	}
	return p
}

func (f *fixture) key(p *keyward.Project, perms ...string) *keyward.APIKey {
	f.t.Helper()
	secret, id, err := apikey.New(rand.Reader)
	if err != nil {
		f.t.Fatal(err)
	}
	k := &keyward.APIKey{ID: id, ProjectID: p.ID, Name: id, Permissions: perms, SecretHash: apikey.Hash(secret), Hint: apikey.Hint(secret),
		CreatedBy: "user:x", Owner: f.firstMember(p), CreatedAt: f.now}
	if err := f.store.CreateAPIKey(f.t.Context(), k); err != nil {
		f.t.Fatal(err)
	}
	return k
}

// firstMember is the user id of p's first member by email: the owner of the keys key stores.
func (f *fixture) firstMember(p *keyward.Project) string {
	f.t.Helper()
	ms, err := f.store.Members(f.t.Context(), p.ID)
	if err != nil || len(ms) == 0 {
		f.t.Fatalf("members of %s: %v, %v", p.Name, ms, err)
	}
	return ms[0].UserID
}

// principal identifies the caller of sess as the authenticator would.
func (f *fixture) principal(sess *keyward.Session) *authn.Principal {
	f.t.Helper()
	sess.CreatedAt, sess.ExpiresAt = f.now, f.now.Add(time.Hour)
	p, err := authn.Live(f.t.Context(), f.store, sess, f.now)
	if err != nil {
		f.t.Fatal(err)
	}
	return p
}

func TestPermissions(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	ada := f.user("ada@example.com")
	bob := f.user("bob@example.com")
	shop := f.project("shop", ada, "containers-view", "containers-manage", "api-keys-view")
	blog := f.project("blog", bob, "dns-view")
	if err := f.store.PutMember(ctx, &keyward.Member{ProjectID: blog.ID, UserID: ada.ID, Permissions: []string{"dns-view", "retired-permission"}, CreatedAt: f.now, UpdatedAt: f.now}); err != nil {
		t.Fatal(err)
	}
	shopKey := f.key(shop, "containers-view", "api-keys-view", "retired-permission")

	adaFull := f.principal(&keyward.Session{Kind: keyward.SessionUser, UserID: ada.ID})
	adaShop := f.principal(&keyward.Session{Kind: keyward.SessionUser, UserID: ada.ID, ProjectID: shop.ID})
	adaScoped := f.principal(&keyward.Session{Kind: keyward.SessionUser, UserID: ada.ID, ProjectID: shop.ID, Scope: []string{"containers-view", "billing-view"}})
	bobFull := f.principal(&keyward.Session{Kind: keyward.SessionUser, UserID: bob.ID})
	key := f.principal(&keyward.Session{Kind: keyward.SessionKey, KeyID: shopKey.ID, ProjectID: shop.ID})
	keyScoped := f.principal(&keyward.Session{Kind: keyward.SessionKey, KeyID: shopKey.ID, ProjectID: shop.ID, Scope: []string{"api-keys-view"}})
	keyEmptyScope := f.principal(&keyward.Session{Kind: keyward.SessionKey, KeyID: shopKey.ID, ProjectID: shop.ID, Scope: []string{}})

	authz := manage.Authorizer{Store: f.store, Catalog: keyward.DefaultCatalog()}
	tests := []struct {
		name    string
		p       *authn.Principal
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
			got, err := authz.Permissions(ctx, tt.p, tt.project.ID)
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
		got, perms, err := authz.ResolveProject(ctx, key, ref)
		if err != nil || got.ID != shop.ID || len(perms.Perms) != 2 {
			t.Errorf("ResolveProject(%q) = %v, %v, %v", ref, got, perms, err)
		}
	}
	_, _, hidden := authz.ResolveProject(ctx, key, "blog")
	_, _, missing := authz.ResolveProject(ctx, key, "blag")
	if keyward.ErrorCode(hidden) != keyward.ENOTFOUND || keyward.ErrorCode(missing) != keyward.ENOTFOUND ||
		strings.Replace(keyward.ErrorMessage(hidden), "blog", "blag", 1) != keyward.ErrorMessage(missing) {
		t.Errorf("hidden %v and missing %v differ", hidden, missing)
	}
	for _, ref := range []string{"", "Shop", "prj_", "shop/../blog", strings.Repeat("a", 64)} {
		if _, _, err := authz.ResolveProject(ctx, adaFull, ref); keyward.ErrorCode(err) != keyward.ENOTFOUND {
			t.Errorf("ResolveProject(%q) = %v", ref, err)
		}
	}

	// Projects lists what each caller can see, with the same permissions.
	for _, tt := range []struct {
		p    *authn.Principal
		want []string
	}{
		{adaFull, []string{"blog", "shop"}},
		{adaShop, []string{"shop"}},
		{key, []string{"shop"}},
		{bobFull, []string{"blog"}},
	} {
		list, err := f.svc.Projects(ctx, manage.Caller{Principal: tt.p})
		var names []string
		for _, a := range list {
			names = append(names, a.Project.Name)
			if want, _ := authz.Permissions(ctx, tt.p, a.Project.ID); !slices.Equal(a.Perms, want) {
				t.Errorf("Projects(%s): %s with %v, want %v", tt.p.Subject, a.Project.Name, a.Perms, want)
			}
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
		if got := manage.ValidProjectName(name); got != want {
			t.Errorf("ValidProjectName(%q) = %v", name, got)
		}
	}
}

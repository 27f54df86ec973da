package storetest

import (
	"strings"
	"testing"

	"github.com/keyward/keyward"
)

// testLookAlikeNames checks that names that look alike are the same name: a key name within its
// project, a project name across the instance. Names are stored and returned as typed.
func testLookAlikeNames(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	owner := newUser(t, s)
	p := newProject(t, s, owner)
	q := newProject(t, s, owner)

	first := newKey(t, s, p, "Deploy ﬁle")
	for _, name := range []string{
		"deploy file",      // case and the ﬁ ligature
		"d\u0435ploy file", // Cyrillic е
		"ＤＥＰＬＯＹ ＦＩＬＥ",      // fullwidth
	} {
		k := *first
		k.ID, k.Name = randomString(t, keyward.IDLength), name
		wantCode(t, s.CreateAPIKey(ctx, &k), keyward.ECONFLICT)
		_, err := s.APIKey(ctx, k.ID)
		wantCode(t, err, keyward.ENOTFOUND)

		// Another project may use it.
		k.ProjectID = q.ID
		must(t, s.CreateAPIKey(ctx, &k))
		got, err := s.APIKey(ctx, k.ID)
		must(t, err)
		if got.Name != name {
			t.Errorf("stored name %q, want %q as typed", got.Name, name)
		}
		must(t, s.DeleteAPIKey(ctx, q.ID, k.ID, t0))
	}
	got, err := s.APIKey(ctx, first.ID)
	must(t, err)
	if got.Name != "Deploy ﬁle" {
		t.Errorf("stored name %q, want %q as typed", got.Name, "Deploy ﬁle")
	}

	// An invisible character is refused, not dropped.
	k := *first
	k.ID, k.Name = randomString(t, keyward.IDLength), "Deploy ﬁle\u200d"
	wantCode(t, s.CreateAPIKey(ctx, &k), keyward.EINVALID)
	k.ProjectID = q.ID
	wantCode(t, s.CreateAPIKey(ctx, &k), keyward.EINVALID)

	// Deleting the key frees its name for a look-alike.
	must(t, s.DeleteAPIKey(ctx, p.ID, first.ID, t0))
	newKey(t, s, p, "deploy file")

	// Project names are global: "web-1" and "web-l" are one name, whoever asks.
	base := "w" + strings.ToLower(randomString(t, 10))
	proj := &keyward.Project{ID: newID(t, keyward.PrefixProject), Name: base + "-1", CreatedAt: t0}
	must(t, s.CreateProject(ctx, proj, &keyward.Member{UserID: owner.ID, Permissions: allPermissions, CreatedAt: t0, UpdatedAt: t0}))
	other := newUser(t, s)
	for _, name := range []string{base + "-l", strings.ToUpper(base) + "-1", base + "\u20101"} {
		dup := &keyward.Project{ID: newID(t, keyward.PrefixProject), Name: name, CreatedAt: t0}
		wantCode(t, s.CreateProject(ctx, dup, &keyward.Member{UserID: other.ID, Permissions: allPermissions, CreatedAt: t0, UpdatedAt: t0}), keyward.ECONFLICT)
		_, err := s.ProjectByID(ctx, dup.ID)
		wantCode(t, err, keyward.ENOTFOUND)
	}
	bad := &keyward.Project{ID: newID(t, keyward.PrefixProject), Name: base + "\u00ad2", CreatedAt: t0}
	wantCode(t, s.CreateProject(ctx, bad, &keyward.Member{UserID: other.ID, Permissions: allPermissions, CreatedAt: t0, UpdatedAt: t0}), keyward.EINVALID)
	must(t, s.CreateProject(ctx, &keyward.Project{ID: newID(t, keyward.PrefixProject), Name: base + "-2", CreatedAt: t0},
		&keyward.Member{UserID: other.ID, Permissions: allPermissions, CreatedAt: t0, UpdatedAt: t0}))
}

package storetest

import (
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// testKeyPolicy: a project's key policy reads back through every way a project is read, is
// replaced whole, leaves the project's other settings alone, and is stored at creation.
func testKeyPolicy(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	u := newUser(t, s)
	p := newProject(t, s, u)
	if p.KeyPolicy != (keyward.KeyPolicy{}) {
		t.Fatalf("a new project has a key policy: %+v", p.KeyPolicy)
	}
	_, err := s.SetProjectRequireDPoP(ctx, p.ID, true)
	must(t, err)
	want := keyward.KeyPolicy{RequireExpiry: true, MaxLifetime: 2160*time.Hour + 90*time.Second, RequireIPs: true}
	got, err := s.SetProjectKeyPolicy(ctx, p.ID, want)
	must(t, err)
	if got.KeyPolicy != want || !got.RequireDPoP || got.Name != p.Name {
		t.Fatalf("SetProjectKeyPolicy = %+v", got)
	}
	read := func() []*keyward.Project {
		t.Helper()
		byID, err := s.ProjectByID(ctx, p.ID)
		must(t, err)
		byName, err := s.ProjectByName(ctx, p.Name)
		must(t, err)
		out := []*keyward.Project{byID, byName}
		mine, err := s.ProjectsForUser(ctx, u.ID)
		must(t, err)
		all, err := s.AllProjects(ctx)
		must(t, err)
		for _, list := range [][]*keyward.Project{mine, all} {
			for _, q := range list {
				if q.ID == p.ID {
					out = append(out, q)
				}
			}
		}
		if len(out) != 4 {
			t.Fatalf("project read %d times, want 4", len(out))
		}
		return out
	}
	for _, q := range read() {
		if q.KeyPolicy != want {
			t.Fatalf("read back %+v, want %+v", q.KeyPolicy, want)
		}
	}
	// Replaced whole: what is left out is turned off.
	want = keyward.KeyPolicy{RequireIPs: true}
	_, err = s.SetProjectKeyPolicy(ctx, p.ID, want)
	must(t, err)
	for _, q := range read() {
		if q.KeyPolicy != want || !q.RequireDPoP {
			t.Fatalf("after replacing: %+v", q)
		}
	}

	// Stored at creation.
	q := &keyward.Project{ID: newID(t, keyward.PrefixProject), Name: "p-" + randomLower(t), CreatedAt: t0,
		KeyPolicy: keyward.KeyPolicy{RequireExpiry: true, MaxLifetime: time.Hour}}
	must(t, s.CreateProject(ctx, q, &keyward.Member{UserID: u.ID, Permissions: allPermissions, CreatedAt: t0, UpdatedAt: t0}))
	if r, err := s.ProjectByID(ctx, q.ID); err != nil || r.KeyPolicy != q.KeyPolicy {
		t.Fatalf("created with a policy, read %+v, %v", r, err)
	}

	_, err = s.SetProjectKeyPolicy(ctx, newID(t, keyward.PrefixProject), want)
	wantCode(t, err, keyward.ENOTFOUND)
}

package storetest

import (
	"testing"

	"github.com/keyward/keyward"
)

// testRequireDPoP: a key requires DPoP when it, its role or its project does; each setting reads
// back, and each change makes a copy of the key read before it fail to start a session, so that
// no cached copy exchanges without a proof after the setting commits.
func testRequireDPoP(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	u := newUser(t, s)
	p, _, viewer := projectWithRoles(t, s, u)
	k := ownedKeyWithRole(t, s, p, u, viewer.ID)
	if k.NeedsDPoP() || p.RequireDPoP || viewer.RequireDPoP {
		t.Fatal("a new key, role or project requires DPoP")
	}
	read := func() *keyward.APIKey {
		t.Helper()
		got, err := s.APIKey(ctx, k.ID)
		must(t, err)
		return got
	}
	stale := func(before *keyward.APIKey) {
		t.Helper()
		_, err := newKeySessionErr(t, s, before)
		wantCode(t, err, keyward.ECONFLICT)
	}

	// The key itself.
	before := read()
	on := true
	got, err := s.UpdateAPIKey(ctx, p.ID, k.ID, keyward.APIKeyChange{RequireDPoP: &on}, t0)
	must(t, err)
	if !got.RequireDPoP || !got.NeedsDPoP() || !read().RequireDPoP {
		t.Fatalf("key require_dpop not set: %+v", got)
	}
	stale(before)
	off := false
	_, err = s.UpdateAPIKey(ctx, p.ID, k.ID, keyward.APIKeyChange{RequireDPoP: &off}, t0)
	must(t, err)
	if read().NeedsDPoP() {
		t.Fatal("key still requires DPoP")
	}

	// Its role.
	before = read()
	r, err := s.UpdateRole(ctx, p.ID, viewer.ID, keyward.RoleChange{RequireDPoP: &on}, t0)
	must(t, err)
	if !r.RequireDPoP {
		t.Fatalf("role require_dpop not set: %+v", r)
	}
	if r, err = s.Role(ctx, p.ID, viewer.ID); err != nil || !r.RequireDPoP {
		t.Fatalf("Role = %+v, %v", r, err)
	}
	if after := read(); !after.NeedsDPoP() || after.RequireDPoP || after.Role == nil || !after.Role.RequireDPoP {
		t.Fatalf("a key of a role requiring DPoP: %+v", after)
	}
	stale(before)
	_, err = s.UpdateRole(ctx, p.ID, viewer.ID, keyward.RoleChange{RequireDPoP: &off}, t0)
	must(t, err)
	if read().NeedsDPoP() {
		t.Fatal("role still requires DPoP")
	}

	// Its project.
	before = read()
	got2, err := s.SetProjectRequireDPoP(ctx, p.ID, true)
	must(t, err)
	if !got2.RequireDPoP || got2.Name != p.Name {
		t.Fatalf("SetProjectRequireDPoP = %+v", got2)
	}
	if pp, err := s.ProjectByID(ctx, p.ID); err != nil || !pp.RequireDPoP {
		t.Fatalf("ProjectByID = %+v, %v", pp, err)
	}
	if after := read(); !after.NeedsDPoP() || !after.ProjectRequireDPoP {
		t.Fatalf("a key of a project requiring DPoP: %+v", after)
	}
	stale(before)
	_, err = s.SetProjectRequireDPoP(ctx, p.ID, false)
	must(t, err)
	if read().NeedsDPoP() {
		t.Fatal("project still requires DPoP")
	}
	_, err = s.SetProjectRequireDPoP(ctx, "prj_unknown", true)
	wantCode(t, err, keyward.ENOTFOUND)
}

// testSessionDPoPJKT: a session keeps the thumbprint of the key its tokens are bound to, and a
// refresh returns it, so that the refresh can demand a proof by that key.
func testSessionDPoPJKT(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	u := newUser(t, s)
	p := newProject(t, s, u)
	k := newKey(t, s, p, "bound")
	const jkt = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
	sess := &keyward.Session{ID: newID(t, keyward.PrefixSession), Kind: keyward.SessionKey, KeyID: k.ID, KeyRevision: k.Revision,
		SecretGen: k.SecretGen, ProjectID: p.ID, CreatedAt: t0, ExpiresAt: t0.Add(sessionAge), DPoPJKT: jkt}
	first := newToken(t, t0)
	must(t, s.CreateSession(ctx, sess, first))
	got, err := s.Session(ctx, sess.ID)
	must(t, err)
	if got.DPoPJKT != jkt {
		t.Fatalf("Session DPoPJKT = %q", got.DPoPJKT)
	}
	got, err = s.ConsumeRefreshToken(ctx, sess.ID, first.Hash, t0, newToken(t, t0))
	must(t, err)
	if got.DPoPJKT != jkt {
		t.Fatalf("ConsumeRefreshToken DPoPJKT = %q", got.DPoPJKT)
	}
	bearer, _ := newUserSession(t, s, u, "")
	if got, err = s.Session(ctx, bearer.ID); err != nil || got.DPoPJKT != "" {
		t.Fatalf("bearer session = %+v, %v", got, err)
	}
}

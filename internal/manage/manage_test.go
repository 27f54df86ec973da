package manage_test

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/authn"
	"github.com/keyward/keyward/internal/manage"
	"github.com/keyward/keyward/internal/sqlstore"
)

type fixture struct {
	t     *testing.T
	store *sqlstore.DB
	svc   *manage.Service
	now   time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	store, err := sqlstore.Open(t.Context(), "sqlite:"+filepath.Join(t.TempDir(), "keyward.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	f := &fixture{t: t, store: store, now: time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)}
	catalog := keyward.DefaultCatalog()
	clock := func() time.Time { return f.now }
	f.svc = &manage.Service{Store: store, Catalog: catalog, Passwords: plainHasher{}, Now: clock, Rand: rand.Reader}
	return f
}

type plainHasher struct{}

func (plainHasher) Hash(_ context.Context, pw string, _ io.Reader) (string, error) {
	return "$test$" + strings.Repeat("x", len(pw)), nil
}

// caller signs in a new user, a member of project (created when missing) with perms.
func (f *fixture) caller(email, project string, perms ...string) manage.Caller {
	f.t.Helper()
	id, _ := keyward.NewID(rand.Reader, keyward.PrefixUser)
	u := &keyward.User{ID: id, Email: email, PasswordHash: "x", CreatedAt: f.now}
	if err := f.store.CreateUser(f.t.Context(), u); err != nil {
		f.t.Fatal(err)
	}
	p, err := f.store.ProjectByName(f.t.Context(), project)
	m := &keyward.Member{UserID: u.ID, Permissions: perms, CreatedAt: f.now, UpdatedAt: f.now}
	switch {
	case keyward.ErrorCode(err) == keyward.ENOTFOUND:
		pid, _ := keyward.NewID(rand.Reader, keyward.PrefixProject)
		err = f.store.CreateProject(f.t.Context(), &keyward.Project{ID: pid, Name: project, CreatedAt: f.now}, m)
	case err == nil:
		m.ProjectID = p.ID
		err = f.store.PutMember(f.t.Context(), m)
	}
	if err != nil {
		f.t.Fatal(err)
	}
	return manage.Caller{Principal: &authn.Principal{
		Subject: "user:" + u.ID, User: u, Session: &keyward.Session{Kind: keyward.SessionUser, UserID: u.ID},
	}}
}

func (f *fixture) open(c manage.Caller, project string) *manage.Access {
	f.t.Helper()
	a, err := f.svc.Open(f.t.Context(), c, project)
	if err != nil {
		f.t.Fatal(err)
	}
	return a
}

// TestFieldErrorsNameTheirField: a form can put each input error next to its field, and every
// boundary still sees the domain code.
func TestFieldErrorsNameTheirField(t *testing.T) {
	f := newFixture(t)
	owner := f.open(f.caller("owner@example.com", "shop", "api-keys-view", "api-keys-manage", "containers-view"), "shop")
	if _, _, err := owner.CreateKey(t.Context(), manage.KeyInput{Name: "taken", Permissions: []string{"containers-view"}}); err != nil {
		t.Fatal(err)
	}
	past := f.now.Add(-time.Second)
	for _, tt := range []struct {
		name  string
		in    manage.KeyInput
		field string
		code  string
	}{
		{"empty name", manage.KeyInput{Permissions: []string{"containers-view"}}, "name", keyward.EINVALID},
		{"taken name", manage.KeyInput{Name: "taken", Permissions: []string{"containers-view"}}, "name", keyward.ECONFLICT},
		{"bad network", manage.KeyInput{Name: "a", IPs: []string{"10.0.0.0/33"}, Permissions: []string{"containers-view"}}, "ips", keyward.EINVALID},
		{"no permission", manage.KeyInput{Name: "a"}, "permissions", keyward.EINVALID},
		{"unknown permission", manage.KeyInput{Name: "a", Permissions: []string{"root"}}, "permissions", keyward.EINVALID},
		{"permission not held", manage.KeyInput{Name: "a", Permissions: []string{"billing-view"}}, "permissions", keyward.EFORBIDDEN},
		{"expired", manage.KeyInput{Name: "a", Permissions: []string{"containers-view"}, ExpiresAt: &past}, "expires_at", keyward.EINVALID},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, secret, err := owner.CreateKey(t.Context(), tt.in)
			var fe *manage.FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field || keyward.ErrorCode(err) != tt.code || secret != "" {
				t.Fatalf("CreateKey = %v (%T); want a %s field error on %q", err, err, tt.code, tt.field)
			}
			if keyward.ErrorMessage(err) != fe.Message || fe.Message == "" {
				t.Errorf("message %q vs %q", keyward.ErrorMessage(err), fe.Message)
			}
		})
	}
	keys, err := owner.Keys(t.Context())
	if err != nil || len(keys) != 1 {
		t.Fatalf("keys after the refusals: %v, %v", keys, err)
	}
	if keys[0].SecretHash != nil {
		t.Error("Keys hands out the secret's hash")
	}
}

// TestEveryOperationChecksItsPermission: holding the project is not enough; each operation needs
// its own permission, whoever calls it.
func TestEveryOperationChecksItsPermission(t *testing.T) {
	f := newFixture(t)
	f.caller("owner@example.com", "shop", keyward.DefaultCatalog().Names()...)
	a := f.open(f.caller("viewer@example.com", "shop", "containers-view"), "shop")
	ctx := t.Context()
	checks := map[string]error{}
	_, _, checks["CreateKey"] = a.CreateKey(ctx, manage.KeyInput{Name: "a", Permissions: []string{"containers-view"}})
	_, checks["Keys"] = a.Keys(ctx)
	_, checks["Key"] = a.Key(ctx, "0000000000000000")
	_, checks["KeySessions"] = a.KeySessions(ctx, "0000000000000000")
	_, checks["DeleteKey"] = a.DeleteKey(ctx, "0000000000000000")
	_, checks["UpdateKey"] = a.UpdateKey(ctx, "0000000000000000", manage.KeyChange{Name: new("b")})
	_, checks["Members"] = a.Members(ctx)
	_, _, checks["PutMember"] = a.PutMember(ctx, "owner@example.com", manage.MemberInput{Permissions: []string{"containers-view"}})
	_, checks["AddMember"] = a.AddMember(ctx, "owner@example.com", manage.MemberInput{Permissions: []string{"containers-view"}})
	checks["RemoveMember"] = a.RemoveMember(ctx, "owner@example.com")
	_, _, checks["Audit"] = a.Audit(ctx, keyward.Page{Limit: 10})
	for op, err := range checks {
		if keyward.ErrorCode(err) != keyward.EFORBIDDEN {
			t.Errorf("%s without its permission: %v", op, err)
		}
	}
	if _, err := f.svc.Open(ctx, f.caller("stranger@example.com", "other", "containers-view"), "shop"); keyward.ErrorCode(err) != keyward.ENOTFOUND {
		t.Errorf("a stranger opening the project: %v", err)
	}
}

func TestMemberModes(t *testing.T) {
	f := newFixture(t)
	owner := f.open(f.caller("owner@example.com", "shop", "members-view", "members-manage", "dns-view", "images-view"), "shop")
	f.caller("ada@example.com", "elsewhere", "dns-view")
	ctx := t.Context()

	if _, err := owner.ChangeMember(ctx, "ada@example.com", manage.MemberInput{Permissions: []string{"dns-view"}}); keyward.ErrorCode(err) != keyward.ENOTFOUND {
		t.Fatalf("ChangeMember of a non-member: %v", err)
	}
	// Only an instance administrator adds a member directly; anyone else learns nothing about
	// whether the address has an account.
	known, knownErr := owner.AddMember(ctx, "ada@example.com", manage.MemberInput{Permissions: []string{"dns-view"}})
	_, unknownErr := owner.AddMember(ctx, "bob@example.com", manage.MemberInput{Permissions: []string{"dns-view"}})
	if known != nil || keyward.ErrorCode(knownErr) != keyward.ENOTFOUND ||
		strings.ReplaceAll(keyward.ErrorMessage(knownErr), "ada@", "bob@") != keyward.ErrorMessage(unknownErr) {
		t.Fatalf("AddMember by a non-admin: %v for an account, %v for none", knownErr, unknownErr)
	}
	owner.Caller().Principal.User.Admin = true
	m, err := owner.AddMember(ctx, "ADA@example.com", manage.MemberInput{Permissions: []string{"images-view", "dns-view"}})
	if err != nil || !slices.Equal(m.Permissions, []string{"images-view", "dns-view"}) { // catalog order
		t.Fatalf("AddMember = %+v, %v", m, err)
	}
	_, err = owner.AddMember(ctx, "ada@example.com", manage.MemberInput{Permissions: []string{"dns-view"}})
	var fe *manage.FieldError
	if !errors.As(err, &fe) || fe.Field != "email" || fe.Code != keyward.ECONFLICT {
		t.Fatalf("AddMember of a member: %v", err)
	}
	if _, err := owner.AddMember(ctx, "nobody@example.com", manage.MemberInput{Permissions: []string{"dns-view"}}); !errors.As(err, &fe) || fe.Field != "email" || fe.Code != keyward.ENOTFOUND {
		t.Fatalf("AddMember of an unknown user: %v", err)
	}
	if m, err = owner.ChangeMember(ctx, m.UserID, manage.MemberInput{Permissions: []string{"dns-view"}}); err != nil || !slices.Equal(m.Permissions, []string{"dns-view"}) {
		t.Fatalf("ChangeMember = %+v, %v", m, err)
	}
	if _, created, err := owner.PutMember(ctx, m.UserID, manage.MemberInput{Permissions: []string{"images-view"}}); err != nil || created {
		t.Fatalf("PutMember of a member: created %v, %v", created, err)
	}

	// A manager who holds less than a member can neither change nor remove them.
	weak := f.open(f.caller("weak@example.com", "shop", "members-view", "members-manage", "dns-view"), "shop")
	members, err := weak.Members(ctx)
	if err != nil {
		t.Fatal(err)
	}
	can := map[string]bool{}
	for _, m := range members {
		can[m.Email] = weak.CanChange(m)
	}
	if can["owner@example.com"] || can["ada@example.com"] || !can["weak@example.com"] {
		t.Errorf("CanChange: %v", can)
	}
	if err := weak.RemoveMember(ctx, "ada@example.com"); keyward.ErrorCode(err) != keyward.EFORBIDDEN {
		t.Errorf("RemoveMember by a weaker manager: %v", err)
	}
	if err := owner.RemoveMember(ctx, "ada@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := owner.RemoveMember(ctx, "ada@example.com"); keyward.ErrorCode(err) != keyward.ENOTFOUND {
		t.Errorf("RemoveMember twice: %v", err)
	}
	if got := len(weak.Grantable()); got != 3 {
		t.Errorf("Grantable offers %d permissions, want the 3 held", got)
	}
}

func TestAuditPagesAndEvents(t *testing.T) {
	f := newFixture(t)
	c := f.caller("owner@example.com", "shop", "api-keys-manage", "api-keys-view", "audit-view", "dns-view")
	c.IP = mustAddr("::ffff:192.0.2.7")
	a := f.open(c, "shop")
	ctx := t.Context()
	k, _, err := a.CreateKey(ctx, manage.KeyInput{Name: "ci", Permissions: []string{"dns-view"}})
	if err != nil {
		t.Fatal(err)
	}
	if deleted, err := a.DeleteKey(ctx, k.ID); err != nil || deleted.Name != "ci" {
		t.Fatalf("DeleteKey = %+v, %v", deleted, err)
	}
	events, next, err := a.Audit(ctx, keyward.Page{Limit: 1})
	if err != nil || len(events) != 1 || next == "" {
		t.Fatalf("first page: %v, next %q, %v", events, next, err)
	}
	if e := events[0]; e.Action != keyward.AuditKeyDeleted || e.Actor != c.Principal.Subject || e.IP != "192.0.2.7" || e.Detail != `name="ci"` {
		t.Errorf("deletion event %+v", e)
	}
	events, next, err = a.Audit(ctx, keyward.Page{Limit: manage.AuditMaxLimit, Cursor: next})
	if err != nil || len(events) != 1 || next != "" || events[0].Action != keyward.AuditKeyCreated {
		t.Fatalf("second page: %v, next %q, %v", events, next, err)
	}
	for _, limit := range []int{0, manage.AuditMaxLimit + 1} {
		if _, _, err := a.Audit(ctx, keyward.Page{Limit: limit}); keyward.ErrorCode(err) != keyward.EINVALID {
			t.Errorf("Audit limit %d: %v", limit, err)
		}
	}
}

func TestCreateProjectAndUser(t *testing.T) {
	f := newFixture(t)
	c := f.caller("owner@example.com", "shop", "dns-view")
	ctx := t.Context()
	a, err := f.svc.CreateProject(ctx, c, "web-shop")
	if err != nil || len(a.Perms) != len(keyward.DefaultCatalog().Names()) {
		t.Fatalf("CreateProject = %+v, %v", a, err)
	}
	var fe *manage.FieldError
	if _, err := f.svc.CreateProject(ctx, c, "web-shop"); !errors.As(err, &fe) || fe.Field != "name" || fe.Code != keyward.ECONFLICT {
		t.Errorf("duplicate project: %v", err)
	}
	if _, err := f.svc.CreateProject(ctx, c, "Web Shop"); !errors.As(err, &fe) || fe.Code != keyward.EINVALID {
		t.Errorf("bad project name: %v", err)
	}
	projects, err := f.svc.Projects(ctx, c)
	if err != nil || len(projects) != 2 || projects[0].Project.Name != "shop" || projects[1].Project.Name != "web-shop" {
		t.Errorf("Projects = %v, %v", projects, err)
	}
	if _, err := f.svc.CreateUser(ctx, c, manage.UserInput{Email: "x@example.com", Password: "a long passphrase"}); keyward.ErrorCode(err) != keyward.EFORBIDDEN {
		t.Errorf("CreateUser by a non-admin: %v", err)
	}
	c.Principal.User.Admin = true
	u, err := f.svc.CreateUser(ctx, c, manage.UserInput{Email: "New@Example.com", Password: "a long passphrase"})
	if err != nil || u.Email != "new@example.com" || strings.Contains(u.PasswordHash, "passphrase") {
		t.Errorf("CreateUser = %+v, %v", u, err)
	}
	if _, err := f.svc.CreateUser(ctx, c, manage.UserInput{Email: "short@example.com", Password: "short"}); !errors.As(err, &fe) || fe.Field != "password" {
		t.Errorf("short password: %v", err)
	}
}

func TestCheckKeyName(t *testing.T) {
	for name, ok := range map[string]bool{
		"deploy-bot": true, "Zürich 🚀": true, strings.Repeat("é", 100): true, `<img src=x onerror=alert(1)>`: true,
		"": false, strings.Repeat("é", 101): false, " lead": false, "trail ": false, "a\nb": false, "a\u202eb": false, "a\u2028b": false, "a\xffb": false,
	} {
		if err := manage.CheckKeyName(name); (err == nil) != ok {
			t.Errorf("CheckKeyName(%q) = %v", name, err)
		}
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

// TestNotFoundNeverRepeatsArbitraryText: a reference that cannot name anything (not a project
// name or id, not a key id, not a user id or email address) comes from a URL anyone can send a
// person to; its not-found message must not carry that text onto the page or into the problem.
// A well-formed reference is still named, so that a typo is easy to spot.
func TestNotFoundNeverRepeatsArbitraryText(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	c := f.caller("owner@example.com", "web", "api-keys-view", "api-keys-manage", "members-view", "members-manage")
	const planted = "Your session expired. Call +1 555 0100"
	for _, ref := range []string{planted, keyward.PrefixProject + planted} {
		_, err := f.svc.Open(ctx, c, ref)
		if keyward.ErrorCode(err) != keyward.ENOTFOUND || strings.Contains(keyward.ErrorMessage(err), "Call") {
			t.Errorf("Open(%q) = %v; want a not-found that does not repeat the reference", ref, err)
		}
	}
	if _, err := f.svc.Open(ctx, c, "nowhere"); !strings.Contains(keyward.ErrorMessage(err), `"nowhere"`) {
		t.Errorf("Open(nowhere) = %v; a well-formed name is worth naming", err)
	}
	a := f.open(c, "web")
	give := manage.MemberInput{Permissions: []string{"members-view"}}
	checks := map[string]error{}
	_, checks["Key"] = a.Key(ctx, planted)
	_, checks["DeleteKey"] = a.DeleteKey(ctx, planted)
	_, checks["ChangeMember"] = a.ChangeMember(ctx, planted, give)
	_, checks["ChangeMember@"] = a.ChangeMember(ctx, planted+" @example.com", give)
	_, checks["ChangeMember usr_"] = a.ChangeMember(ctx, keyward.PrefixUser+planted, give)
	checks["RemoveMember"] = a.RemoveMember(ctx, planted)
	checks["RemoveMember@"] = a.RemoveMember(ctx, planted+" @example.com")
	for name, err := range checks {
		if keyward.ErrorCode(err) != keyward.ENOTFOUND || strings.Contains(keyward.ErrorMessage(err), "Call") {
			t.Errorf("%s = %v; want a not-found that does not repeat the reference", name, err)
		}
	}
	if _, err := a.Key(ctx, "0000000000000000"); !strings.Contains(keyward.ErrorMessage(err), `"0000000000000000"`) {
		t.Errorf("Key(a well-formed id) = %v; want the id named", err)
	}
	if _, err := a.ChangeMember(ctx, "nobody@example.com", give); !strings.Contains(keyward.ErrorMessage(err), `"nobody@example.com" is not a member`) {
		t.Errorf("ChangeMember(an unknown address) = %v; want the address named", err)
	}
}

package api

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/internal/manage"
)

// TestUsersAdminOnly: to anyone but an instance administrator, the user administration paths do
// not exist, whatever the body; the administrator pages and searches the users.
func TestUsersAdminOnly(t *testing.T) {
	e := newEnv(t)
	admin := e.user("admin@example.com", true)
	bob := e.user("bob@example.com", false)
	p := e.project("web", bob, nil)
	k, _ := e.apiKey(p, "ci", "members-view")
	e.member(p, admin, "members-view")
	for _, tok := range []string{e.userToken(bob, ""), e.userToken(admin, p.ID), e.keyToken(k)} {
		for _, rq := range []req{
			{method: "GET", path: "/v1/users"},
			{method: "PATCH", path: "/v1/users/" + admin.ID, body: map[string]any{"admin": false}},
			{method: "PATCH", path: "/v1/users/" + admin.ID, body: "not json"},
			{method: "DELETE", path: "/v1/users/" + admin.ID},
			{method: "POST", path: "/v1/users/" + admin.ID + "/password-reset", body: map[string]any{}},
		} {
			rq.token = tok
			pr := e.do(rq).expect(t, http.StatusNotFound).problem(t)
			if pr.Detail != "There is no such API path." {
				t.Errorf("%s %s: %q", rq.method, rq.path, pr.Detail)
			}
		}
	}
	tok := e.userToken(admin, "")
	for i := range 5 {
		e.user("user"+string(rune('a'+i))+"@example.com", false)
	}
	var page client.Page[client.User]
	e.do(req{method: "GET", path: "/v1/users?limit=2&q=USER", token: tok}).expect(t, http.StatusOK).decode(t, &page)
	if len(page.Data) != 2 || page.Data[0].Email != "usera@example.com" || page.Next == nil {
		t.Fatalf("first page %+v", page)
	}
	e.do(req{method: "GET", path: "/v1/users?limit=2&q=USER&cursor=" + *page.Next, token: tok}).expect(t, http.StatusOK).decode(t, &page)
	if len(page.Data) != 2 || page.Data[0].Email != "userc@example.com" {
		t.Fatalf("second page %+v", page)
	}
	e.do(req{method: "GET", path: "/v1/users?limit=2&q=bob&cursor=" + *page.Next, token: tok}).expect(t, http.StatusBadRequest)
	e.do(req{method: "GET", path: "/v1/users?q=" + bob.ID, token: tok}).expect(t, http.StatusOK).decode(t, &page)
	if len(page.Data) != 1 || page.Data[0].ID != bob.ID || strings.Contains(string(e.do(req{method: "GET", path: "/v1/users", token: tok}).body), "$test$") {
		t.Fatalf("search by id %+v, or a hash listed", page)
	}
	e.do(req{method: "PATCH", path: "/v1/users/" + bob.ID, token: tok, body: map[string]any{}}).expect(t, http.StatusBadRequest)
	e.do(req{method: "PATCH", path: "/v1/users/" + bob.ID, token: tok, body: map[string]any{"admin": nil}}).expect(t, http.StatusBadRequest)
	e.do(req{method: "PATCH", path: "/v1/users/" + e.newID(keyward.PrefixUser), token: tok, body: map[string]any{"admin": true}}).expect(t, http.StatusNotFound)
}

// TestLastAdmin: the only administrator can neither demote, disable nor delete themselves; with
// a second one, demoting works and is audited.
func TestLastAdmin(t *testing.T) {
	e := newEnv(t)
	admin := e.user("admin@example.com", true)
	bob := e.user("bob@example.com", false)
	tok := e.userToken(admin, "")
	self := "/v1/users/" + admin.ID
	if pr := e.do(req{method: "PATCH", path: self, token: tok, body: map[string]any{"admin": false}}).expect(t, http.StatusConflict).problem(t); !strings.Contains(pr.Detail, "last enabled instance administrator") {
		t.Errorf("demoting the last admin: %q", pr.Detail)
	}
	e.do(req{method: "PATCH", path: self, token: tok, body: map[string]any{"disabled": true}}).expect(t, http.StatusForbidden)
	e.do(req{method: "DELETE", path: self, token: tok}).expect(t, http.StatusForbidden)

	var got client.User
	e.do(req{method: "PATCH", path: "/v1/users/" + bob.ID, token: tok, body: map[string]any{"admin": true}}).expect(t, http.StatusOK).decode(t, &got)
	if !got.Admin {
		t.Fatalf("bob %+v", got)
	}
	e.do(req{method: "PATCH", path: self, token: tok, body: map[string]any{"admin": false}}).expect(t, http.StatusOK)
	// No longer an administrator: the paths are gone for admin.
	e.do(req{method: "GET", path: "/v1/users", token: tok}).expect(t, http.StatusNotFound)
	events, _, err := e.store.AuditPage(e.ctx, "", keyward.Page{Limit: 10, Search: "user"})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, ev := range events {
		actions = append(actions, ev.Action+" "+ev.Target+" by "+ev.Actor)
	}
	want := []string{"user.admin_revoked user:" + admin.ID + " by user:" + admin.ID, "user.admin_granted user:" + bob.ID + " by user:" + admin.ID}
	if strings.Join(actions, "\n") != strings.Join(want, "\n") {
		t.Errorf("instance audit:\n%s\nwant\n%s", strings.Join(actions, "\n"), strings.Join(want, "\n"))
	}
}

// TestDisableUser: disabling a user ends their tokens and their keys' tokens at once; enabling
// them again brings back neither.
func TestDisableUser(t *testing.T) {
	e := newEnv(t)
	admin := e.user("admin@example.com", true)
	bob := e.user("bob@example.com", false)
	p := e.project("web", bob, nil)
	k, _ := e.apiKey(p, "ci", "members-view")
	k, err := e.store.UpdateAPIKey(e.ctx, p.ID, k.ID, keyward.APIKeyChange{Owner: &bob.ID}, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	bobTok := e.userToken(bob, "")
	keyTok, _ := e.session(&keyward.Session{Kind: keyward.SessionKey, KeyID: k.ID, ProjectID: p.ID, KeyRevision: k.Revision}, k.Permissions)
	e.do(req{method: "GET", path: "/v1/me", token: bobTok}).expect(t, http.StatusOK)
	e.do(req{method: "GET", path: "/v1/me", token: keyTok}).expect(t, http.StatusOK)

	tok := e.userToken(admin, "")
	e.do(req{method: "PATCH", path: "/v1/users/" + bob.ID, token: tok, body: map[string]any{"disabled": true}}).expect(t, http.StatusOK)
	e.do(req{method: "GET", path: "/v1/me", token: bobTok}).expect(t, http.StatusUnauthorized)
	e.do(req{method: "GET", path: "/v1/me", token: keyTok}).expect(t, http.StatusUnauthorized)
	e.do(req{method: "PATCH", path: "/v1/users/" + bob.ID, token: tok, body: map[string]any{"disabled": false}}).expect(t, http.StatusOK)
	e.do(req{method: "GET", path: "/v1/me", token: bobTok}).expect(t, http.StatusUnauthorized)
	got, err := e.store.APIKey(e.ctx, k.ID)
	if err != nil || got.DisabledAt == nil {
		t.Fatalf("bob's key after enabling him: %+v, %v", got, err)
	}
}

// TestChangePassword: a wrong current password is refused and counted as a failed sign-in; a
// common one is refused; a change ends every other session of the user but the calling one.
func TestChangePassword(t *testing.T) {
	e := newEnv(t)
	bob := e.user("bob@example.com", false)
	hash, _ := fakePasswords{}.Hash(e.ctx, "old password 1", nil)
	if err := e.store.SetPassword(e.ctx, bob.ID, hash, "", nil, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	current, other := e.userToken(bob, ""), e.userToken(bob, "")
	change := func(tok, cur, next string) *response {
		return e.do(req{method: "PUT", path: "/v1/me/password", token: tok, body: map[string]any{"current_password": cur, "new_password": next}})
	}
	if pr := change(current, "wrong", "brand new password").expect(t, http.StatusForbidden).problem(t); pr.Detail != "The current password is wrong." {
		t.Errorf("wrong current password: %q", pr.Detail)
	}
	if pr := change(current, "old password 1", "Password1").expect(t, http.StatusBadRequest).problem(t); !strings.Contains(pr.Detail, "most common") {
		t.Errorf("common password: %q", pr.Detail)
	}
	change(current, "old password 1", "short").expect(t, http.StatusBadRequest)
	p := e.project("web", bob, nil)
	change(e.userToken(bob, p.ID), "old password 1", "brand new password").expect(t, http.StatusForbidden)
	events, _, err := e.store.AuditPage(e.ctx, "", keyward.Page{Limit: 10, Search: keyward.AuditLoginFailed})
	if err != nil || len(events) != 1 || events[0].Detail != "password change: wrong password" {
		t.Fatalf("failed sign-ins %+v, %v", events, err)
	}

	change(current, "old password 1", "brand new password").expect(t, http.StatusNoContent)
	e.do(req{method: "GET", path: "/v1/me", token: current}).expect(t, http.StatusOK)
	e.do(req{method: "GET", path: "/v1/me", token: other}).expect(t, http.StatusUnauthorized)
	u, err := e.store.UserByID(e.ctx, bob.ID)
	if err != nil || u.PasswordHash == hash {
		t.Fatalf("password not changed: %v", err)
	}

	// Wrong guesses are throttled as sign-ins are.
	var last *response
	for range 12 {
		last = change(current, "wrong", "brand new password 2")
	}
	last.expect(t, http.StatusTooManyRequests)
}

// TestPasswordResetLink: an administrator's link sets the password once, within an hour, and
// ends every session of the user; a later link replaces an earlier one.
func TestPasswordResetLink(t *testing.T) {
	e := newEnv(t)
	admin := e.user("admin@example.com", true)
	bob := e.user("bob@example.com", false)
	bobTok := e.userToken(bob, "")
	tok := e.userToken(admin, "")
	issue := func() string {
		var link client.PasswordResetLink
		e.do(req{method: "POST", path: "/v1/users/" + bob.ID + "/password-reset", token: tok, body: map[string]any{}}).expect(t, http.StatusCreated).decode(t, &link)
		secret, ok := strings.CutPrefix(link.URL, issuer+"/reset-password?token=")
		if !ok || !manage.ValidResetSecret(secret) || !link.ExpiresAt.Equal(e.clock.Now().Add(time.Hour)) {
			t.Fatalf("link %+v", link)
		}
		return secret
	}
	e.do(req{method: "POST", path: "/v1/users/" + bob.ID + "/password-reset", token: tok, body: map[string]any{"x": 1}}).expect(t, http.StatusBadRequest)
	reset := func(secret, pw string) error {
		_, err := e.srv.mgr.ResetPassword(e.ctx, manage.Caller{}, secret, pw)
		return err
	}
	first := issue()
	second := issue()
	if err := reset(first, "brand new password"); keyward.ErrorCode(err) != keyward.ENOTFOUND {
		t.Fatalf("replaced link: %v", err)
	}
	if err := reset(second, "password1"); keyward.ErrorCode(err) != keyward.EINVALID {
		t.Fatalf("common password: %v", err)
	}
	e.clock.Advance(59 * time.Minute)
	if err := reset(second, "brand new password"); err != nil {
		t.Fatal(err)
	}
	e.do(req{method: "GET", path: "/v1/me", token: bobTok}).expect(t, http.StatusUnauthorized)
	if err := reset(second, "brand new password"); keyward.ErrorCode(err) != keyward.ENOTFOUND {
		t.Fatalf("a spent link: %v", err)
	}
	late := issue()
	e.clock.Advance(time.Hour)
	if err := reset(late, "brand new password"); keyward.ErrorCode(err) != keyward.EEXPIRED {
		t.Fatalf("an expired link: %v", err)
	}
	events, _, err := e.store.AuditPage(e.ctx, "", keyward.Page{Limit: 10, Search: "user:" + bob.ID})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, ev := range events {
		actions = append(actions, ev.Action)
	}
	if got := strings.Join(actions, " "); got != "user.password_reset_issued user.password_reset user.password_reset_issued user.password_reset_issued" {
		t.Errorf("audit %s", got)
	}
}

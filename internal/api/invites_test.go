package api

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/internal/manage"
)

// TestInvites: a members-manage holder invites by address and role; the answer is the same for
// an address with an account, one without, and a member; the link is shown once and never
// listed; revoking it, or the inviter losing the right to give its role, ends it.
func TestInvites(t *testing.T) {
	e := newEnv(t)
	owner := e.user("owner@example.com", false)
	ada := e.user("ada@example.com", false)
	tok := e.userToken(owner, "")
	var project client.Project
	e.do(req{method: "POST", path: "/v1/projects", token: tok, body: map[string]any{"name": "shop"}}).expect(t, http.StatusCreated).decode(t, &project)
	base := "/v1/projects/shop"

	// Same status and shape for an account, no account, and a member (the owner).
	shapes := map[string]string{}
	tokens := map[string]string{}
	for _, email := range []string{"ada@example.com", "nobody@example.com", "owner@example.com"} {
		resp := e.do(req{method: "POST", path: base + "/invites", token: tok, body: map[string]any{"email": email, "role": "viewer"}}).expect(t, http.StatusCreated)
		var inv client.CreatedInvite
		resp.decode(t, &inv)
		if inv.Email != email || inv.Role != "viewer" || inv.Mailed || inv.MailError != "" ||
			!inv.ExpiresAt.Equal(e.clock.Now().Add(7*24*time.Hour)) || !strings.HasPrefix(inv.URL, "/invite/") {
			t.Errorf("invite of %s = %+v", email, inv)
		}
		tok := strings.TrimPrefix(inv.URL, "/invite/")
		if !manage.ValidInviteToken(tok) {
			t.Errorf("link token %q is not 256 bits of base64url", tok)
		}
		tokens[email] = tok
		shape := strings.NewReplacer(email, "EMAIL", inv.ID, "ID", inv.URL, "URL").Replace(string(resp.body))
		shapes[shape] = email
	}
	if len(shapes) != 1 {
		t.Errorf("invitations of an account, no account and a member answer differently: %v", shapes)
	}
	// Adding directly answers alike for an account and no account, for anyone but an admin.
	a := e.do(req{method: "PUT", path: base + "/members/ada@example.com", token: tok, body: map[string]any{"role": "viewer"}}).expect(t, http.StatusNotFound).problem(t)
	n := e.do(req{method: "PUT", path: base + "/members/nobody@example.com", token: tok, body: map[string]any{"role": "viewer"}}).expect(t, http.StatusNotFound).problem(t)
	if strings.ReplaceAll(a.Detail, "ada@", "nobody@") != n.Detail || !strings.Contains(a.Detail, "Invite") {
		t.Errorf("PUT member of an account: %q; of no account: %q", a.Detail, n.Detail)
	}

	// The list has no link; nothing of a token anywhere.
	listed := e.do(req{method: "GET", path: base + "/invites", token: tok}).expect(t, http.StatusOK)
	var page client.Page[client.Invite]
	listed.decode(t, &page)
	if len(page.Data) != 3 || page.Next != nil {
		t.Fatalf("listed %+v", page)
	}
	for _, secret := range tokens {
		if strings.Contains(string(listed.body), secret) {
			t.Fatal("the list shows a link")
		}
	}

	// Bad input is a 4xx naming the problem.
	for _, tt := range []struct {
		body   map[string]any
		status int
		detail string
	}{
		{map[string]any{"email": "Ada <ada@example.com>", "role": "viewer"}, 400, "email"},
		{map[string]any{"email": "ada@example.com\r\nBcc: x@example.com", "role": "viewer"}, 400, "email"},
		{map[string]any{"email": "ada@example.com"}, 400, "role"},
		{map[string]any{"email": "ada@example.com", "role": "nope"}, 400, "nope"},
		{map[string]any{"email": "ada@example.com", "role": "viewer", "admin": true}, 400, "admin"},
	} {
		p := e.do(req{method: "POST", path: base + "/invites", token: tok, body: tt.body}).expect(t, tt.status).problem(t)
		if !strings.Contains(p.Detail, tt.detail) {
			t.Errorf("%v: detail %q does not mention %q", tt.body, p.Detail, tt.detail)
		}
	}

	// A manager who is not an owner gives neither the owner role nor one holding more than they do.
	mgr := e.user("mgr@example.com", false)
	mgrPerms := []string{"members-manage"}
	for _, name := range e.srv.Catalog.Names() {
		if strings.HasSuffix(name, "-view") {
			mgrPerms = append(mgrPerms, name) // the viewer role's
		}
	}
	e.member(&keyward.Project{ID: project.ID}, mgr, mgrPerms...)
	mtok := e.userToken(mgr, "")
	for _, role := range []string{"owner", "developer"} {
		e.do(req{method: "POST", path: base + "/invites", token: mtok, body: map[string]any{"email": "cy@example.com", "role": role}}).expect(t, http.StatusForbidden)
	}
	e.do(req{method: "POST", path: base + "/invites", token: e.userToken(ada, ""), body: map[string]any{"email": "cy@example.com", "role": "viewer"}}).expect(t, http.StatusNotFound)

	// Accepting: the account of the invited address, then the link is spent.
	mgrService := e.srv.mgr
	if _, err := mgrService.Invitation(e.ctx, tokens["nobody@example.com"]); err != nil {
		t.Fatalf("a fresh link: %v", err)
	}
	u, m, err := mgrService.AcceptInvite(e.ctx, manage.Caller{}, tokens["nobody@example.com"], "correct horse battery")
	if err != nil || u.Email != "nobody@example.com" || m.Role == nil || m.Role.Name != "viewer" {
		t.Fatalf("accept = %+v, %+v, %v", u, m, err)
	}
	if _, _, err := mgrService.AcceptInvite(e.ctx, manage.Caller{}, tokens["nobody@example.com"], "correct horse battery"); err != manage.InviteGone {
		t.Errorf("a spent link: %v", err)
	}

	// Revoked: gone, once.
	var adas client.Invite
	for _, inv := range page.Data {
		if inv.Email == "ada@example.com" {
			adas = inv
		}
	}
	e.do(req{method: "DELETE", path: base + "/invites/" + adas.ID, token: tok}).expect(t, http.StatusNoContent)
	e.do(req{method: "DELETE", path: base + "/invites/" + adas.ID, token: tok}).expect(t, http.StatusNotFound)
	e.do(req{method: "DELETE", path: base + "/invites/x%0Ay", token: tok}).expect(t, http.StatusNotFound)
	if _, err := mgrService.Invitation(e.ctx, tokens[adas.Email]); err != manage.InviteGone {
		t.Errorf("a revoked link: %v", err)
	}

	// An invitation does not outlive its inviter's right to give its role.
	var byMgr client.CreatedInvite
	e.do(req{method: "POST", path: base + "/invites", token: mtok, body: map[string]any{"email": "cy@example.com", "role": "viewer"}}).
		expect(t, http.StatusCreated).decode(t, &byMgr)
	cyToken := strings.TrimPrefix(byMgr.URL, "/invite/")
	if _, err := mgrService.Invitation(e.ctx, cyToken); err != nil {
		t.Fatalf("the manager's link: %v", err)
	}
	e.do(req{method: "DELETE", path: base + "/members/" + mgr.ID, token: tok}).expect(t, http.StatusNoContent)
	if _, _, err := mgrService.AcceptInvite(e.ctx, manage.Caller{}, cyToken, "correct horse battery"); err != manage.InviteGone {
		t.Errorf("the link of a removed inviter: %v", err)
	}

	// The audit log has the invitations and never a token.
	audit := string(e.do(req{method: "GET", path: base + "/audit", token: tok}).expect(t, http.StatusOK).body)
	for _, action := range []string{keyward.AuditInviteCreated, keyward.AuditInviteAccepted, keyward.AuditInviteRevoked} {
		if !strings.Contains(audit, `"`+action+`"`) {
			t.Errorf("audit log lacks %s", action)
		}
	}
	for _, secret := range append([]string{cyToken}, tokens["ada@example.com"]) {
		if strings.Contains(audit, secret) || strings.Contains(e.logs.String(), secret) {
			t.Error("a link token is in the audit log or the server log")
		}
	}
}

// TestInviteCap: a project holds at most manage.MaxPendingInvites pending invitations; inviting
// an address again still works at the cap.
func TestInviteCap(t *testing.T) {
	e := newEnv(t)
	owner := e.user("owner@example.com", false)
	tok := e.userToken(owner, "")
	e.do(req{method: "POST", path: "/v1/projects", token: tok, body: map[string]any{"name": "shop"}}).expect(t, http.StatusCreated)
	start := time.Now()
	for i := range manage.MaxPendingInvites {
		e.do(req{method: "POST", path: "/v1/projects/shop/invites", token: tok, body: map[string]any{"email": "p" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + string(rune('a'+i/26)) + "@example.com", "role": "viewer"}}).
			expect(t, http.StatusCreated)
	}
	t.Logf("%d invitations in %v", manage.MaxPendingInvites, time.Since(start))
	e.do(req{method: "POST", path: "/v1/projects/shop/invites", token: tok, body: map[string]any{"email": "late@example.com", "role": "viewer"}}).expect(t, http.StatusConflict)
	e.do(req{method: "POST", path: "/v1/projects/shop/invites", token: tok, body: map[string]any{"email": "paa@example.com", "role": "viewer"}}).expect(t, http.StatusCreated)
}

// mailer records what it sends, or fails.
type mailer struct {
	fail error
	sent []string // "to|subject|body"
}

func (m *mailer) Send(_ context.Context, to, subject, body string) error {
	if m.fail != nil {
		return m.fail
	}
	m.sent = append(m.sent, to+"|"+subject+"|"+body)
	return nil
}

// TestInviteMail: with a mailer the link goes by mail and never to the inviter; when the mail
// fails, the invitation is kept and the inviter gets the link instead, with why.
func TestInviteMail(t *testing.T) {
	e := newEnv(t)
	owner := e.user("owner@example.com", false)
	tok := e.userToken(owner, "")
	e.do(req{method: "POST", path: "/v1/projects", token: tok, body: map[string]any{"name": "shop"}}).expect(t, http.StatusCreated)
	m := &mailer{}
	e.srv.mgr.Mailer, e.srv.mgr.BaseURL = m, "https://auth.example.com/"

	var sent client.CreatedInvite
	resp := e.do(req{method: "POST", path: "/v1/projects/shop/invites", token: tok, body: map[string]any{"email": "ada@example.com", "role": "viewer"}}).expect(t, http.StatusCreated)
	resp.decode(t, &sent)
	if !sent.Mailed || sent.URL != "" || sent.MailError != "" || strings.Contains(string(resp.body), "/invite/") {
		t.Errorf("a mailed invitation answered %s", resp.body)
	}
	if len(m.sent) != 1 || !strings.HasPrefix(m.sent[0], "ada@example.com|Invitation to the project shop on keyward|owner@example.com invites you to the project shop") ||
		!strings.Contains(m.sent[0], "https://auth.example.com/invite/") {
		t.Fatalf("mailed %q", m.sent)
	}

	m.fail = errors.New("connection refused")
	var failed client.CreatedInvite
	e.do(req{method: "POST", path: "/v1/projects/shop/invites", token: tok, body: map[string]any{"email": "bea@example.com", "role": "viewer"}}).
		expect(t, http.StatusCreated).decode(t, &failed)
	if failed.Mailed || !strings.HasPrefix(failed.URL, "https://auth.example.com/invite/") || !strings.Contains(failed.MailError, "could not be sent") {
		t.Errorf("a failed mail answered %+v", failed)
	}
	if _, err := e.srv.mgr.Invitation(e.ctx, strings.TrimPrefix(failed.URL, "https://auth.example.com/invite/")); err != nil {
		t.Errorf("the invitation of a failed mail is lost: %v", err)
	}
	if !strings.Contains(e.logs.String(), "invitation mail not sent") || strings.Contains(e.logs.String(), strings.TrimPrefix(failed.URL, "https://auth.example.com/invite/")) {
		t.Errorf("the failure is not logged, or the log holds the link:\n%s", e.logs)
	}
}

package server_test

import (
	"net/http"
	"net/url"
	"testing"

	"golang.org/x/oauth2"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/internal/kwtest"
)

// TestInstanceAudit: the admin reads the instance's sign-ins and failed sign-ins through
// GET /v1/audit (with the Go client), narrowed by a search; project events stay out of it, and
// to anyone else the path does not exist.
func TestInstanceAudit(t *testing.T) {
	s := kwtest.Start(t)
	admin := s.AdminToken(t)
	s.CreateUser(t, admin, "ada@keyward.test", "ada password 12345")
	ada := s.Login(t, "ada@keyward.test", "ada password 12345", "", kwtest.From("203.0.113.9")).AccessToken
	r := s.TokenRequest(t, url.Values{"grant_type": {"password"}, "username": {"ada@keyward.test"}, "password": {"a wrong guess"}},
		kwtest.From("198.51.100.23"))
	kwtest.RequireOAuthError(t, r, http.StatusBadRequest, "invalid_grant")
	s.CreateKey(t, admin, "default", kwtest.KeyRequest{Name: "project-event", Permissions: []string{"images-view"}})
	if r := s.API(t, http.MethodPost, "/v1/projects/default/invites", admin, map[string]any{"email": "newcomer@keyward.test", "role": "viewer"}); r.Status != http.StatusCreated {
		t.Fatalf("invite: %s", r)
	}

	c := client.New(s.URL, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: admin}))
	page, err := c.InstanceAudit(t.Context(), client.AuditOptions{})
	if err != nil {
		t.Fatal(err)
	}
	actions := map[string]int{}
	for _, e := range page.Data {
		actions[e.Action]++
		if e.Project != "" {
			t.Errorf("a project's event in the instance log: %+v", e)
		}
	}
	if actions[keyward.AuditLogin] < 2 || actions[keyward.AuditLoginFailed] != 1 || actions["invite.created"] != 1 {
		t.Fatalf("instance log: %v, want the admin's and Ada's sign-ins, one failure and the invitation", actions)
	}

	failed, err := c.InstanceAudit(t.Context(), client.AuditOptions{Search: keyward.AuditLoginFailed})
	if err != nil {
		t.Fatal(err)
	}
	if len(failed.Data) != 1 || failed.Data[0].Target != "ada@keyward.test" || failed.Data[0].IP != "198.51.100.23" {
		t.Fatalf("search for failed sign-ins: %+v", failed.Data)
	}
	paged, err := c.InstanceAudit(t.Context(), client.AuditOptions{Limit: 1, Search: keyward.AuditLogin})
	if err != nil || len(paged.Data) != 1 || paged.Next == nil {
		t.Fatalf("first page of one: %+v, %v", paged, err)
	}

	for name, tok := range map[string]string{"a member": ada, "nobody": ""} {
		r := s.API(t, http.MethodGet, "/v1/audit", tok, nil)
		if tok == "" {
			kwtest.RequireProblem(t, r, http.StatusUnauthorized)
			continue
		}
		if p := kwtest.RequireProblem(t, r, http.StatusNotFound); p.Detail != "There is no such API path." {
			t.Errorf("%s: %+v", name, p)
		}
	}
	narrowed := s.Login(t, kwtest.AdminEmail, kwtest.AdminPassword, "default").AccessToken
	kwtest.RequireProblem(t, s.API(t, http.MethodGet, "/v1/audit", narrowed, nil), http.StatusNotFound)
	kwtest.RequireProblem(t, s.API(t, http.MethodGet, "/v1/audit?limit=0", admin, nil), http.StatusBadRequest)
	kwtest.RequireProblem(t, s.API(t, http.MethodGet, "/v1/audit?cursor=", admin, nil), http.StatusBadRequest)
}

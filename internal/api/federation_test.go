package api

import (
	"net/http"
	"strings"
	"testing"

	"github.com/keyward/keyward/client"
)

// tourFederation walks the federation routes once on their successful paths, with keyID a key of
// the project to target.
func tourFederation(t *testing.T, e *env, tok, base, keyID string) {
	t.Helper()
	var gh client.FederationIssuer
	e.do(req{method: "POST", path: base + "/federation/issuers", token: tok, body: map[string]any{
		"name": "github", "preset": "github-actions", "audiences": []string{"https://keyward.example"},
	}}).expect(t, http.StatusCreated).decode(t, &gh)
	if gh.Issuer != "https://token.actions.githubusercontent.com" || strings.Join(gh.Pinned, ",") != "repository_owner_id,repository_id" {
		t.Errorf("the GitHub preset made %+v", gh)
	}
	var issuers client.Page[client.FederationIssuer]
	e.do(req{method: "GET", path: base + "/federation/issuers", token: tok}).expect(t, http.StatusOK).decode(t, &issuers)
	if len(issuers.Data) != 1 || issuers.Data[0].ID != gh.ID {
		t.Errorf("issuers %+v", issuers.Data)
	}
	e.do(req{method: "PATCH", path: base + "/federation/issuers/github", token: tok, body: map[string]any{
		"audiences": []string{"https://keyward.example", "keyward"}, "jwks_uri": nil,
	}}).expect(t, http.StatusOK)

	var rule client.FederationRule
	e.do(req{method: "POST", path: base + "/federation/rules", token: tok, body: map[string]any{
		"name": "deploy", "issuer": "github", "target": "key:" + keyID,
		"conditions": map[string]string{"repository_owner_id": "1", "repository_id": "42", "ref": "refs/heads/*"},
	}}).expect(t, http.StatusCreated).decode(t, &rule)
	if rule.TTL != "15m" || rule.Target != "key:"+keyID || rule.Issuer != gh.ID {
		t.Errorf("created rule %+v", rule)
	}
	e.do(req{method: "GET", path: base + "/federation/rules", token: tok}).expect(t, http.StatusOK)
	e.do(req{method: "PATCH", path: base + "/federation/rules/" + rule.ID, token: tok, body: map[string]any{"ttl": "1h", "target": "role:viewer"}}).
		expect(t, http.StatusOK).decode(t, &rule)
	if rule.TTL != "1h" || rule.Target != "role:viewer" {
		t.Errorf("edited rule %+v", rule)
	}
	e.do(req{method: "DELETE", path: base + "/federation/rules/deploy", token: tok}).expect(t, http.StatusNoContent)
	e.do(req{method: "DELETE", path: base + "/federation/issuers/" + gh.ID, token: tok}).expect(t, http.StatusNoContent)
}

// TestFederationSettingsRefused: what an operator writes wrong, or may not give, is refused with
// a clear 4xx naming the field.
func TestFederationSettingsRefused(t *testing.T) {
	e := newEnv(t)
	owner := e.user("owner@example.com", false)
	p := e.project("fleet", owner, nil)
	tok := e.userToken(owner, "")
	base := "/v1/projects/" + p.ID
	key, _ := e.apiKey(p, "deploy", "containers-view")
	e.do(req{method: "POST", path: base + "/federation/issuers", token: tok, body: map[string]any{
		"name": "gitlab", "preset": "gitlab-ci", "audiences": []string{"keyward"},
	}}).expect(t, http.StatusCreated)
	e.do(req{method: "POST", path: base + "/federation/issuers", token: tok, body: map[string]any{
		"name": "cluster", "issuer": "https://k8s.example/cluster", "preset": "kubernetes", "audiences": []string{"keyward"},
	}}).expect(t, http.StatusCreated)
	e.do(req{method: "POST", path: base + "/federation/issuers", token: tok, body: map[string]any{
		"name": "github", "issuer": "https://token.actions.githubusercontent.com", "audiences": []string{"keyward"},
	}}).expect(t, http.StatusCreated) // no preset named: the URL brings GitHub's rules anyway

	for _, c := range []struct {
		name, path string
		body       map[string]any
		status     int
		says       string
	}{
		{"plain http issuer", "/federation/issuers", map[string]any{"name": "x", "issuer": "http://127.0.0.1:9/", "audiences": []string{"a"}}, 400, "https"},
		{"issuer with a query", "/federation/issuers", map[string]any{"name": "x", "issuer": "https://a.example/?x=1", "audiences": []string{"a"}}, 400, "query"},
		{"no audience", "/federation/issuers", map[string]any{"name": "x", "issuer": "https://a.example", "audiences": []string{}}, 400, "audiences"},
		{"unknown preset", "/federation/issuers", map[string]any{"name": "x", "preset": "circleci", "audiences": []string{"a"}}, 400, "preset"},
		{"taken URL", "/federation/issuers", map[string]any{"name": "gl2", "preset": "gitlab-ci", "audiences": []string{"a"}}, 409, "already trusts"},
		{"shared issuer, no condition", "/federation/rules", map[string]any{"name": "r", "issuer": "gitlab", "target": "key:" + key.ID, "conditions": map[string]string{}}, 400, "namespace_id"},
		{"pinned claim as a glob", "/federation/rules", map[string]any{"name": "r", "issuer": "gitlab", "target": "key:" + key.ID,
			"conditions": map[string]string{"namespace_id": "*", "project_id": "7"}}, 400, "exact"},
		{"github without repository_id", "/federation/rules", map[string]any{"name": "r", "issuer": "github", "target": "key:" + key.ID,
			"conditions": map[string]string{"repository_owner_id": "1"}}, 400, "repository_id"},
		{"kubernetes without sub", "/federation/rules", map[string]any{"name": "r", "issuer": "cluster", "target": "key:" + key.ID,
			"conditions": map[string]string{"kubernetes.io/namespace": "prod"}}, 400, "sub"},
		{"ttl over an hour", "/federation/rules", map[string]any{"name": "r", "issuer": "cluster", "target": "key:" + key.ID, "ttl": "2h",
			"conditions": map[string]string{"sub": "system:serviceaccount:prod:deploy"}}, 400, "1h"},
		{"a claim name of control characters", "/federation/rules", map[string]any{"name": "r", "issuer": "cluster", "target": "key:" + key.ID,
			"conditions": map[string]string{"sub": "system:serviceaccount:prod:deploy", "x\u0007": "a"}}, 400, "claim name"},
		{"unknown target kind", "/federation/rules", map[string]any{"name": "r", "issuer": "cluster", "target": "user:" + owner.ID,
			"conditions": map[string]string{"sub": "a"}}, 400, "key:"},
		{"unknown issuer", "/federation/rules", map[string]any{"name": "r", "issuer": "nope", "target": "key:" + key.ID,
			"conditions": map[string]string{"sub": "a"}}, 400, "issuer"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := e.do(req{method: "POST", path: base + c.path, token: tok, body: c.body}).expect(t, c.status).problem(t)
			if !strings.Contains(got.Detail, c.says) {
				t.Errorf("detail %q does not say %q", got.Detail, c.says)
			}
		})
	}

	// A member who holds less than the key or the role cannot make a rule that mints it.
	dev := e.user("dev@example.com", false)
	e.member(p, dev, "api-keys-manage", "api-keys-view")
	devTok := e.userToken(dev, "")
	got := e.do(req{method: "POST", path: base + "/federation/rules", token: devTok, body: map[string]any{
		"name": "escalate", "issuer": "cluster", "target": "key:" + key.ID, "conditions": map[string]string{"sub": "a"},
	}}).expect(t, http.StatusForbidden).problem(t)
	if !strings.Contains(got.Detail, "containers-view") {
		t.Errorf("detail %q does not name the permission", got.Detail)
	}
	e.do(req{method: "POST", path: base + "/roles", token: tok, body: map[string]any{"name": "operator", "permissions": []string{"containers-manage"}}}).
		expect(t, http.StatusCreated)
	e.do(req{method: "POST", path: base + "/federation/rules", token: devTok, body: map[string]any{
		"name": "escalate", "issuer": "cluster", "target": "role:operator", "conditions": map[string]string{"sub": "a"},
	}}).expect(t, http.StatusForbidden)
	// Whoever sees no keys sees no federation settings, and another tenant sees no project.
	viewer := e.user("viewer@example.com", false)
	e.member(p, viewer, "members-view")
	e.do(req{method: "GET", path: base + "/federation/rules", token: e.userToken(viewer, "")}).expect(t, http.StatusForbidden)
	stranger := e.user("stranger@example.com", false)
	e.project("theirs", stranger, nil)
	e.do(req{method: "GET", path: base + "/federation/issuers", token: e.userToken(stranger, "")}).expect(t, http.StatusNotFound)
}

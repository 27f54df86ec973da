package dashboard_test

import (
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/federation/fedtest"
	"github.com/keyward/keyward/internal/kwtest"
	"github.com/keyward/keyward/internal/server"
)

// TestFederationTab: a key manager trusts an issuer, adds a rule, tests tokens in the box (which
// says which rule they meet, or which condition they miss, and spends nothing), and deletes both.
func TestFederationTab(t *testing.T) {
	e := start(t, func(c *server.Config) { c.FederationAllowInsecure = true })
	gh := fedtest.New(t, "k1")
	admin := e.login(adminEmail, adminPassword)
	key := e.CreateKey(t, e.AdminToken(t), "default", kwtest.KeyRequest{Name: "deployer", Permissions: []string{"containers-view"}})

	page := e.do(request{method: "GET", path: "/projects/default/federation", cookie: admin})
	if page.Status != http.StatusOK || !strings.Contains(page.Body, "No issuer is trusted yet") || !strings.Contains(page.Body, `aria-current="page">Federation`) {
		t.Fatalf("federation tab: %d %s", page.Status, page.Body)
	}
	resp := e.post(admin, "/projects/default/federation/issuers", url.Values{"name": {"ci"}, "issuer": {gh.URL}, "audiences": {fedtest.Audience}})
	if resp.Status != http.StatusSeeOther {
		t.Fatalf("trust issuer: %d %s", resp.Status, resp.Body)
	}
	// A shared issuer without its pinned claims is refused next to the field.
	resp = e.post(admin, "/projects/default/federation/issuers", url.Values{"name": {"github"}, "preset": {"github-actions"}, "audiences": {"x"}})
	if resp.Status != http.StatusSeeOther {
		t.Fatalf("trust GitHub: %d %s", resp.Status, resp.Body)
	}
	issuers, err := e.Store.FederationIssuers(t.Context(), e.project("default").ID)
	if err != nil || len(issuers) != 2 {
		t.Fatalf("issuers %v %v", issuers, err)
	}
	github := issuers[1]
	if github.Name != "github" {
		github = issuers[0]
	}
	resp = e.post(admin, "/projects/default/federation/rules", url.Values{"name": {"loose"}, "issuer": {github.ID}, "target": {"key:" + key.ID},
		"conditions": {"repository_owner_id=1"}})
	if resp.Status != http.StatusBadRequest || !strings.Contains(html.UnescapeString(resp.Body), "repository_id") {
		t.Fatalf("a rule not pinning repository_id: %d", resp.Status)
	}
	ci := issuers[0]
	if ci.Name != "ci" {
		ci = issuers[1]
	}
	resp = e.post(admin, "/projects/default/federation/rules", url.Values{"name": {"deploy"}, "issuer": {ci.ID}, "target": {"key:" + key.ID},
		"conditions": {"repository=octo/app\nref=refs/heads/*"}, "ttl": {"10m"}})
	if resp.Status != http.StatusSeeOther {
		t.Fatalf("add rule: %d %s", resp.Status, resp.Body)
	}
	page = e.do(request{method: "GET", path: "/projects/default/federation?rule-created", cookie: admin})
	for _, want := range []string{"The rule was created.", "deploy", "repository = octo/app", "API key deployer", "10m"} {
		if !strings.Contains(html.UnescapeString(page.Body), want) {
			t.Errorf("the federation page does not show %q", want)
		}
	}

	now := e.Clock.Now()
	good := gh.Sign(t, now, map[string]any{"repository": "octo/app", "ref": "refs/heads/main"})
	explain := func(token string) string {
		t.Helper()
		resp := e.post(admin, "/projects/default/federation/explain", url.Values{"token": {token}})
		if resp.Status != http.StatusOK {
			t.Fatalf("explain: %d %s", resp.Status, resp.Body)
		}
		return html.UnescapeString(resp.Body)
	}
	if body := explain(good); !strings.Contains(body, "Accepted: it meets rule “deploy”") {
		t.Errorf("a good token is not shown accepted")
	}
	if body := explain(gh.Sign(t, now, map[string]any{"repository": "octo/app", "ref": "refs/tags/v1"})); !strings.Contains(body, "no rule lets it in") ||
		!strings.Contains(body, "<code>ref</code> differs") {
		t.Errorf("a token missing a condition is not explained")
	}
	if body := explain(gh.Sign(t, now, map[string]any{"aud": "other", "repository": "octo/app", "ref": "refs/heads/main"})); !strings.Contains(body, "audience") {
		t.Errorf("a token for another audience is not explained")
	}
	// Testing spent nothing: the token exchanges once, afterwards.
	tok := e.do(request{method: "POST", path: "/oauth/token", form: url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {good}}})
	if tok.Status != http.StatusOK {
		t.Fatalf("the tested token does not exchange: %d %s", tok.Status, tok.Body)
	}

	// Someone who sees no keys sees no federation settings.
	e.user("viewer@example.com", "correct horse battery", "members-view")
	viewer := e.login("viewer@example.com", "correct horse battery")
	page = e.do(request{method: "GET", path: "/projects/default/federation", cookie: viewer})
	if page.Status != http.StatusOK || strings.Contains(page.Body, "deploy") || strings.Contains(page.Body, "Trust an issuer") {
		t.Errorf("a member without api-keys-view sees the settings: %d", page.Status)
	}
	if resp := e.post(viewer, "/projects/default/federation/explain", url.Values{"token": {good}}); resp.Status != http.StatusForbidden {
		t.Errorf("a member without api-keys-view may test tokens: %d", resp.Status)
	}

	rules, err := e.Store.FederationRules(t.Context(), e.project("default").ID)
	if err != nil || len(rules) != 1 {
		t.Fatalf("rules %v %v", rules, err)
	}
	if resp := e.post(admin, "/projects/default/federation/rules/"+rules[0].ID+"/delete", url.Values{}); resp.Status != http.StatusSeeOther {
		t.Fatalf("delete rule: %d", resp.Status)
	}
	if resp := e.post(admin, "/projects/default/federation/issuers/"+ci.ID+"/delete", url.Values{}); resp.Status != http.StatusSeeOther {
		t.Fatalf("delete issuer: %d", resp.Status)
	}
	// A cross-origin post changes nothing.
	resp = e.do(request{method: "POST", path: "/projects/default/federation/issuers/" + github.ID + "/delete", cookie: admin,
		header: http.Header{"Origin": {"https://evil.example"}}, form: url.Values{}})
	if resp.Status != http.StatusForbidden {
		t.Errorf("a cross-origin deletion: %d", resp.Status)
	}
}

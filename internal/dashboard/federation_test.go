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

// TestFederationTabReadOnly: someone who may read the key settings but not change them sees the
// issuers and rules without a control that changes them, and a form forged for them is refused
// and changes nothing; a form posted from another site is refused even for a key manager, and
// another project's pages reach none of them.
func TestFederationTabReadOnly(t *testing.T) {
	e := start(t, func(c *server.Config) { c.FederationAllowInsecure = true })
	ci := fedtest.New(t, "k1")
	key := e.CreateKey(t, e.AdminToken(t), "default", kwtest.KeyRequest{Name: "deployer", Permissions: []string{"containers-view"}})
	admin := e.login(adminEmail, adminPassword)
	if resp := e.post(admin, "/projects/default/federation/issuers", url.Values{"name": {"ci"}, "issuer": {ci.URL}, "audiences": {fedtest.Audience}}); resp.Status != http.StatusSeeOther {
		t.Fatalf("trust issuer: %d %s", resp.Status, resp.Body)
	}
	if resp := e.post(admin, "/projects/default/federation/rules", url.Values{"name": {"deploy"}, "issuer": {"ci"}, "target": {"key:" + key.ID},
		"conditions": {"repository=octo/app"}}); resp.Status != http.StatusSeeOther {
		t.Fatalf("add rule: %d %s", resp.Status, resp.Body)
	}
	project := e.project("default").ID
	issuer, err := e.Store.FederationIssuer(t.Context(), project, "ci")
	if err != nil {
		t.Fatal(err)
	}
	rule, err := e.Store.FederationRule(t.Context(), project, "deploy")
	if err != nil {
		t.Fatal(err)
	}
	issuerPath := "/projects/default/federation/issuers/" + issuer.ID
	rulePath := "/projects/default/federation/rules/" + rule.ID

	e.user("viewer@example.com", "correct horse battery", "api-keys-view")
	viewer := e.login("viewer@example.com", "correct horse battery")
	page := e.do(request{method: "GET", path: "/projects/default/federation", cookie: viewer})
	body := html.UnescapeString(page.Body)
	if page.Status != http.StatusOK || !strings.Contains(body, ci.URL) || !strings.Contains(body, "repository = octo/app") {
		t.Fatalf("a viewer does not see the settings: %d", page.Status)
	}
	for _, control := range []string{"Trust an issuer", "Add a rule", ">Edit<", ">Delete<", issuerPath, rulePath} {
		if strings.Contains(body, control) {
			t.Errorf("a viewer is offered %q", control)
		}
	}
	for _, path := range []string{issuerPath, issuerPath + "/delete", rulePath, rulePath + "/delete"} {
		if resp := e.do(request{method: "GET", path: path, cookie: viewer}); resp.Status != http.StatusForbidden {
			t.Errorf("a viewer opens %s: %d", path, resp.Status)
		}
	}
	forged := []struct {
		path string
		form url.Values
	}{
		{"/projects/default/federation/issuers", url.Values{"name": {"evil"}, "issuer": {ci.URL + "/evil"}, "audiences": {"x"}}},
		{issuerPath, url.Values{"name": {"ci"}, "issuer": {ci.URL}, "audiences": {"other"}}},
		{issuerPath + "/delete", url.Values{}},
		{"/projects/default/federation/rules", url.Values{"name": {"evil"}, "issuer": {"ci"}, "target": {"key:" + key.ID}, "conditions": {"sub=*"}}},
		{rulePath, url.Values{"name": {"deploy"}, "issuer": {issuer.ID}, "target": {"key:" + key.ID}, "conditions": {"repository=*"}, "ttl": {"15m"}}},
		{rulePath + "/delete", url.Values{}},
	}
	for _, f := range forged {
		if resp := e.post(viewer, f.path, f.form); resp.Status != http.StatusForbidden {
			t.Errorf("a viewer's post to %s: %d", f.path, resp.Status)
		}
	}
	// The same posts from another site, with the key manager's cookie.
	for _, f := range forged {
		resp := e.do(request{method: "POST", path: f.path, cookie: admin, form: f.form, header: http.Header{"Sec-Fetch-Site": {"cross-site"}}})
		if resp.Status != http.StatusForbidden {
			t.Errorf("a cross-site post to %s: %d", f.path, resp.Status)
		}
	}
	after, err := e.Store.FederationRule(t.Context(), project, rule.ID)
	if err != nil || after.Conditions["repository"] != "octo/app" || after.TTL != rule.TTL {
		t.Errorf("the rule after the refused posts: %+v %v", after, err)
	}
	issuers, err := e.Store.FederationIssuers(t.Context(), project)
	if err != nil || len(issuers) != 1 || len(issuers[0].Audiences) != 1 || issuers[0].Audiences[0] != fedtest.Audience {
		t.Errorf("the issuers after the refused posts: %v %v", issuers, err)
	}
	if rules, err := e.Store.FederationRules(t.Context(), project); err != nil || len(rules) != 1 {
		t.Errorf("the rules after the refused posts: %v %v", rules, err)
	}

	// A key manager of another project reaches this project's issuer and rule by no address.
	e.CreateProject(t, e.AdminToken(t), "other")
	for _, path := range []string{issuerPath, rulePath} {
		path = strings.Replace(path, "/default/", "/other/", 1)
		if resp := e.do(request{method: "GET", path: path, cookie: admin}); resp.Status != http.StatusNotFound {
			t.Errorf("%s: %d", path, resp.Status)
		}
		if resp := e.post(admin, path+"/delete", url.Values{}); resp.Status != http.StatusNotFound {
			t.Errorf("post %s/delete: %d", path, resp.Status)
		}
	}
	if rules, err := e.Store.FederationRules(t.Context(), project); err != nil || len(rules) != 1 {
		t.Errorf("the rules after deletions through another project: %v %v", rules, err)
	}
}

// TestEditIssuer: renaming an issuer keeps its rules' tokens; a new audience ends them, and the
// page says so; a bad audience is refused next to its field, with what was typed kept.
func TestEditIssuer(t *testing.T) {
	e := start(t, func(c *server.Config) { c.FederationAllowInsecure = true })
	ci := fedtest.New(t, "k1")
	adminToken := e.AdminToken(t)
	key := e.CreateKey(t, adminToken, "default", kwtest.KeyRequest{Name: "deployer", Permissions: []string{"containers-view"}})
	admin := e.login(adminEmail, adminPassword)
	e.post(admin, "/projects/default/federation/issuers", url.Values{"name": {"ci"}, "issuer": {ci.URL}, "audiences": {fedtest.Audience}})
	if resp := e.post(admin, "/projects/default/federation/rules", url.Values{"name": {"deploy"}, "issuer": {"ci"}, "target": {"key:" + key.ID},
		"conditions": {"repository=octo/app"}}); resp.Status != http.StatusSeeOther {
		t.Fatalf("add rule: %d %s", resp.Status, resp.Body)
	}
	issuer, err := e.Store.FederationIssuer(t.Context(), e.project("default").ID, "ci")
	if err != nil {
		t.Fatal(err)
	}
	path := "/projects/default/federation/issuers/" + issuer.ID
	page := e.do(request{method: "GET", path: path, cookie: admin})
	if page.Status != http.StatusOK || !strings.Contains(page.Body, `value="`+fedtest.Audience+`"`) || !strings.Contains(page.Body, "1 rule.") {
		t.Fatalf("the issuer's page: %d %s", page.Status, page.Body)
	}
	token := e.federatedToken(ci.Sign(t, e.Clock.Now(), map[string]any{"repository": "octo/app"}))
	edit := func(name, audiences string) *response {
		t.Helper()
		return e.post(admin, path, url.Values{"name": {name}, "issuer": {ci.URL}, "audiences": {audiences}, "preset": {""}, "jwks_uri": {""}})
	}
	if resp := edit("ci", "bad\x01audience"); resp.Status != http.StatusBadRequest || !strings.Contains(resp.Body, `id="issuer-audiences-error"`) ||
		!strings.Contains(resp.Body, `value="bad`) {
		t.Errorf("a bad audience: %d %s", resp.Status, resp.Body)
	}
	if resp := edit("ci-main", fedtest.Audience); resp.Status != http.StatusSeeOther || !strings.HasSuffix(resp.Header.Get("Location"), "?issuer-saved") {
		t.Errorf("rename: %d %s", resp.Status, resp.Header.Get("Location"))
	}
	kwtest.RequireActive(t, e.Introspect(t, token, kwtest.Bearer(adminToken)))
	if resp := edit("ci-main", fedtest.Audience+" other"); resp.Status != http.StatusSeeOther || !strings.HasSuffix(resp.Header.Get("Location"), "?issuer-narrowed") {
		t.Errorf("new audience: %d %s", resp.Status, resp.Header.Get("Location"))
	}
	kwtest.RequireInactive(t, e.Introspect(t, token, kwtest.Bearer(adminToken)))
	page = e.do(request{method: "GET", path: "/projects/default/federation?issuer-narrowed", cookie: admin})
	if !strings.Contains(page.Body, "were revoked") || !strings.Contains(page.Body, "ci-main") {
		t.Errorf("after the edit the tab reads: %s", page.Body)
	}
}

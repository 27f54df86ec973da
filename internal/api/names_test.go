package api

import (
	"net/http"
	"strings"
	"testing"
)

// TestLookAlikeKeyNames: a key name that only looks like another key's name in the project is
// the same name (409, as an exact duplicate); another project may use it; an invisible
// character is refused.
func TestLookAlikeKeyNames(t *testing.T) {
	e := newEnv(t)
	owner := e.user("owner@example.com", false)
	e.project("shop", owner, nil)
	e.project("other", owner, nil)
	tok := e.userToken(owner, "")
	create := func(project, name string, status int) *response {
		t.Helper()
		return e.do(req{method: "POST", path: "/v1/projects/" + project + "/api-keys", token: tok,
			body: map[string]any{"name": name, "permissions": []string{"containers-view"}}}).expect(t, status)
	}
	create("shop", "deploy", http.StatusCreated)
	for _, name := range []string{"deploy", "d\u0435ploy", "DEPLOY", "\uff44\uff45\uff50\uff4c\uff4f\uff59", "dep\u04c0oy"} {
		p := create("shop", name, http.StatusConflict).problem(t)
		if want := `An API key named "` + name + `" already exists in this project.`; p.Detail != want {
			t.Errorf("detail %q, want %q", p.Detail, want)
		}
	}
	var k struct{ Name string }
	create("other", "d\u0435ploy", http.StatusCreated).decode(t, &k)
	if k.Name != "d\u0435ploy" {
		t.Errorf("name %q, want it as typed", k.Name)
	}
	for _, tc := range []struct{ name, detail string }{
		{"deploy\u200d", "U+200D ZERO WIDTH JOINER"},
		{"dep\u200cloy", "U+200C ZERO WIDTH NON-JOINER"},
		{"dep\u00adloy", "U+00AD SOFT HYPHEN"},
		{"\ufeffdeploy", "U+FEFF ZERO WIDTH NO-BREAK SPACE"},
		{"deploy\ufe0f", "U+FE0F VARIATION SELECTOR-16"},
	} {
		for _, project := range []string{"shop", "other"} {
			p := create(project, tc.name, http.StatusBadRequest).problem(t)
			if !strings.Contains(p.Detail, tc.detail) || !strings.Contains(p.Detail, "invisible") {
				t.Errorf("%q: detail %q does not name %s", tc.name, p.Detail, tc.detail)
			}
		}
	}
}

// TestLookAlikeProjectNames: project names are one namespace for every tenant, so a look-alike
// of another tenant's project is refused with exactly what an exact duplicate says, naming only
// what the caller typed.
func TestLookAlikeProjectNames(t *testing.T) {
	e := newEnv(t)
	alice := e.user("alice@example.com", false)
	bob := e.user("bob@example.com", false)
	var theirs struct{ ID string }
	e.do(req{method: "POST", path: "/v1/projects", token: e.userToken(alice, ""), body: map[string]any{"name": "web-1"}}).
		expect(t, http.StatusCreated).decode(t, &theirs)
	create := func(name string, status int) *response {
		t.Helper()
		return e.do(req{method: "POST", path: "/v1/projects", token: e.userToken(bob, ""), body: map[string]any{"name": name}}).expect(t, status)
	}
	exact := create("web-1", http.StatusConflict)
	look := create("web-l", http.StatusConflict)
	if got, want := strings.ReplaceAll(string(look.body), "web-l", "web-1"), string(exact.body); got != want {
		t.Errorf("look-alike 409 body %s differs from the exact duplicate's %s beyond the name typed", look.body, exact.body)
	}
	if strings.Contains(string(look.body), "web-1") || strings.Contains(string(look.body), theirs.ID) {
		t.Errorf("look-alike 409 body %s names the other tenant's project", look.body)
	}
	p := create("web\u200d-2", http.StatusBadRequest).problem(t)
	if !strings.Contains(p.Detail, "U+200D ZERO WIDTH JOINER") {
		t.Errorf("detail %q does not name the zero width joiner", p.Detail)
	}
	create("web-2", http.StatusCreated)
}

package federation

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestGlob(t *testing.T) {
	for _, c := range []struct {
		pattern, s string
		want       bool
	}{
		{"repo:octo/app:*", "repo:octo/app:ref:refs/heads/main", true},
		{"repo:octo/app:*", "repo:octo/application:ref:refs/heads/main", false},
		{"refs/heads/*", "refs/heads/feature/x", true},
		{"refs/heads/*", "refs/tags/v1", false},
		{"42", "42", true},
		{"42", "420", false},
		{"4?", "42", true},
		{"*", "", true},
		{"a*b*c", "aXbYc", true},
		{"a*b*c", "aXbY", false},
		{"", "x", false},
		{strings.Repeat("*a", 30) + "b", strings.Repeat("a", 200), false}, // no exponential backtracking
	} {
		if got := Glob(c.pattern, c.s); got != c.want {
			t.Errorf("Glob(%q, %q) = %v, want %v", c.pattern, c.s, got, c.want)
		}
	}
}

func TestMatch(t *testing.T) {
	claims := map[string]json.RawMessage{
		"repository_id": json.RawMessage(`42`), "ref": json.RawMessage(`"refs/heads/main"`),
		"runner_environment": json.RawMessage(`{"a":1}`), "private": json.RawMessage(`true`),
	}
	if m := Match(map[string]string{"repository_id": "42", "ref": "refs/heads/*", "private": "true"}, claims); len(m) != 0 {
		t.Errorf("a token meeting every condition: %v", m)
	}
	m := Match(map[string]string{"repository_id": "43", "missing": "x", "runner_environment": "*"}, claims)
	want := []Mismatch{{"missing", "missing"}, {"repository_id", "differs"}, {"runner_environment", "not a string, number or boolean"}}
	if len(m) != len(want) {
		t.Fatalf("mismatches %v, want %v", m, want)
	}
	for i := range want {
		if m[i] != want[i] {
			t.Errorf("mismatch %d = %v, want %v", i, m[i], want[i])
		}
	}
}

func TestCheckURL(t *testing.T) {
	for _, c := range []struct {
		url      string
		insecure bool
		ok       bool
	}{
		{"https://token.actions.githubusercontent.com", false, true},
		{"http://127.0.0.1:8080", false, false},
		{"http://127.0.0.1:8080", true, true},
		{"http://[::1]:8080/issuer", true, true},
		{"http://localhost:8080", true, true},
		{"http://10.0.0.1", true, false},
		{"https://user:pw@issuer.example", false, false},
		{"https://issuer.example/?a=b", false, false},
		{"https://issuer.example/#x", false, false},
		{"file:///etc/passwd", true, false},
		{"issuer.example", false, false},
	} {
		if err := CheckURL(c.url, c.insecure); (err == nil) != c.ok {
			t.Errorf("CheckURL(%q, %v) = %v, want ok %v", c.url, c.insecure, err, c.ok)
		}
	}
}

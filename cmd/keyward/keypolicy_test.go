package main

import (
	"net/http"
	"strings"
	"testing"
)

// TestKeysCreateMeetsTheKeyPolicy: under a project's key policy, keys create and keys roll
// refuse a key that breaks a rule with the server's one sentence, on one line, and create a key
// that meets it.
func TestKeysCreateMeetsTheKeyPolicy(t *testing.T) {
	s, c := signedIn(t)
	c.ok("projects", "create", "web-shop")
	c.ok("keys", "create", "--project", "web-shop", "--name", "old", "--permissions", "images-view")
	policy := map[string]any{"key_policy": map[string]any{"max_lifetime": "2160h", "require_ips": true}}
	if r := s.API(t, http.MethodPatch, "/v1/projects/web-shop", s.AdminToken(t), policy); r.Status != http.StatusOK {
		t.Fatalf("set key policy: %s", r)
	}

	c.fails(1, "This project requires API keys to expire within 90 days (2160h).", nil,
		"keys", "create", "--project", "web-shop", "--name", "ci", "--permissions", "images-view", "--ips", "10.0.0.0/8")
	c.fails(1, "This project requires API keys to expire within 90 days (2160h).", nil,
		"keys", "create", "--project", "web-shop", "--name", "ci", "--permissions", "images-view", "--ips", "10.0.0.0/8", "--expires", "91d")
	c.fails(1, "This project requires API keys to be restricted to IP addresses: give at least one address or network.", nil,
		"keys", "create", "--project", "web-shop", "--name", "ci", "--permissions", "images-view", "--expires", "30d")
	c.ok("keys", "create", "--project", "web-shop", "--name", "ci", "--permissions", "images-view", "--expires", "30d", "--ips", "10.0.0.0/8")
	c.fails(1, "Change the key's expiry first, then roll it.", nil, "keys", "roll", "old", "--project", "web-shop")
}

// TestProjectsPolicy: keyward projects policy shows what a project requires, changes only the
// rules given, and the keys then meet them; a bad rule is refused with the server's sentence and
// changes nothing (who may change it is the API's TestKeyPolicy).
func TestProjectsPolicy(t *testing.T) {
	_, c := signedIn(t)
	c.ok("projects", "create", "web-shop")
	if out := c.ok("projects", "policy", "web-shop").stdout; !strings.Contains(out, "Project web-shop requires nothing of its API keys.") {
		t.Fatalf("policy of a new project: %q", out)
	}
	out := c.ok("projects", "policy", "web-shop", "--max-lifetime", "720h", "--require-dpop").stdout
	if !strings.Contains(out, "Project web-shop requires of every API key: an expiry within 720h, DPoP proofs.") {
		t.Fatalf("policy after the change: %q", out)
	}
	out = c.ok("projects", "policy", "web-shop", "--require-ips").stdout
	if !strings.Contains(out, "an expiry within 720h, an IP restriction, DPoP proofs.") {
		t.Fatalf("a second change lost the first: %q", out)
	}
	c.fails(1, "This project requires API keys to expire within 30 days (720h).", nil,
		"keys", "create", "--project", "web-shop", "--name", "ci", "--permissions", "images-view", "--ips", "10.0.0.0/8")
	c.fails(1, "The maximum lifetime must be a duration from 1h to 876000h", nil, "projects", "policy", "web-shop", "--max-lifetime", "soon", "--require-dpop=false")
	if out := c.ok("projects", "policy", "web-shop").stdout; !strings.Contains(out, "an expiry within 720h, an IP restriction, DPoP proofs.") {
		t.Fatalf("a refused change changed the policy: %q", out)
	}
	out = c.ok("projects", "policy", "web-shop", "--max-lifetime", "0", "--require-ips=false", "--require-dpop=false").stdout
	if !strings.Contains(out, "requires nothing") {
		t.Fatalf("policy after clearing it: %q", out)
	}
}

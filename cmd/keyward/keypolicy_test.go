package main

import (
	"net/http"
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

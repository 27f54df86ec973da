package main

import (
	"strings"
	"testing"

	"github.com/keyward/keyward/client"
)

// TestWebhooks walks the webhooks commands: the secret printed once, the messages that key
// changes queue, and the mistakes refused before anything is sent.
func TestWebhooks(t *testing.T) {
	_, c := signedIn(t)
	c.ok("projects", "create", "web-shop")
	if r := c.ok("webhooks", "list", "--project", "web-shop"); !strings.Contains(r.stdout, "has no webhooks") {
		t.Errorf("webhooks list of none: %s", r)
	}

	r := c.ok("webhooks", "create", "--project", "web-shop", "--url", "https://hooks.example.com/keyward", "--events", "api_key.created,api_key.disabled")
	secret := strings.TrimSpace(r.stdout)
	if !strings.HasPrefix(secret, "whsec_") || strings.Count(r.stdout, "\n") != 1 || !strings.Contains(r.stderr, "shown this once") {
		t.Errorf("webhooks create: %s", r)
	}
	var hooks []client.Webhook
	decodeJSON(t, c.ok("webhooks", "list", "--project", "web-shop", "--json"), &hooks)
	if len(hooks) != 1 || hooks[0].Secret != "" || hooks[0].URL != "https://hooks.example.com/keyward" {
		t.Fatalf("webhooks list --json: %+v", hooks)
	}
	id := hooks[0].ID
	if r := c.ok("webhooks", "list", "--project", "web-shop"); !strings.Contains(r.stdout, id) || strings.Contains(r.stdout, secret) ||
		!strings.Contains(r.stdout, "api_key.created,api_key.disabled") {
		t.Errorf("webhooks list: %s", r)
	}

	// A key created, disabled and enabled: two messages (the enable is not subscribed to).
	key := strings.TrimSpace(c.ok("keys", "create", "--project", "web-shop", "--name", "ci", "--permissions", "images-view").stdout)
	keyEnv := []string{"KEYWARD_API_KEY=" + key}
	if r := c.run("", keyEnv, "token"); r.code != 0 {
		t.Fatalf("the new key's exchange: %s", r)
	}
	if r := c.ok("keys", "disable", "ci", "--project", "web-shop"); !strings.Contains(r.stdout, `Disabled API key "ci"`) {
		t.Errorf("keys disable: %s", r)
	}
	c.fails(1, "invalid_client", keyEnv, "token")
	if r := c.ok("keys", "list", "--project", "web-shop"); !strings.Contains(r.stdout, "disabled (member)") {
		t.Errorf("keys list after keys disable: %s", r)
	}
	if r := c.ok("keys", "enable", "ci", "--project", "web-shop"); !strings.Contains(r.stdout, `Enabled API key "ci"`) || !strings.Contains(r.stdout, "active") {
		t.Errorf("keys enable: %s", r)
	}
	if r := c.run("", keyEnv, "token"); r.code != 0 {
		t.Errorf("the enabled key's exchange: %s", r)
	}

	var msgs []client.WebhookMessage
	decodeJSON(t, c.ok("webhooks", "messages", id, "--project", "web-shop", "--json"), &msgs)
	if len(msgs) != 2 || msgs[0].Type != "api_key.disabled" || msgs[1].Type != "api_key.created" || msgs[0].State != "pending" {
		t.Fatalf("webhooks messages --json: %+v", msgs)
	}
	if r := c.ok("webhooks", "messages", id, "--project", "web-shop", "--search", "api_key.created"); !strings.Contains(r.stdout, msgs[1].ID) ||
		strings.Contains(r.stdout, msgs[0].ID) || !strings.Contains(r.stdout, "pending") {
		t.Errorf("webhooks messages --search: %s", r)
	}
	if r := c.ok("webhooks", "redeliver", id, msgs[1].ID, "--project", "web-shop"); !strings.Contains(r.stdout, "Queued message "+msgs[1].ID) {
		t.Errorf("webhooks redeliver: %s", r)
	}
	if r := c.ok("webhooks", "test", id, "--project", "web-shop"); !strings.Contains(r.stdout, "Queued test message msg_") {
		t.Errorf("webhooks test: %s", r)
	}

	if r := c.ok("webhooks", "edit", id, "--project", "web-shop", "--events", "api_key.deleted"); !strings.Contains(r.stdout, "gets api_key.deleted.") {
		t.Errorf("webhooks edit: %s", r)
	}
	r = c.ok("webhooks", "roll-secret", id, "--project", "web-shop", "--grace", "1h")
	if rolled := strings.TrimSpace(r.stdout); !strings.HasPrefix(rolled, "whsec_") || rolled == secret || !strings.Contains(r.stderr, "the old one signs too until") {
		t.Errorf("webhooks roll-secret: %s", r)
	}

	// Refused by the server, with its reason.
	c.fails(1, "must use https", nil, "webhooks", "create", "--project", "web-shop", "--url", "http://hooks.example.com/", "--events", "api_key.created")
	c.fails(1, "127.0.0.1 is a loopback address", nil, "webhooks", "create", "--project", "web-shop", "--url", "https://127.0.0.1/hook", "--events", "api_key.created")
	c.fails(1, `Unknown event "key.made"`, nil, "webhooks", "create", "--project", "web-shop", "--url", "https://hooks.example.com/", "--events", "key.made")
	c.fails(1, "The webhook was not found", nil, "webhooks", "test", "whk_0000000000000000", "--project", "web-shop")
	// Refused before anything is sent.
	c.fails(2, "--url and --events are required", nil, "webhooks", "create", "--project", "web-shop", "--url", "https://hooks.example.com/")
	c.fails(2, "nothing to change", nil, "webhooks", "edit", id, "--project", "web-shop")
	c.fails(2, "--grace must be from 0s to 72h", nil, "webhooks", "roll-secret", id, "--project", "web-shop", "--grace", "100h")
	c.fails(2, "usage: keyward webhooks redeliver", nil, "webhooks", "redeliver", id, "--project", "web-shop")
	c.fails(2, "usage: keyward webhooks messages ID", nil, "webhooks", "messages", "--project", "web-shop")

	if r := c.ok("webhooks", "delete", id, "--project", "web-shop"); !strings.Contains(r.stdout, "Deleted webhook "+id) {
		t.Errorf("webhooks delete: %s", r)
	}
	c.fails(1, "The webhook was not found", nil, "webhooks", "delete", id, "--project", "web-shop")
}

package api

import (
	"bytes"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/apikey"
	"github.com/keyward/keyward/client"
)

func TestCreateKeyValidation(t *testing.T) {
	e := newEnv(t)
	owner := e.user("owner@example.com", false)
	e.project("shop", owner, nil)
	tok := e.userToken(owner, "")
	now := e.clock.Now()
	tests := []struct {
		name   string
		body   map[string]any
		status int
		detail string
	}{
		{"minimal", map[string]any{"name": "a", "permissions": []string{"containers-view"}}, 201, ""},
		{"100 characters", map[string]any{"name": strings.Repeat("é", 100), "permissions": []string{"containers-view"}}, 201, ""},
		{"inner spaces and unicode", map[string]any{"name": "Deploy key — Zürich 🚀", "permissions": []string{"containers-view"}}, 201, ""},
		{"empty name", map[string]any{"name": "", "permissions": []string{"containers-view"}}, 400, "name"},
		{"missing name", map[string]any{"permissions": []string{"containers-view"}}, 400, "name"},
		{"101 characters", map[string]any{"name": strings.Repeat("é", 101), "permissions": []string{"containers-view"}}, 400, "100"},
		{"newline", map[string]any{"name": "a\nb", "permissions": []string{"containers-view"}}, 400, "control"},
		{"NUL", map[string]any{"name": "a\x00b", "permissions": []string{"containers-view"}}, 400, "control"},
		{"DEL", map[string]any{"name": "a\x7fb", "permissions": []string{"containers-view"}}, 400, "control"},
		{"bidi override", map[string]any{"name": "key\u202egpj.exe", "permissions": []string{"containers-view"}}, 400, "control"},
		{"leading space", map[string]any{"name": " prod", "permissions": []string{"containers-view"}}, 400, "white space"},
		{"bad CIDR", map[string]any{"name": "b", "ips": []string{"10.0.0.0/33"}, "permissions": []string{"containers-view"}}, 400, "10.0.0.0/33"},
		{"host name instead of an address", map[string]any{"name": "b", "ips": []string{"example.com"}, "permissions": []string{"containers-view"}}, 400, "example.com"},
		{"no permissions", map[string]any{"name": "b", "permissions": []string{}}, 400, "permissions"},
		{"missing permissions", map[string]any{"name": "b"}, 400, "permissions"},
		{"unknown permission", map[string]any{"name": "b", "permissions": []string{"containers-view", "superuser"}}, 400, "superuser"},
		{"expiry in the past", map[string]any{"name": "b", "permissions": []string{"containers-view"}, "expires_at": now.Add(-time.Second).Format(time.RFC3339)}, 400, "future"},
		{"expiry now", map[string]any{"name": "b", "permissions": []string{"containers-view"}, "expires_at": now.Format(time.RFC3339)}, 400, "future"},
		{"expiry not RFC 3339", map[string]any{"name": "b", "permissions": []string{"containers-view"}, "expires_at": "tomorrow"}, 400, "RFC 3339"},
		{"expiry as a number", map[string]any{"name": "b", "permissions": []string{"containers-view"}, "expires_at": 1893456000}, 400, "expires_at"},
		{"expiry in another zone", map[string]any{"name": "c", "permissions": []string{"containers-view"}, "expires_at": now.Add(time.Hour).In(time.FixedZone("", 5*3600)).Format(time.RFC3339)}, 201, ""},
		{"duplicate name", map[string]any{"name": "a", "permissions": []string{"containers-view"}}, 409, "already exists"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := e.do(req{method: "POST", path: "/v1/projects/shop/api-keys", token: tok, body: tt.body}).expect(t, tt.status)
			if tt.status >= 400 {
				if p := resp.problem(t); !strings.Contains(p.Detail, tt.detail) {
					t.Errorf("detail %q does not mention %q", p.Detail, tt.detail)
				}
			}
		})
	}
}

// TestKeySecretShownOnce: the secret is in the creation response and nowhere else.
func TestKeySecretShownOnce(t *testing.T) {
	e := newEnv(t)
	owner := e.user("owner@example.com", false)
	e.project("shop", owner, nil)
	tok := e.userToken(owner, "")
	var created client.Key
	e.do(req{method: "POST", path: "/v1/projects/shop/api-keys", token: tok, body: map[string]any{"name": "ci", "permissions": []string{"images-view"}}}).
		expect(t, http.StatusCreated).decode(t, &created)
	if !strings.HasPrefix(created.Secret, apikey.Prefix) || created.Hint != created.Secret[len(created.Secret)-4:] {
		t.Fatalf("created key %q with hint %q", created.Secret, created.Hint)
	}
	stored, err := e.store.APIKey(e.ctx, created.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(stored.SecretHash, apikey.Hash(created.Secret)) {
		t.Error("the stored hash is not the hash of the returned key")
	}
	if created.CreatedBy != "user:"+owner.ID || created.Project == "" || created.ExpiresAt != nil || created.LastUsedAt != nil {
		t.Errorf("created key metadata %+v", created)
	}
	secretPart := created.Secret[len(apikey.Prefix)+16 : len(created.Secret)-6]
	for _, path := range []string{"/v1/projects/shop/api-keys", "/v1/projects/shop/api-keys/" + created.ID, "/v1/projects/shop/audit"} {
		resp := e.do(req{method: "GET", path: path, token: tok}).expect(t, http.StatusOK)
		for _, leak := range []string{secretPart, hex.EncodeToString(stored.SecretHash), `"key"`} {
			if bytes.Contains(resp.body, []byte(leak)) {
				t.Errorf("GET %s contains %q: %s", path, leak, resp.body)
			}
		}
	}
	if strings.Contains(e.logs.String(), secretPart) {
		t.Error("the secret reached the log")
	}
}

func TestDeleteKey(t *testing.T) {
	e := newEnv(t)
	owner := e.user("owner@example.com", false)
	p := e.project("shop", owner, nil)
	tok := e.userToken(owner, "")
	k, _ := e.apiKey(p, "ci", "containers-view")
	e.do(req{method: "DELETE", path: "/v1/projects/shop/api-keys/" + k.ID, token: tok}).expect(t, http.StatusNoContent)
	e.do(req{method: "DELETE", path: "/v1/projects/shop/api-keys/" + k.ID, token: tok}).expect(t, http.StatusNotFound).problem(t)
	e.do(req{method: "GET", path: "/v1/projects/shop/api-keys/" + k.ID, token: tok}).expect(t, http.StatusNotFound)
	e.do(req{method: "DELETE", path: "/v1/projects/shop/api-keys/not-a-key-id", token: tok}).expect(t, http.StatusNotFound)
	var keys client.List[client.Key]
	e.do(req{method: "GET", path: "/v1/projects/shop/api-keys", token: tok}).expect(t, http.StatusOK).decode(t, &keys)
	if len(keys.Data) != 0 {
		t.Errorf("deleted key still listed: %+v", keys.Data)
	}
}

package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/keyward/keyward/client"
)

// recorded is one request the fake management API saw.
type recorded struct {
	Method, Path, RawQuery, Auth, ContentType, Body string
}

// fakeAPI answers every request with the scripted status and body and records what it got.
func fakeAPI(t *testing.T, status int, contentType, body string) (*httptest.Server, *[]recorded) {
	t.Helper()
	var got []recorded
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = append(got, recorded{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Get("Authorization"), r.Header.Get("Content-Type"), string(b)})
		if contentType != "" {
			w.Header().Set("Content-Type", contentType)
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, &got
}

func TestClientRoutes(t *testing.T) {
	ctx := context.Background()
	exp := time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name   string
		status int
		call   func(c *client.Client) error
		want   recorded // Auth is filled in by the test
	}{
		{"Me", 200, func(c *client.Client) error { _, err := c.Me(ctx); return err },
			recorded{Method: "GET", Path: "/v1/me"}},
		{"Permissions", 200, func(c *client.Client) error { _, err := c.Permissions(ctx); return err },
			recorded{Method: "GET", Path: "/v1/permissions"}},
		{"CreateUser", 201, func(c *client.Client) error {
			_, err := c.CreateUser(ctx, client.CreateUserRequest{Email: "a@b.example", Password: "pw"})
			return err
		}, recorded{Method: "POST", Path: "/v1/users", ContentType: "application/json", Body: `{"email":"a@b.example","password":"pw"}`}},
		{"Projects", 200, func(c *client.Client) error { _, err := c.Projects(ctx); return err },
			recorded{Method: "GET", Path: "/v1/projects"}},
		{"CreateProject", 201, func(c *client.Client) error { _, err := c.CreateProject(ctx, "web-shop"); return err },
			recorded{Method: "POST", Path: "/v1/projects", ContentType: "application/json", Body: `{"name":"web-shop"}`}},
		{"Project escapes", 200, func(c *client.Client) error { _, err := c.Project(ctx, "a/b?c"); return err },
			recorded{Method: "GET", Path: "/v1/projects/a%2Fb%3Fc"}},
		{"Members", 200, func(c *client.Client) error { _, err := c.Members(ctx, "web-shop"); return err },
			recorded{Method: "GET", Path: "/v1/projects/web-shop/members", RawQuery: "limit=1000"}},
		{"MembersPage", 200, func(c *client.Client) error {
			_, err := c.MembersPage(ctx, "web-shop", client.ListOptions{Limit: 5, Cursor: "eyJ9", Search: "ann b"})
			return err
		}, recorded{Method: "GET", Path: "/v1/projects/web-shop/members", RawQuery: "cursor=eyJ9&limit=5&q=ann+b"}},
		{"PutMember", 200, func(c *client.Client) error {
			_, err := c.PutMember(ctx, "web-shop", "ada@example.com", client.PutMemberRequest{Permissions: []string{"containers-view"}})
			return err
		}, recorded{Method: "PUT", Path: "/v1/projects/web-shop/members/ada@example.com", ContentType: "application/json", Body: `{"permissions":["containers-view"]}`}},
		{"PutMember created", 201, func(c *client.Client) error {
			_, err := c.PutMember(ctx, "web-shop", "usr_1", client.PutMemberRequest{Permissions: []string{"containers-view"}})
			return err
		}, recorded{Method: "PUT", Path: "/v1/projects/web-shop/members/usr_1", ContentType: "application/json", Body: `{"permissions":["containers-view"]}`}},
		{"RemoveMember", 204, func(c *client.Client) error { return c.RemoveMember(ctx, "web-shop", "usr_1") },
			recorded{Method: "DELETE", Path: "/v1/projects/web-shop/members/usr_1"}},
		{"Keys", 200, func(c *client.Client) error { _, err := c.Keys(ctx, "prj_1"); return err },
			recorded{Method: "GET", Path: "/v1/projects/prj_1/api-keys", RawQuery: "limit=1000"}},
		{"KeysPage", 200, func(c *client.Client) error {
			_, err := c.KeysPage(ctx, "prj_1", client.ListOptions{Search: "web"})
			return err
		}, recorded{Method: "GET", Path: "/v1/projects/prj_1/api-keys", RawQuery: "q=web"}},
		{"Key", 200, func(c *client.Client) error { _, err := c.Key(ctx, "prj_1", "abc"); return err },
			recorded{Method: "GET", Path: "/v1/projects/prj_1/api-keys/abc"}},
		{"CreateKey", 201, func(c *client.Client) error {
			_, err := c.CreateKey(ctx, "prj_1", client.CreateKeyRequest{Name: "bot", Permissions: []string{"x"}, IPs: []string{"10.0.0.0/8"}, ExpiresAt: &exp})
			return err
		}, recorded{Method: "POST", Path: "/v1/projects/prj_1/api-keys", ContentType: "application/json",
			Body: `{"name":"bot","ips":["10.0.0.0/8"],"permissions":["x"],"expires_at":"2031-01-02T03:04:05Z"}`}},
		{"CreateKey minimal", 201, func(c *client.Client) error {
			_, err := c.CreateKey(ctx, "prj_1", client.CreateKeyRequest{Name: "bot", Permissions: []string{"x"}})
			return err
		}, recorded{Method: "POST", Path: "/v1/projects/prj_1/api-keys", ContentType: "application/json", Body: `{"name":"bot","permissions":["x"]}`}},
		{"RollKey", 201, func(c *client.Client) error { _, err := c.RollKey(ctx, "prj_1", "abc", 90*time.Minute); return err },
			recorded{Method: "POST", Path: "/v1/projects/prj_1/api-keys/abc/roll", ContentType: "application/json", Body: `{"grace":"1h30m0s"}`}},
		{"RollKey without grace", 201, func(c *client.Client) error { _, err := c.RollKey(ctx, "prj_1", "abc", 0); return err },
			recorded{Method: "POST", Path: "/v1/projects/prj_1/api-keys/abc/roll", ContentType: "application/json", Body: `{"grace":"0s"}`}},
		{"DeleteKey", 204, func(c *client.Client) error { return c.DeleteKey(ctx, "prj_1", "abc") },
			recorded{Method: "DELETE", Path: "/v1/projects/prj_1/api-keys/abc"}},
		{"UpdateKey disables", 200, func(c *client.Client) error {
			disabled := true
			_, err := c.UpdateKey(ctx, "prj_1", "abc", client.UpdateKeyRequest{Disabled: &disabled})
			return err
		}, recorded{Method: "PATCH", Path: "/v1/projects/prj_1/api-keys/abc", ContentType: "application/json", Body: `{"disabled":true}`}},
		{"Webhooks", 200, func(c *client.Client) error { _, err := c.Webhooks(ctx, "prj_1"); return err },
			recorded{Method: "GET", Path: "/v1/projects/prj_1/webhooks"}},
		{"Webhook", 200, func(c *client.Client) error { _, err := c.Webhook(ctx, "prj_1", "whk_1"); return err },
			recorded{Method: "GET", Path: "/v1/projects/prj_1/webhooks/whk_1"}},
		{"CreateWebhook", 201, func(c *client.Client) error {
			_, err := c.CreateWebhook(ctx, "prj_1", client.CreateWebhookRequest{URL: "https://h.example/", Events: []string{"api_key.created"}})
			return err
		}, recorded{Method: "POST", Path: "/v1/projects/prj_1/webhooks", ContentType: "application/json", Body: `{"url":"https://h.example/","events":["api_key.created"]}`}},
		{"UpdateWebhook", 200, func(c *client.Client) error {
			events := []string{"api_key.deleted"}
			_, err := c.UpdateWebhook(ctx, "prj_1", "whk_1", client.UpdateWebhookRequest{Events: &events})
			return err
		}, recorded{Method: "PATCH", Path: "/v1/projects/prj_1/webhooks/whk_1", ContentType: "application/json", Body: `{"events":["api_key.deleted"]}`}},
		{"DeleteWebhook", 204, func(c *client.Client) error { return c.DeleteWebhook(ctx, "prj_1", "whk_1") },
			recorded{Method: "DELETE", Path: "/v1/projects/prj_1/webhooks/whk_1"}},
		{"RollWebhookSecret", 200, func(c *client.Client) error {
			_, err := c.RollWebhookSecret(ctx, "prj_1", "whk_1", 2*time.Hour)
			return err
		},
			recorded{Method: "POST", Path: "/v1/projects/prj_1/webhooks/whk_1/roll-secret", ContentType: "application/json", Body: `{"grace":"2h0m0s"}`}},
		{"TestWebhook", 202, func(c *client.Client) error { _, err := c.TestWebhook(ctx, "prj_1", "whk_1"); return err },
			recorded{Method: "POST", Path: "/v1/projects/prj_1/webhooks/whk_1/test"}},
		{"WebhookMessagesPage", 200, func(c *client.Client) error {
			_, err := c.WebhookMessagesPage(ctx, "prj_1", "whk_1", client.ListOptions{Limit: 5, Search: "failed"})
			return err
		}, recorded{Method: "GET", Path: "/v1/projects/prj_1/webhooks/whk_1/messages", RawQuery: "limit=5&q=failed"}},
		{"WebhookMessage", 200, func(c *client.Client) error { _, err := c.WebhookMessage(ctx, "prj_1", "whk_1", "msg_1"); return err },
			recorded{Method: "GET", Path: "/v1/projects/prj_1/webhooks/whk_1/messages/msg_1"}},
		{"RedeliverWebhookMessage", 202, func(c *client.Client) error {
			_, err := c.RedeliverWebhookMessage(ctx, "prj_1", "whk_1", "msg_1")
			return err
		}, recorded{Method: "POST", Path: "/v1/projects/prj_1/webhooks/whk_1/messages/msg_1/redeliver"}},
		{"Audit", 200, func(c *client.Client) error {
			_, err := c.Audit(ctx, "prj_1", client.AuditOptions{Limit: 10, Before: "42"})
			return err
		}, recorded{Method: "GET", Path: "/v1/projects/prj_1/audit", RawQuery: "before=42&limit=10"}},
		{"Revocations", 200, func(c *client.Client) error { _, err := c.Revocations(ctx, "7"); return err },
			recorded{Method: "GET", Path: "/v1/revocations", RawQuery: "after=7"}},
		{"OpenAPI", 200, func(c *client.Client) error { _, err := c.OpenAPI(ctx); return err },
			recorded{Method: "GET", Path: "/v1/openapi.json"}},
	}
	ts := oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "at-1"})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := "{}"
			if tt.status == 204 {
				body = ""
			}
			srv, got := fakeAPI(t, tt.status, "application/json", body)
			if err := tt.call(client.New(srv.URL+"/", ts)); err != nil {
				t.Fatalf("call: %v", err)
			}
			tt.want.Auth = "Bearer at-1"
			if len(*got) != 1 || (*got)[0] != tt.want {
				t.Fatalf("requests %+v\nwant %+v", *got, tt.want)
			}
		})
	}
}

// TestKeysReadsEveryPage: Keys follows next until the last page.
func TestKeysReadsEveryPage(t *testing.T) {
	var queries []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		queries = append(queries, r.URL.RawQuery)
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Query().Get("cursor") {
		case "":
			io.WriteString(w, `{"data":[{"id":"a"},{"id":"b"}],"next":"c1"}`)
		case "c1":
			io.WriteString(w, `{"data":[{"id":"c"}],"next":null}`)
		default:
			w.WriteHeader(http.StatusBadRequest)
		}
	}))
	t.Cleanup(srv.Close)
	c := client.New(srv.URL, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "at-1"}))
	keys, err := c.Keys(context.Background(), "prj_1")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, k := range keys {
		ids = append(ids, k.ID)
	}
	if strings.Join(ids, ",") != "a,b,c" || strings.Join(queries, " ") != "limit=1000 cursor=c1&limit=1000" {
		t.Errorf("keys %v from queries %q", ids, queries)
	}
}

func TestClientErrors(t *testing.T) {
	ctx := context.Background()
	t.Run("problem+json", func(t *testing.T) {
		srv, _ := fakeAPI(t, 409, "application/problem+json",
			`{"type":"about:blank","title":"Conflict","status":409,"detail":"An API key named \"bot\" already exists in this project."}`)
		_, err := client.New(srv.URL, nil).CreateKey(ctx, "p", client.CreateKeyRequest{Name: "bot"})
		var p *client.Problem
		if !errors.As(err, &p) || p.Status != 409 || !strings.Contains(p.Detail, "already exists") {
			t.Fatalf("err = %#v", err)
		}
		if want := `keyward: 409 Conflict: An API key named "bot" already exists in this project.`; err.Error() != want {
			t.Errorf("Error() = %q; want %q", err.Error(), want)
		}
	})
	t.Run("a proxy's HTML page", func(t *testing.T) {
		srv, _ := fakeAPI(t, 502, "text/html", "<html>bad gateway</html>")
		_, err := client.New(srv.URL, nil).Permissions(ctx)
		var p *client.Problem
		if !errors.As(err, &p) || p.Status != 502 || p.Title != "Bad Gateway" || p.Detail != "<html>bad gateway</html>" {
			t.Fatalf("err = %#v", err)
		}
	})
	t.Run("unexpected success status", func(t *testing.T) {
		srv, _ := fakeAPI(t, 200, "application/json", "{}")
		err := client.New(srv.URL, nil).DeleteKey(ctx, "p", "k")
		var p *client.Problem
		if !errors.As(err, &p) || p.Status != 200 {
			t.Fatalf("err = %v; a delete must answer 204", err)
		}
	})
	t.Run("token source failure stops the request", func(t *testing.T) {
		srv, got := fakeAPI(t, 200, "application/json", "{}")
		sentinel := errors.New("no token")
		_, err := client.New(srv.URL, failingSource{sentinel}).Me(ctx)
		if !errors.Is(err, sentinel) || len(*got) != 0 {
			t.Fatalf("err = %v after %d requests", err, len(*got))
		}
	})
	t.Run("no token source sends no Authorization", func(t *testing.T) {
		srv, got := fakeAPI(t, 200, "application/json", `{"data":[]}`)
		if _, err := client.New(srv.URL, nil).Permissions(ctx); err != nil {
			t.Fatal(err)
		}
		if (*got)[0].Auth != "" {
			t.Errorf("Authorization %q", (*got)[0].Auth)
		}
	})
	t.Run("bad server URL", func(t *testing.T) {
		_, err := client.New("auth.example.com", nil).Permissions(ctx)
		if err == nil || !strings.Contains(err.Error(), "not an http or https URL") {
			t.Fatalf("err = %v", err)
		}
	})
}

type failingSource struct{ err error }

func (f failingSource) Token() (*oauth2.Token, error) { return nil, f.err }

// The types give back the server's JSON unchanged, nulls and empty lists included, so that a
// program printing them (keyward keys list --json) prints what the server said.
func TestTypesRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		v    any
		json string
	}{
		{"key with secret", &client.Key{}, `{"id":"AbC","project":"prj_1","name":"bot","ips":[],"permissions":["containers-view"],"role":"developer","hint":"Q2xm","created_by":"user:usr_1","owner":"usr_1","created_at":"2030-01-01T00:00:00Z","expires_at":null,"disabled_at":null,"state":"active","last_used_at":"2030-01-02T00:00:00Z","last_used_ip":null,"require_dpop":true,"key":"kw_x"}`},
		{"me of a key", &client.Me{}, `{"subject":"key:AbC","kind":"key","user":null,"key":{"id":"AbC","project":"prj_1","name":"bot","ips":["10.0.0.0/8"],"permissions":[],"role":null,"hint":"Q2xm","created_by":"user:usr_1","owner":"usr_1","created_at":"2030-01-01T00:00:00Z","expires_at":"2031-01-01T00:00:00Z","disabled_at":"2030-01-03T00:00:00Z","state":"disabled","disabled_reason":"owner_removed","last_used_at":null,"last_used_ip":"10.0.0.1","require_dpop":false},"session":{"id":"ses_1","project":"prj_1","scope":null,"expires_at":"2030-02-01T00:00:00Z"},"projects":[{"id":"prj_1","name":"web","created_at":"2030-01-01T00:00:00Z","permissions":["containers-view"],"require_2fa":true,"require_dpop":true,"key_policy":{"require_expiry":true,"max_lifetime":"2160h","require_ips":false}}]}`},
		{"audit page", &client.AuditPage{}, `{"data":[{"id":3,"project":"prj_1","at":"2030-01-01T00:00:00Z","actor":"user:usr_1","action":"api_key.created","target":"key:AbC","ip":"127.0.0.1","detail":"name=\"bot\""}],"next":null}`},
		{"revocation page", &client.RevocationPage{}, `{"data":[{"cursor":"4","type":"key","id":"VDsthyVW-eCFUCr2MCX1yw","expires_at":"2030-01-01T03:00:00Z"}],"cursor":"4"}`},
		{"member", &client.Member{}, `{"user":"usr_1","email":"a@b.example","permissions":["x"],"role":"viewer","effective_permissions":["x","y"],"created_at":"2030-01-01T00:00:00Z"}`},
		{"role", &client.Role{}, `{"id":"rol_1","name":"viewer","description":"Reads.","permissions":["y"],"owner":false,"require_dpop":true,"members":1,"keys":0,"created_at":"2030-01-01T00:00:00Z","updated_at":"2030-01-02T00:00:00Z"}`},
		{"user", &client.User{}, `{"id":"usr_1","email":"a@b.example","admin":true,"disabled":false,"created_at":"2030-01-01T00:00:00Z"}`},
		{"webhook with secret", &client.Webhook{}, `{"id":"whk_1","url":"https://h.example/","events":["api_key.created"],"owner":"usr_1","created_at":"2030-01-01T00:00:00Z","updated_at":"2030-01-02T00:00:00Z","previous_secret_expires_at":"2030-01-03T00:00:00Z","secret":"whsec_x"}`},
		{"webhook message", &client.WebhookMessage{}, `{"id":"msg_1","webhook_id":"whk_1","type":"api_key.created","state":"pending","attempts":2,"created_at":"2030-01-01T00:00:00Z","next_attempt_at":"2030-01-01T00:05:00Z","last_status":503,"last_error":"HTTP 503"}`},
		{"webhook message with attempts", &client.WebhookMessageDetail{}, `{"id":"msg_1","webhook_id":"whk_1","type":"member.added","state":"delivered","attempts":1,"created_at":"2030-01-01T00:00:00Z","delivered_at":"2030-01-01T00:00:01Z","last_status":204,"body":null,"history":[{"at":"2030-01-01T00:00:01Z","status":204,"response":"","error":"","duration_ms":12}]}`},
		{"permission", &client.Permission{}, `{"name":"containers-view","group":"containers","description":"See containers."}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := json.Unmarshal([]byte(tt.json), tt.v); err != nil {
				t.Fatal(err)
			}
			out, err := json.Marshal(tt.v)
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tt.json {
				t.Errorf("round trip\n got %s\nwant %s", out, tt.json)
			}
		})
	}
}

package client_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/client"
)

// TestHTTPClientRecoversFromARevokedToken: an API refuses the access token before its expiry (its
// key was narrowed, and the session revoked); the client renews it, exchanging the key again
// since the refresh is refused too, and sends the request once more, body included.
func TestHTTPClientRecoversFromARevokedToken(t *testing.T) {
	f, c := newFakeServer(t), newClock()
	ts := keySource(f, c)
	var seen []string
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		auth := r.Header.Get("Authorization")
		seen = append(seen, auth+" "+string(body))
		if auth == "Bearer access-1" {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="the token was revoked"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(api.Close)
	hc := client.HTTPClient(context.Background(), ts)

	mustToken(t, ts) // access-1, soon revoked on the server
	f.setRefusal("refresh_token", http.StatusBadRequest, "invalid_grant")
	resp, err := hc.Post(api.URL, "text/plain", strings.NewReader("payload"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("status %d; want the retried request's answer", resp.StatusCode)
	}
	if want := []string{"Bearer access-1 payload", "Bearer access-2 payload"}; !slices.Equal(seen, want) {
		t.Errorf("API saw %q; want %q", seen, want)
	}
	if got, want := f.grants(), []string{"client_credentials", "refresh_token", "client_credentials"}; !slices.Equal(got, want) {
		t.Errorf("token requests %v; want %v", got, want)
	}

	// A refusal of another kind is passed on, with no retry.
	seen = nil
	api.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.Header.Get("Authorization"))
		w.Header().Set("WWW-Authenticate", `Bearer error="insufficient_scope"`)
		w.WriteHeader(http.StatusForbidden)
	})
	resp, err = hc.Get(api.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || len(seen) != 1 {
		t.Errorf("status %d after %d requests; want one 403", resp.StatusCode, len(seen))
	}
}

// TestUpdateKeyRequestJSON: only what changes is sent, and removing the expiry is an explicit null.
func TestUpdateKeyRequestJSON(t *testing.T) {
	at := time.Date(2031, 1, 31, 12, 0, 0, 0, time.FixedZone("", 3600))
	for _, tt := range []struct {
		req  client.UpdateKeyRequest
		want string
	}{
		{client.UpdateKeyRequest{Name: new("ci")}, `{"name":"ci"}`},
		{client.UpdateKeyRequest{IPs: &[]string{}, NoExpiry: true}, `{"expires_at":null,"ips":[]}`},
		{client.UpdateKeyRequest{Permissions: &[]string{"containers-view"}, ExpiresAt: &at}, `{"expires_at":"2031-01-31T11:00:00Z","permissions":["containers-view"]}`},
		{client.UpdateKeyRequest{Owner: new("usr_0123456789abcdef")}, `{"owner":"usr_0123456789abcdef"}`},
	} {
		got, err := json.Marshal(tt.req)
		if err != nil || string(got) != tt.want {
			t.Errorf("%+v: %s, %v; want %s", tt.req, got, err, tt.want)
		}
	}
	if _, err := json.Marshal(client.UpdateKeyRequest{ExpiresAt: &at, NoExpiry: true}); err == nil {
		t.Error("an expiry and its removal at once marshal")
	}
}

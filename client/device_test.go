package client_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/client"
)

// deviceServer is a token endpoint that answers the device code's polls with answers, in turn.
func deviceServer(t *testing.T, answers ...func(w http.ResponseWriter)) (*httptest.Server, *[]string) {
	var mu sync.Mutex
	var polls []string
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/.well-known/oauth-authorization-server":
			_ = json.NewEncoder(w).Encode(client.Metadata{Issuer: srv.URL, TokenEndpoint: srv.URL + "/token",
				DeviceAuthorizationEndpoint: srv.URL + "/device_authorization"})
		case "/device_authorization":
			if r.FormValue("client_id") != client.DeviceClientID || r.FormValue("project") != "web" {
				t.Errorf("device authorization form %v", r.Form)
			}
			_ = json.NewEncoder(w).Encode(client.DeviceAuthorization{DeviceCode: "dc", UserCode: "BCDF-GHJK",
				VerificationURI: srv.URL + "/device", VerificationURIComplete: srv.URL + "/device?user_code=BCDF-GHJK",
				ExpiresIn: 60, Interval: 1})
		case "/token":
			mu.Lock()
			n := len(polls)
			polls = append(polls, time.Now().Format(time.RFC3339Nano))
			mu.Unlock()
			if r.FormValue("grant_type") != client.GrantDeviceCode || r.FormValue("device_code") != "dc" {
				t.Errorf("token form %v", r.Form)
			}
			answers[min(n, len(answers)-1)](w)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &polls
}

func oauthAnswer(status int, code string, header ...string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		if len(header) == 2 {
			w.Header().Set(header[0], header[1])
		}
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": code})
	}
}

// TestDeviceLogin: the prompt gets the code; pending polls and a throttled one are waited out,
// and the tokens come once approved.
func TestDeviceLogin(t *testing.T) {
	srv, polls := deviceServer(t,
		oauthAnswer(400, "authorization_pending"),
		oauthAnswer(429, "temporarily_unavailable", "Retry-After", "2"),
		func(w http.ResponseWriter) {
			_ = json.NewEncoder(w).Encode(client.TokenResponse{AccessToken: "at", TokenType: "Bearer", ExpiresIn: 60, RefreshToken: "rt", RefreshExpiresIn: 120})
		})
	var prompted *client.DeviceAuthorization
	start := time.Now()
	tr, err := client.DeviceLogin(context.Background(), srv.URL, "web", func(d *client.DeviceAuthorization) { prompted = d })
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	// The waits (the 1 s interval, then Retry-After's 2 s) are logged, not asserted.
	t.Logf("three polls took %s: %v", took.Round(time.Millisecond), *polls)
	if prompted == nil || prompted.UserCode != "BCDF-GHJK" || tr.RefreshToken != "rt" || len(*polls) != 3 {
		t.Fatalf("prompted %+v, tokens %+v, %d polls", prompted, tr, len(*polls))
	}
}

func TestDeviceLoginRefusals(t *testing.T) {
	for code, want := range map[string]string{"access_denied": "denied", "expired_token": "expired", "invalid_grant": "invalid_grant"} {
		srv, _ := deviceServer(t, oauthAnswer(400, code))
		_, err := client.DeviceLogin(context.Background(), srv.URL, "web", func(*client.DeviceAuthorization) {})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one saying %q", code, err, want)
		}
	}
	// Giving up: a cancelled context stops the polling.
	srv, _ := deviceServer(t, oauthAnswer(400, "authorization_pending"))
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	if _, err := client.DeviceLogin(ctx, srv.URL, "web", func(*client.DeviceAuthorization) {}); err == nil {
		t.Error("a cancelled login succeeded")
	}
}

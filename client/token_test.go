package client_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/internal/fakeclock"
)

func keySource(f *fakeServer, c *fakeclock.Clock, mutate ...func(*client.Config)) oauth2.TokenSource {
	cfg := client.Config{Server: f.URL(), Key: f.key, Now: c.Now}
	for _, m := range mutate {
		m(&cfg)
	}
	return client.TokenSource(context.Background(), cfg)
}

func mustToken(t *testing.T, ts oauth2.TokenSource) *oauth2.Token {
	t.Helper()
	tok, err := ts.Token()
	if err != nil {
		t.Fatalf("Token: %v", err)
	}
	return tok
}

func TestTokenSourceExchangesWithBasicAndCaches(t *testing.T) {
	f, c := newFakeServer(t), newClock()
	ts := keySource(f, c, func(cfg *client.Config) { cfg.Scope = []string{"containers-view", "images-view"} })

	first := mustToken(t, ts)
	second := mustToken(t, ts)
	if first.AccessToken != "access-1" || second.AccessToken != "access-1" {
		t.Fatalf("tokens %q, %q; want the one exchanged token twice", first.AccessToken, second.AccessToken)
	}
	if got := f.grants(); !slices.Equal(got, []string{"client_credentials"}) {
		t.Fatalf("token requests %v; want one exchange", got)
	}
	r := f.last()
	if !r.HasBasic || r.BasicID != f.id || r.BasicSecret != f.key {
		t.Errorf("exchange authenticated as %q (basic %v); want the key id and key in HTTP Basic", r.BasicID, r.HasBasic)
	}
	if got := r.Form.Get("scope"); got != "containers-view images-view" {
		t.Errorf("scope %q; want the configured scope, space-separated", got)
	}
	if first.RefreshToken != "" {
		t.Errorf("the source leaked its refresh token to the caller")
	}
	if !first.Expiry.Equal(c.Now().Add(60 * time.Second)) {
		t.Errorf("expiry %v; want now + expires_in", first.Expiry)
	}
	if got := first.Extra("refresh_expires_in"); got != int64(120) {
		t.Errorf("Extra(refresh_expires_in) = %v", got)
	}
	if got := first.Extra("scope"); got != "containers-view images-view" {
		t.Errorf("Extra(scope) = %v", got)
	}
}

func TestTokenSourceRenews(t *testing.T) {
	tests := []struct {
		name string
		// advance moves the clock after the first exchange; refuse scripts the refresh's answer.
		advance       time.Duration
		refuse        fakeError
		wantGrants    []string
		wantErr       bool
		wantToken     string
		wantBasicOnRT bool
	}{
		{
			name: "valid access token is reused", advance: 49 * time.Second,
			wantGrants: []string{"client_credentials"}, wantToken: "access-1",
		},
		{
			name: "near expiry refreshes with the refresh token and the key", advance: 51 * time.Second,
			wantGrants: []string{"client_credentials", "refresh_token"}, wantToken: "access-2", wantBasicOnRT: true,
		},
		{
			name: "expired refresh token means a new exchange", advance: 121 * time.Second,
			wantGrants: []string{"client_credentials", "client_credentials"}, wantToken: "access-2",
		},
		{
			name: "refused refresh token means a new exchange at once", advance: 55 * time.Second,
			refuse:     fakeError{http.StatusBadRequest, "invalid_grant"},
			wantGrants: []string{"client_credentials", "refresh_token", "client_credentials"}, wantToken: "access-2",
		},
		{
			name: "a server failure while the token is valid serves the valid token", advance: 55 * time.Second,
			refuse:     fakeError{http.StatusServiceUnavailable, "temporarily_unavailable"},
			wantGrants: []string{"client_credentials", "refresh_token"}, wantToken: "access-1",
		},
		{
			name: "a server failure after expiry is the caller's error", advance: 61 * time.Second,
			refuse:     fakeError{http.StatusServiceUnavailable, "temporarily_unavailable"},
			wantGrants: []string{"client_credentials", "refresh_token"}, wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, c := newFakeServer(t), newClock()
			ts := keySource(f, c)
			mustToken(t, ts)
			c.Advance(tt.advance)
			if tt.refuse.code != "" {
				f.setRefusal("refresh_token", tt.refuse.status, tt.refuse.code)
			}
			tok, err := ts.Token()
			if got := f.grants(); !slices.Equal(got, tt.wantGrants) {
				t.Errorf("token requests %v; want %v", got, tt.wantGrants)
			}
			if tt.wantErr {
				var re *oauth2.RetrieveError
				if !errors.As(err, &re) || re.ErrorCode != tt.refuse.code {
					t.Fatalf("err = %v; want a RetrieveError %q", err, tt.refuse.code)
				}
				return
			}
			if err != nil {
				t.Fatalf("Token: %v", err)
			}
			if tok.AccessToken != tt.wantToken {
				t.Errorf("token %q; want %q", tok.AccessToken, tt.wantToken)
			}
			if tt.wantBasicOnRT {
				r := f.last()
				if r.RefreshToken != "refresh-1" || !r.HasBasic || r.BasicSecret != f.key {
					t.Errorf("refresh sent token %q, basic %v; want refresh-1 with the key", r.RefreshToken, r.HasBasic)
				}
			}
		})
	}
}

// A refresh whose answer was lost may have spent the token; presenting it again would look like
// token theft and revoke the session. The source exchanges the key instead.
func TestTokenSourceNeverRetriesARefreshToken(t *testing.T) {
	f, c := newFakeServer(t), newClock()
	ts := keySource(f, c)
	mustToken(t, ts)
	c.Advance(55 * time.Second)
	f.setRefusal("refresh_token", http.StatusBadGateway, "")
	mustToken(t, ts) // still valid: served from the cache
	f.setRefusal("refresh_token", 0, "")
	tok := mustToken(t, ts)
	want := []string{"client_credentials", "refresh_token", "client_credentials"}
	if got := f.grants(); !slices.Equal(got, want) {
		t.Fatalf("token requests %v; want %v", got, want)
	}
	if tok.AccessToken != "access-2" {
		t.Errorf("token %q; want the new exchange's", tok.AccessToken)
	}
}

func TestTokenSourceKeepsAShortLivedTokenForHalfItsLife(t *testing.T) {
	f, c := newFakeServer(t), newClock()
	f.accessTTL = 2
	ts := keySource(f, c)
	mustToken(t, ts)
	c.Advance(900 * time.Millisecond)
	mustToken(t, ts)
	c.Advance(200 * time.Millisecond)
	mustToken(t, ts)
	want := []string{"client_credentials", "refresh_token"}
	if got := f.grants(); !slices.Equal(got, want) {
		t.Fatalf("token requests %v; want %v (a 2 s token is renewed after 1 s, not at once)", got, want)
	}
}

func TestTokenSourceOneRenewalInFlight(t *testing.T) {
	f, c := newFakeServer(t), newClock()
	f.delay = 50 * time.Millisecond
	ts := keySource(f, c)
	var wg sync.WaitGroup
	tokens := make([]string, 32)
	for i := range tokens {
		wg.Go(func() {
			tok, err := ts.Token()
			if err != nil {
				t.Errorf("Token: %v", err)
				return
			}
			tokens[i] = tok.AccessToken
		})
	}
	wg.Wait()
	if got := f.grants(); len(got) != 1 {
		t.Fatalf("%d token requests for 32 concurrent callers; want 1", len(got))
	}
	for _, tok := range tokens {
		if tok != "access-1" {
			t.Fatalf("a caller got %q", tok)
		}
	}
}

func TestTokenSourceErrors(t *testing.T) {
	t.Run("refused key is a RetrieveError", func(t *testing.T) {
		f, c := newFakeServer(t), newClock()
		f.setRefusal("client_credentials", http.StatusUnauthorized, "invalid_client")
		_, err := keySource(f, c).Token()
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) || re.ErrorCode != "invalid_client" || re.Response.StatusCode != 401 {
			t.Fatalf("err = %#v; want a RetrieveError invalid_client 401", err)
		}
		if strings.Contains(err.Error(), f.key) {
			t.Errorf("the error shows the key: %v", err)
		}
	})
	t.Run("malformed key fails before any request", func(t *testing.T) {
		f, c := newFakeServer(t), newClock()
		bad := f.key[:len(f.key)-1] + "x"
		if bad == f.key {
			bad = f.key[:len(f.key)-1] + "y"
		}
		_, err := keySource(f, c, func(cfg *client.Config) { cfg.Key = bad }).Token()
		if err == nil || !strings.Contains(err.Error(), "checksum") {
			t.Fatalf("err = %v; want a checksum complaint", err)
		}
		if strings.Contains(err.Error(), bad) {
			t.Errorf("the error shows the key: %v", err)
		}
		if n := len(f.grants()); n != 0 {
			t.Errorf("%d token requests for a malformed key", n)
		}
	})
	t.Run("metadata of another issuer", func(t *testing.T) {
		f, c := newFakeServer(t), newClock()
		f.issuer = "https://elsewhere.example"
		_, err := keySource(f, c).Token()
		if err == nil || !strings.Contains(err.Error(), "elsewhere") {
			t.Fatalf("err = %v; want an issuer mismatch", err)
		}
		if n := len(f.grants()); n != 0 {
			t.Errorf("the key was sent to an endpoint of another issuer")
		}
	})
	t.Run("server URL that is not http", func(t *testing.T) {
		_, err := client.TokenSource(context.Background(), client.Config{Server: "ftp://x", Key: newFakeServer(t).key}).Token()
		if err == nil || !strings.Contains(err.Error(), "not an http or https URL") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("trailing slash on the server URL is fine", func(t *testing.T) {
		f, c := newFakeServer(t), newClock()
		mustToken(t, keySource(f, c, func(cfg *client.Config) { cfg.Server += "/" }))
	})
}

func TestExchangeAndPasswordLogin(t *testing.T) {
	f, c := newFakeServer(t), newClock()
	resp, err := client.Exchange(context.Background(), client.Config{Server: f.URL(), Key: f.key, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	if resp.RefreshToken == "" || resp.RefreshExpiry.IsZero() || resp.TokenType != "Bearer" {
		t.Errorf("Exchange = %+v; want the whole response", resp)
	}

	login, err := client.PasswordLogin(context.Background(), f.URL(), "ada@example.com", "correct horse", "web-shop")
	if err != nil {
		t.Fatal(err)
	}
	r := f.last()
	if r.Grant != "password" || r.Form.Get("project") != "web-shop" || r.HasBasic {
		t.Errorf("login sent %+v", r)
	}
	if login.RefreshToken == "" {
		t.Errorf("login lacks the refresh token")
	}
	_, err = client.PasswordLogin(context.Background(), f.URL(), "ada@example.com", "wrong", "")
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
		t.Errorf("wrong password: err = %v", err)
	}
}

func TestSessionTokenSource(t *testing.T) {
	f, c := newFakeServer(t), newClock()
	login, err := client.PasswordLogin(context.Background(), f.URL(), "ada@example.com", "correct horse", "")
	if err != nil {
		t.Fatal(err)
	}
	stored := login.OAuth2()
	var rotated []*oauth2.Token
	ts := client.SessionTokenSource(context.Background(), client.SessionConfig{
		Server: f.URL(), Token: stored, Now: c.Now,
		OnRotate: func(tok *oauth2.Token) { rotated = append(rotated, tok) },
	})
	// The stored token's expiry came from the real clock; the fake one is years ahead.
	tok, err := ts.Token()
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken != "access-2" || len(rotated) != 1 || rotated[0].RefreshToken != "refresh-2" {
		t.Fatalf("token %q, rotated %v; want a refresh handing over the new pair", tok.AccessToken, rotated)
	}
	if r := f.last(); r.Grant != "refresh_token" || r.RefreshToken != "refresh-1" || r.HasBasic {
		t.Errorf("refresh sent %+v", r)
	}
	mustToken(t, ts) // cached
	if n := len(f.grants()); n != 2 {
		t.Errorf("%d token requests; want 2", n)
	}

	// A server failure keeps the refresh token for the next try.
	c.Advance(time.Hour)
	f.setRefusal("refresh_token", http.StatusServiceUnavailable, "temporarily_unavailable")
	if _, err := ts.Token(); err == nil || errors.Is(err, client.ErrLoginRequired) {
		t.Fatalf("err = %v; want a plain failure", err)
	}
	f.setRefusal("refresh_token", 0, "")
	if tok := mustToken(t, ts); tok.AccessToken != "access-3" {
		t.Fatalf("token %q after the server came back", tok.AccessToken)
	}

	// Once the session is gone, the error says to log in again, every time.
	c.Advance(time.Hour)
	f.setRefusal("refresh_token", http.StatusBadRequest, "invalid_grant")
	for range 2 {
		_, err = ts.Token()
		if !errors.Is(err, client.ErrLoginRequired) || !strings.Contains(err.Error(), "log in again") {
			t.Fatalf("err = %v; want ErrLoginRequired", err)
		}
	}
}

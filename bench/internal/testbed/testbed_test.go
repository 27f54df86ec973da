package testbed_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/bench/internal/fakekeyward"
	"github.com/keyward/keyward/bench/internal/testbed"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/internal/token"
)

func TestRefreshTokenOf(t *testing.T) {
	tests := []struct {
		body string
		want string
		ok   bool
	}{
		{`{"access_token":"a.b.c","refresh_token":"r1","expires_in":7200}`, "r1", true},
		{`{"refresh_token":"abcDEF-_012"}`, "abcDEF-_012", true},
		{`{"refresh_token":""}`, "", false},
		{`{"refresh_token":"unterminated`, "", false},
		{`{"refresh_token":"with\"escape"}`, "", false},
		{`{"error":"invalid_grant"}`, "", false},
		{`{"refresh_token": "spaced"}`, "", false},
	}
	for _, tt := range tests {
		got, ok := testbed.RefreshTokenOf([]byte(tt.body))
		if got != tt.want || ok != tt.ok {
			t.Errorf("testbed.RefreshTokenOf(%s) = %q, %v; want %q, %v", tt.body, got, ok, tt.want, tt.ok)
		}
	}
}

func FuzzRefreshTokenOf(f *testing.F) {
	f.Add([]byte(`{"access_token":"a.b.c","refresh_token":"r1"}`))
	f.Add([]byte(`"refresh_token":"`))
	f.Fuzz(func(t *testing.T, body []byte) {
		tok, ok := testbed.RefreshTokenOf(body)
		if !ok {
			return
		}
		if tok == "" || strings.ContainsAny(tok, `"\`) || !bytes.Contains(body, []byte(`"refresh_token":"`+tok+`"`)) {
			t.Fatalf("testbed.RefreshTokenOf(%q) = %q", body, tok)
		}
	})
}

func TestCheckAnswer(t *testing.T) {
	fake, to := fakekeyward.New(t, nil)
	good := fakekeyward.Claims(fake.URL)
	answer := func(edit func(c *token.Claims, tr *client.TokenResponse)) []byte {
		c := *good
		tr := client.TokenResponse{TokenType: "Bearer", ExpiresIn: 3600, RefreshToken: strings.Repeat("r", 43), RefreshExpiresIn: 10800, Scope: strings.Join(c.Scope, " ")}
		if edit != nil {
			edit(&c, &tr)
		}
		tr.AccessToken = fake.Mint(&c)
		b, _ := json.Marshal(tr)
		return b
	}
	if _, _, err := testbed.CheckAnswer(answer(nil), to.Tokens, good.ClientID); err != nil {
		t.Fatalf("good answer rejected: %v", err)
	}
	for name, edit := range map[string]func(*token.Claims, *client.TokenResponse){
		"other key": func(c *token.Claims, _ *client.TokenResponse) {
			c.Subject, c.ClientID = "key:Other0000000000", "Other0000000000"
		},
		"user token": func(c *token.Claims, _ *client.TokenResponse) { c.Subject = "user:" + c.ClientID },
		"expired": func(c *token.Claims, _ *client.TokenResponse) {
			c.IssuedAt, c.Expiry = time.Now().Add(-time.Hour), time.Now().Add(-time.Minute)
		},
		"other issuer":       func(c *token.Claims, _ *client.TokenResponse) { c.Issuer = "http://127.0.0.1:1" },
		"missing permission": func(c *token.Claims, _ *client.TokenResponse) { c.Scope = []string{"containers-view"} },
		"no session":         func(c *token.Claims, _ *client.TokenResponse) { c.SessionID = "" },
		"short refresh":      func(_ *token.Claims, tr *client.TokenResponse) { tr.RefreshToken = "short" },
		"not bearer":         func(_ *token.Claims, tr *client.TokenResponse) { tr.TokenType = "mac" },
	} {
		if _, _, err := testbed.CheckAnswer(answer(edit), to.Tokens, good.ClientID); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// A token signed by another issuer's key, even one with the same claims, is refused.
	_, other := fakekeyward.New(t, nil)
	if _, _, err := testbed.CheckAnswer(answer(nil), other.Tokens, good.ClientID); err == nil {
		t.Error("a token of another signing key: accepted")
	}
}

func TestParseMetrics(t *testing.T) {
	text := "# HELP go_goroutines Number of goroutines.\n# TYPE go_goroutines gauge\ngo_goroutines 42\n" +
		"go_gc_duration_seconds{quantile=\"0\"} 1e-05\nprocess_resident_memory_bytes 3.3554432e+07\n" +
		"go_goroutines_total_not_this 7\n"
	m, err := testbed.ParseMetrics(strings.NewReader(text), "go_goroutines", "process_resident_memory_bytes")
	if err != nil {
		t.Fatal(err)
	}
	if m["go_goroutines"] != 42 || m["process_resident_memory_bytes"] != 32<<20 {
		t.Fatalf("got %v", m)
	}
	if _, err := testbed.ParseMetrics(strings.NewReader("go_goroutines 1\n"), "go_goroutines", "process_resident_memory_bytes"); err == nil {
		t.Error("a missing metric must be an error")
	}
	if _, err := testbed.ParseMetrics(strings.NewReader("go_goroutines x\n"), "go_goroutines"); err == nil {
		t.Error("a malformed value must be an error")
	}
}

func TestTail(t *testing.T) {
	if got := testbed.Tail("a\nb\nc\nd\n", 2); got != "c\nd\n" {
		t.Errorf("tail = %q", got)
	}
	if got := testbed.Tail("only", 5); got != "only\n" {
		t.Errorf("tail = %q", got)
	}
}

func BenchmarkRefreshTokenOf(b *testing.B) {
	body := []byte(`{"access_token":"` + strings.Repeat("x", 600) + `","token_type":"Bearer","expires_in":7200,"refresh_token":"` +
		strings.Repeat("r", 43) + `","refresh_expires_in":10800,"scope":"containers-view containers-manage images-view images-manage"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := testbed.RefreshTokenOf(body); !ok {
			b.Fatal("no token")
		}
	}
}

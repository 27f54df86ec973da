package ceiling

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/bench/internal/fakekeyward"
	"github.com/keyward/keyward/bench/internal/load"
	"github.com/keyward/keyward/client"
)

// TestMain lets the test binary be the ceiling process too, as the bench binary is.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == Command {
		if err := Run(os.Args[2:], os.Stdin, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, "ceiling:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// The signing ceiling runs as a process of its own, gets its keys on standard input, reports the
// port it bound and answers with tokens of those keys.
func TestStartSigningCeiling(t *testing.T) {
	const issuer = "http://127.0.0.1:8080"
	keys, err := NewKeys(context.Background(), time.Hour, issuer, issuer)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Start(Config{Keys: keys.Keys, TokenTTL: keys.TokenTTL, Template: *fakekeyward.Claims(issuer), Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	resp, err := http.Post(p.URL, load.FormContentType, strings.NewReader("grant_type=client_credentials"))
	if err != nil {
		t.Fatal(err)
	}
	var tr client.TokenResponse
	err = json.NewDecoder(resp.Body).Decode(&tr)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("HTTP %d, %v", resp.StatusCode, err)
	}
	if _, err := keys.Verifier.Verify(tr.AccessToken); err != nil {
		t.Errorf("the ceiling's token does not verify with the keys it was given: %v", err)
	}
	p.Stop()
	if code, err := p.ExitCode(time.Minute); err != nil || code != 0 {
		t.Errorf("exit %d, %v: SIGTERM must end the ceiling gracefully\n%s", code, err, p.Logs())
	}
}

func TestCeilingHandler(t *testing.T) {
	const issuer = "http://127.0.0.1:8080"
	ctx := context.Background()
	keys, err := NewKeys(ctx, time.Hour, issuer, issuer)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := *fakekeyward.Claims(issuer)
	h, err := newCeilingHandler(ctx, Config{Keys: keys.Keys, TokenTTL: keys.TokenTTL, Template: tmpl, Lifetime: time.Hour}, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	seen := map[string]bool{}
	for range 3 {
		resp, err := http.Post(srv.URL, load.FormContentType, strings.NewReader("grant_type=client_credentials"))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		var tr client.TokenResponse
		if err := json.Unmarshal(body, &tr); err != nil {
			t.Fatalf("answer %s: %v", body, err)
		}
		c, err := keys.Verifier.Verify(tr.AccessToken)
		if err != nil {
			t.Fatalf("ceiling token does not verify: %v", err)
		}
		if c.Subject != tmpl.Subject || !slices.Equal(c.Scope, tmpl.Scope) || c.SessionID != tmpl.SessionID || c.Project != tmpl.Project {
			t.Errorf("claims %+v do not follow the template %+v", c, tmpl)
		}
		if c.ID == "" || seen[c.ID] {
			t.Errorf("jti %q: want a fresh one", c.ID)
		}
		seen[c.ID] = true
		if c.Expiry.Sub(c.IssuedAt) != time.Hour || tr.ExpiresIn != 3600 {
			t.Errorf("lifetime %s, expires_in %d, want 1h", c.Expiry.Sub(c.IssuedAt), tr.ExpiresIn)
		}
	}
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: status %d, want 405", resp.StatusCode)
	}
}

// TestVerifyHandler: the verifying ceiling accepts exactly the issuer's tokens that have not
// expired, so its throughput is that of real verification work.
func TestVerifyHandler(t *testing.T) {
	fake, to := fakekeyward.New(t, nil)
	other, _ := fakekeyward.New(t, nil)
	h := &verifyHandler{tokens: to.Tokens}
	sign := func(f *fakekeyward.Keyward, exp time.Duration) string {
		c := fakekeyward.Claims(fake.URL)
		c.IssuedAt, c.Expiry = time.Now().Add(exp-time.Hour), time.Now().Add(exp)
		return f.Mint(c)
	}
	good := sign(fake, time.Hour)
	for _, tc := range []struct {
		name, auth string
		want       int
	}{
		{"valid", "Bearer " + good, http.StatusOK},
		{"expired", "Bearer " + sign(fake, -time.Minute), http.StatusUnauthorized},
		{"other key", "Bearer " + sign(other, time.Hour), http.StatusUnauthorized},
		{"tampered", "Bearer " + good[:len(good)-2] + "AA", http.StatusUnauthorized},
		{"no bearer", "Basic abc", http.StatusUnauthorized},
	} {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodGet, "/v1/projects/p/containers", nil)
		r.Header.Set("Authorization", tc.auth)
		h.ServeHTTP(w, r)
		if w.Code != tc.want {
			t.Errorf("%s: HTTP %d, want %d", tc.name, w.Code, tc.want)
		}
		if tc.want == http.StatusOK && w.Body.String() != `{"data":[]}` {
			t.Errorf("%s: body %q", tc.name, w.Body)
		}
	}
}

func BenchmarkCeilingMint(b *testing.B) {
	const issuer = "http://127.0.0.1:8080"
	keys, err := NewKeys(context.Background(), time.Hour, issuer, issuer)
	if err != nil {
		b.Fatal(err)
	}
	h, err := newCeilingHandler(context.Background(), Config{Keys: keys.Keys, TokenTTL: keys.TokenTTL, Template: *fakekeyward.Claims(issuer), Lifetime: time.Hour}, time.Now)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.mint(); err != nil {
			b.Fatal(err)
		}
	}
}

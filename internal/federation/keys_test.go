package federation_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/fakeclock"
	"github.com/keyward/keyward/internal/federation"
	"github.com/keyward/keyward/internal/federation/fedtest"
)

// counting wraps an issuer, counting the requests it serves, and failing them while down is set.
type counting struct {
	hits atomic.Int64
	down atomic.Bool
}

func (c *counting) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.hits.Add(1)
		if c.down.Load() {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// proxied serves iss's documents at a new address through c, and returns an issuer whose URL
// (and tokens' iss) is that address.
func proxied(t *testing.T, iss *fedtest.Issuer, c *counting) *fedtest.Issuer {
	t.Helper()
	var self string
	ts := httptest.NewServer(c.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resp, err := http.Get(iss.URL + r.URL.Path)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		var body strings.Builder
		buf := make([]byte, 4096)
		for {
			n, err := resp.Body.Read(buf)
			body.Write(buf[:n])
			if err != nil {
				break
			}
		}
		w.Write([]byte(strings.ReplaceAll(body.String(), iss.URL, self)))
	})))
	t.Cleanup(ts.Close)
	self = ts.URL
	return &fedtest.Issuer{URL: ts.URL, KID: iss.KID, Key: iss.Key}
}

func trusted(url string) []*keyward.FederationIssuer {
	return []*keyward.FederationIssuer{{ID: "fis_1", ProjectID: "prj_1", Issuer: url, Audiences: []string{fedtest.Audience}}}
}

// TestKeysCache: keys are fetched once, again for an unknown kid at most every 30 seconds, kept
// when the issuer goes down, and an issuer that cannot be reached at all is unavailable.
func TestKeysCache(t *testing.T) {
	clock := fakeclock.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	var c counting
	iss := proxied(t, fedtest.New(t, "k1"), &c)
	keys := &federation.Keys{AllowInsecure: true, Now: clock.Now}
	ctx := context.Background()

	for range 3 {
		if _, _, err := keys.Verify(ctx, iss.Sign(t, clock.Now(), nil), trusted(iss.URL), clock.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if got := c.hits.Load(); got != 2 { // discovery and the key set, once
		t.Fatalf("%d fetches for three tokens, want 2", got)
	}

	forged := &fedtest.Issuer{URL: iss.URL, KID: "unknown", Key: iss.Key}
	for range 5 {
		if _, _, err := keys.Verify(ctx, forged.Sign(t, clock.Now(), nil), trusted(iss.URL), clock.Now()); !errors.Is(err, federation.ErrSignature) {
			t.Fatalf("an unknown kid: %v", err)
		}
	}
	if got := c.hits.Load(); got != 2 {
		t.Fatalf("unknown kids right after a fetch caused %d more fetches, want none", got-2)
	}
	clock.Advance(31 * time.Second)
	keys.Verify(ctx, forged.Sign(t, clock.Now(), nil), trusted(iss.URL), clock.Now())
	keys.Verify(ctx, forged.Sign(t, clock.Now(), nil), trusted(iss.URL), clock.Now())
	if got := c.hits.Load(); got != 4 {
		t.Fatalf("after 31 s, two unknown kids caused %d fetches, want one refetch (2)", got-2)
	}

	// The issuer goes down: the keys known keep verifying, past their ten minutes too.
	c.down.Store(true)
	clock.Advance(11 * time.Minute)
	if _, _, err := keys.Verify(ctx, iss.Sign(t, clock.Now(), nil), trusted(iss.URL), clock.Now()); err != nil {
		t.Fatalf("a known key while the issuer is down: %v", err)
	}

	// An issuer never reached is unavailable, with a time to retry.
	fresh := &federation.Keys{AllowInsecure: true, Now: clock.Now}
	_, _, err := fresh.Verify(ctx, iss.Sign(t, clock.Now(), nil), trusted(iss.URL), clock.Now())
	var down *federation.Unavailable
	if !errors.As(err, &down) || down.RetryAfter <= 0 {
		t.Fatalf("an unreachable issuer: %v", err)
	}
	before := c.hits.Load()
	fresh.Verify(ctx, iss.Sign(t, clock.Now(), nil), trusted(iss.URL), clock.Now())
	if c.hits.Load() != before {
		t.Errorf("a failure is not remembered: the issuer was asked again at once")
	}
}

// TestKeysRefuseRedirectsAndLies: a discovery document naming another issuer, a redirect to
// another host and plain http without the operator's leave are refused.
func TestKeysRefuseRedirectsAndLies(t *testing.T) {
	clock := fakeclock.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	ctx := context.Background()
	liar := fedtest.New(t, "k1")
	liar.ClaimedIssuer = "https://accounts.example.com"
	keys := &federation.Keys{AllowInsecure: true, Now: clock.Now}
	if _, _, err := keys.Verify(ctx, liar.Sign(t, clock.Now(), nil), trusted(liar.URL), clock.Now()); !errors.Is(err, federation.ErrDiscoveryIssuer) {
		t.Errorf("a lying discovery document: %v", err)
	}

	elsewhere := fedtest.New(t, "k1")
	// 127.0.0.1 and localhost are one machine but two hosts.
	target := strings.Replace(elsewhere.URL, "127.0.0.1", "localhost", 1)
	redirect2 := httptest.NewServer(http.RedirectHandler(target+"/.well-known/openid-configuration", http.StatusFound))
	t.Cleanup(redirect2.Close)
	forged := &fedtest.Issuer{URL: redirect2.URL, KID: "k1", Key: elsewhere.Key}
	var down *federation.Unavailable
	if _, _, err := keys.Verify(ctx, forged.Sign(t, clock.Now(), nil), trusted(redirect2.URL), clock.Now()); !errors.As(err, &down) ||
		!strings.Contains(err.Error(), "redirect") {
		t.Errorf("a redirect to another host: %v", err)
	}

	strict := &federation.Keys{Now: clock.Now}
	var c counting
	good := proxied(t, fedtest.New(t, "k1"), &c)
	if _, _, err := strict.Verify(ctx, good.Sign(t, clock.Now(), nil), trusted(good.URL), clock.Now()); !errors.As(err, &down) {
		t.Errorf("plain http without --federation-allow-insecure: %v", err)
	}
	if c.hits.Load() != 0 {
		t.Errorf("a plain http issuer was asked %d times without the operator's leave", c.hits.Load())
	}
}

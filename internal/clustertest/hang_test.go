package clustertest_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/clustertest"
	"github.com/keyward/keyward/internal/kwtest"
	"github.com/keyward/keyward/internal/pgtest"
	"github.com/keyward/keyward/internal/server"
)

// TestHungDatabase puts a proxy that stops forwarding without closing anything between a server
// and PostgreSQL: connections in the pool and new ones alike wait for answers that never come.
// Every request of a concurrent batch must still be answered, with 503, and the server must serve
// again once the database answers.
func TestHungDatabase(t *testing.T) {
	db := pgtest.Fresh(t)
	proxy, err := clustertest.NewProxy(db.URL.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	s := kwtest.Start(t, kwtest.WithConfig(func(c *server.Config) {
		c.DB, c.MasterKey = db.DSN(proxy.Addr()), kwtest.NewMasterKey()
	}))
	admin := s.AdminToken(t)
	key := s.CreateKey(t, admin, "default", kwtest.KeyRequest{Name: "hung", Permissions: []string{"images-view"}})

	const n = 8
	// Runs n exchanges at once and returns their statuses; a request that gets no answer before
	// the client gives up counts as 0. The client's limit is far beyond the store's deadline,
	// so that a request that escapes it fails the test instead of hanging it.
	batch := func() []int {
		statuses := make([]int, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
				defer cancel()
				form := url.Values{"grant_type": {"client_credentials"}}
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/oauth/token", strings.NewReader(form.Encode()))
				if err != nil {
					return
				}
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				kwtest.Basic(key.ID, key.Secret)(req)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Logf("exchange %d: %v", i, err)
					return
				}
				resp.Body.Close()
				statuses[i] = resp.StatusCode
			})
		}
		wg.Wait()
		return statuses
	}

	// Warm up the pool, so that the hang catches idle connections as well as new ones.
	for i, st := range batch() {
		if st != http.StatusOK {
			t.Fatalf("exchange %d before the hang: %d", i, st)
		}
	}

	proxy.Hang()
	for i, st := range batch() {
		if st != http.StatusServiceUnavailable {
			t.Errorf("exchange %d with the database hung: got %d, want 503 (0: no answer)", i, st)
		}
	}
	if r := s.Do(t, http.MethodGet, "/readyz", nil); r.Status != http.StatusServiceUnavailable {
		t.Errorf("/readyz with the database hung: %s", r)
	}

	proxy.Restore()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := s.Send(http.MethodGet, "/readyz", nil)
		if err == nil && r.Status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready 30 s after the database answered again: %v %v", r, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.Exchange(t, key.Secret)
}

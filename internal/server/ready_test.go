package server_test

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/kwtest"
)

// TestReadyWhenWritesFail: a database that answers reads but refuses writes (a full disk, a
// read-only file, a standby in the primary's place) makes /readyz answer 503 with the reason, so
// that a load balancer stops sending traffic, and 200 again once writes succeed.
func TestReadyWhenWritesFail(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			var opts []kwtest.Option
			if engine == "postgres" {
				opts = append(opts, kwtest.OnPostgres(t))
			}
			s := kwtest.Start(t, opts...)
			admin := s.AdminToken(t)
			key := s.CreateKey(t, admin, "default", kwtest.KeyRequest{Name: "ready", Permissions: []string{"images-view"}})
			if r := s.Do(t, http.MethodGet, "/readyz", nil); r.Status != http.StatusOK {
				t.Fatalf("/readyz before the fault: %s", r)
			}

			s.Srv.Store().FailWrites(errors.New("database or disk is full"))
			r := s.TokenRequest(t, url.Values{"grant_type": {"client_credentials"}}, kwtest.Basic(key.ID, key.Secret))
			kwtest.RequireOAuthError(t, r, http.StatusServiceUnavailable, "temporarily_unavailable")
			// Twice: a probe that fails must not be taken for a success the next time.
			for range 2 {
				r = s.Do(t, http.MethodGet, "/readyz", nil)
				if r.Status != http.StatusServiceUnavailable || !strings.Contains(string(r.Body), "database not accepting writes") {
					t.Fatalf("/readyz while writes fail: %s", r)
				}
				if r.Header.Get("Retry-After") == "" {
					t.Error("/readyz answered 503 without Retry-After")
				}
			}

			s.Srv.Store().FailWrites(nil)
			if r := s.Do(t, http.MethodGet, "/readyz", nil); r.Status != http.StatusOK {
				t.Fatalf("/readyz once writes work again: %s", r)
			}
			s.Exchange(t, key.Secret)
		})
	}
}

package clustertest_test

import (
	"crypto/subtle"
	"database/sql"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/clustertest"
	"github.com/keyward/keyward/internal/kwtest"
	"github.com/keyward/keyward/internal/pgtest"
	"github.com/keyward/keyward/internal/token"
)

// TestDatabaseFaults points an instance at its database through a proxy that the test cuts and
// restores: the database is down at start, goes down while serving, and breaks in the middle of
// refreshes. The machine's PostgreSQL itself is never stopped.
func TestDatabaseFaults(t *testing.T) {
	db := pgtest.Fresh(t)
	proxy, err := clustertest.NewProxy(db.URL.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	master := kwtest.NewMasterKey()
	opts := func(name string, args ...string) clustertest.Options {
		return clustertest.Options{Name: name, DB: db.DSN(proxy.Addr()), Issuer: issuer, MasterKey: master, Args: args}
	}

	// Launched here, not in the subtest, so that they outlive it.
	proxy.Cut()
	patient := clustertest.Launch(t, opts("C", "--db-wait", "2m"))
	impatient := clustertest.Launch(t, opts("D", "--db-wait", "1s"))
	var c *clustertest.Instance
	t.Run("down at start: the instance waits, then starts when the database is back", func(t *testing.T) {

		select {
		case <-impatient.Exited():
		case <-time.After(time.Minute):
			t.Fatal("with --db-wait 1s the instance still runs a minute later")
		}
		if impatient.ExitError() == nil {
			t.Error("gave up on the database but exited with status 0")
		}
		if logs := impatient.Logs(); !strings.Contains(logs, "still unreachable after 1s (--db-wait)") {
			t.Errorf("the exit message does not say why:\n%s", logs)
		}

		waitForLog(t, patient, "database unreachable; retrying")
		select {
		case <-patient.Exited():
			t.Fatalf("gave up while --db-wait had not passed: %v", patient.ExitError())
		default:
		}
		proxy.Restore()
		if err := patient.WaitReady(time.Minute); err != nil {
			t.Fatalf("after the database came back: %v", err)
		}
		c = patient
	})
	if c == nil {
		t.FailNow()
	}

	t.Run("a database that does not exist ends the start at once", func(t *testing.T) {
		u := *db.URL
		u.Path = "/" + db.Name + "_missing"
		in := clustertest.Launch(t, clustertest.Options{Name: "E", DB: u.String(), Issuer: issuer, MasterKey: master, Args: []string{"--db-wait", "2m"}})
		select {
		case <-in.Exited():
		case <-time.After(30 * time.Second):
			t.Fatal("an instance given a missing database kept running: only unreachable databases are waited for")
		}
		if logs := in.Logs(); !strings.Contains(logs, "does not exist") || strings.Contains(logs, "retrying") {
			t.Errorf("want an immediate, clear failure:\n%s", logs)
		}
	})

	admin := c.Login(t, clustertest.AdminEmail, clustertest.AdminPassword, "").AccessToken
	key := c.CreateKey(t, admin, "default", kwtest.KeyRequest{Name: "faulty", Permissions: []string{"images-view"}})

	t.Run("down while serving: 503 everywhere, then recovery without a restart", func(t *testing.T) {
		tok := c.Exchange(t, key.Secret)
		proxy.Cut()
		restored := false
		defer func() {
			if !restored {
				proxy.Restore()
			}
		}()

		if r := c.Do(t, http.MethodGet, "/readyz", nil); r.Status != http.StatusServiceUnavailable {
			t.Errorf("/readyz with the database down: %s", r)
		}
		if r := c.Do(t, http.MethodGet, "/healthz", nil); r.Status != http.StatusOK {
			t.Errorf("/healthz with the database down: %s (the process itself is fine)", r)
		}
		requireUnavailable := func(what string, r *kwtest.Response) {
			t.Helper()
			if r.Header.Get("Retry-After") == "" {
				t.Errorf("%s: 503 without Retry-After", what)
			}
		}
		r := c.TokenRequest(t, url.Values{"grant_type": {"client_credentials"}}, kwtest.Basic(key.ID, key.Secret))
		kwtest.RequireOAuthError(t, r, http.StatusServiceUnavailable, "temporarily_unavailable")
		requireUnavailable("exchange", r)
		r = c.Refresh(t, tok.RefreshToken)
		kwtest.RequireOAuthError(t, r, http.StatusServiceUnavailable, "temporarily_unavailable")
		requireUnavailable("refresh", r)
		r = c.Introspect(t, tok.AccessToken, kwtest.Bearer(admin))
		kwtest.RequireOAuthError(t, r, http.StatusServiceUnavailable, "temporarily_unavailable")
		requireUnavailable("introspection", r)
		r = c.API(t, http.MethodGet, "/v1/projects/default/api-keys", admin, nil)
		kwtest.RequireProblem(t, r, http.StatusServiceUnavailable)
		requireUnavailable("management API", r)
		r = c.CreateKeyResponse(t, admin, "default", kwtest.KeyRequest{Name: "while-down", Permissions: []string{"images-view"}})
		kwtest.RequireProblem(t, r, http.StatusServiceUnavailable)

		proxy.Restore()
		restored = true
		if err := c.WaitReady(30 * time.Second); err != nil {
			t.Fatalf("no recovery after the database came back: %v", err)
		}
		// Nothing was spent while the database was down: the refresh token still works, once.
		kwtest.RequireToken(t, c.Refresh(t, tok.RefreshToken))
		c.Exchange(t, key.Secret)
		c.CreateKey(t, admin, "default", kwtest.KeyRequest{Name: "after-outage", Permissions: []string{"images-view"}})
	})

	t.Run("a connection cut mid-refresh leaves the old state or the new one, never both or neither", func(t *testing.T) {
		outcomes := map[string]int{}
		for after := 0; after < 20; after++ {
			tok := c.Exchange(t, key.Secret)
			fired := proxy.CutInTransaction(after)
			r := c.Refresh(t, tok.RefreshToken)
			var cut bool
			select {
			case cut = <-fired:
			case <-time.After(10 * time.Second):
				t.Fatalf("cut %d: the proxy never saw the refresh's transaction end", after)
			}
			outcome := checkAfterCut(t, c, db.Admin, admin, tok, r)
			t.Logf("cut after %d writes into the transaction: cut %t, %s", after, cut, outcome)
			outcomes[outcome]++
			if !cut {
				break // the transaction has fewer writes: every point was tried
			}
		}
		// Both sides of the commit were hit; otherwise the cuts missed the transaction.
		for _, want := range []string{outcomeKept, outcomeLost} {
			if outcomes[want] == 0 {
				t.Errorf("no cut ended in %q; outcomes: %v", want, outcomes)
			}
		}
	})
}

// Outcomes of a refresh whose database connection was cut.
const (
	outcomeKept      = "503, nothing spent: the old token works once"
	outcomeLost      = "503 after the commit: the old token is spent and its successor stored"
	outcomeCompleted = "200: the old token is spent and the new one works"
)

// checkAfterCut checks the invariant after a refresh whose connection may have been cut: either
// the old refresh token is unspent (and then works exactly once) or it is spent and exactly one
// live successor exists; never both usable, never neither.
func checkAfterCut(t *testing.T, c *clustertest.Instance, db *sql.DB, admin string, old *kwtest.Token, r *kwtest.Response) string {
	t.Helper()
	_, claims := kwtest.DecodeJWT(t, old.AccessToken)
	sid, _ := claims["sid"].(string)
	oldHash := token.HashRefreshToken(old.RefreshToken)
	// The session's row holds its live token; refresh_tokens holds the spent ones.
	var current []byte
	var revoked bool
	if err := db.QueryRow("SELECT refresh_hash, revoked_at IS NOT NULL FROM sessions WHERE id = $1", sid).Scan(&current, &revoked); err != nil {
		t.Fatal(err)
	}
	var spent int
	if err := db.QueryRow("SELECT count(*) FROM refresh_tokens WHERE session_id = $1 AND hash = $2 AND consumed_at IS NOT NULL", sid, oldHash).Scan(&spent); err != nil {
		t.Fatal(err)
	}
	oldLive := subtle.ConstantTimeCompare(current, oldHash) == 1
	oldSpent := spent == 1
	live := 0
	if !oldLive && len(current) > 0 {
		live = 1
	}
	if oldLive == oldSpent || revoked {
		t.Fatalf("after the cut the session is revoked (%t), or the old token is both or neither live (%t) and spent (%t)", revoked, oldLive, oldSpent)
	}

	switch {
	case r.Status == http.StatusOK:
		next := kwtest.RequireToken(t, r)
		if !oldSpent || live != 1 {
			t.Fatalf("answered 200, but the old token is spent: %t, live successors: %d", oldSpent, live)
		}
		kwtest.RequireToken(t, c.Refresh(t, next.RefreshToken))
		kwtest.RequireOAuthError(t, c.Refresh(t, old.RefreshToken), http.StatusBadRequest, "invalid_grant")
		return outcomeCompleted
	case r.Status == http.StatusServiceUnavailable:
		kwtest.RequireOAuthError(t, r, http.StatusServiceUnavailable, "temporarily_unavailable")
		if !oldSpent {
			if live != 0 {
				t.Fatalf("the old token is unspent and %d successors exist: both would be usable", live)
			}
			kwtest.RequireToken(t, c.Refresh(t, old.RefreshToken))
			kwtest.RequireOAuthError(t, c.Refresh(t, old.RefreshToken), http.StatusBadRequest, "invalid_grant")
			return outcomeKept
		}
		if live != 1 {
			t.Fatalf("the old token is spent and %d successors exist, want exactly 1", live)
		}
		// The answer was lost with the connection; presenting the spent token again is reuse.
		kwtest.RequireOAuthError(t, c.Refresh(t, old.RefreshToken), http.StatusBadRequest, "invalid_grant")
		return outcomeLost
	}
	t.Fatalf("refresh with a cut connection: want 200 or 503, got %s", r)
	return ""
}

// waitForLog waits until the instance has logged text.
func waitForLog(t *testing.T, in *clustertest.Instance, text string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(in.Logs(), text) {
		if time.Now().After(deadline) {
			t.Fatalf("keyward %s never logged %q", in.Name, text)
		}
		select {
		case <-in.Exited():
			t.Fatalf("keyward %s exited: %v", in.Name, in.ExitError())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

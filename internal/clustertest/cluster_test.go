package clustertest_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/clustertest"
	"github.com/keyward/keyward/internal/kwtest"
	"github.com/keyward/keyward/internal/pgtest"
	"github.com/keyward/keyward/internal/proctest"
	"github.com/keyward/keyward/middleware"
	"github.com/keyward/keyward/revocation"
)

func TestMain(m *testing.M) {
	code := m.Run()
	proctest.Clean()
	os.Exit(code)
}

// issuer is what every instance of a cluster calls itself: the load balancer's address. Plain
// http, so that a resource server's middleware can be pointed at one instance under this name.
const issuer = "http://keyward.example"

// startCluster starts n instances on one fresh database at the same moment, so that they also
// race to migrate the schema, create the instance admin and make the first signing key.
func startCluster(t *testing.T, n int, extra ...string) (*pgtest.Database, []*clustertest.Instance) {
	t.Helper()
	db := pgtest.Fresh(t)
	master := kwtest.NewMasterKey()
	ins := make([]*clustertest.Instance, n)
	for i := range ins {
		ins[i] = clustertest.Launch(t, clustertest.Options{
			Name: string(rune('A' + i)), DB: db.DSN(""), Issuer: issuer, MasterKey: master, Args: extra,
		})
	}
	for _, in := range ins {
		if err := in.WaitReady(time.Minute); err != nil {
			t.Fatalf("keyward %s: %v", in.Name, err)
		}
	}
	return db, ins
}

// TestInstancesActAsOneService runs two real keyward processes on one database and checks each
// item of the "done when", in order; the last kills A.
func TestInstancesActAsOneService(t *testing.T) {
	db, ins := startCluster(t, 2)
	a, b := ins[0], ins[1]
	admin := a.Login(t, clustertest.AdminEmail, clustertest.AdminPassword, "").AccessToken

	var users int
	if err := db.Admin.QueryRow("SELECT COUNT(*) FROM users").Scan(&users); err != nil {
		t.Fatal(err)
	}
	if users != 1 {
		t.Fatalf("two instances starting at once created %d instance admins, want 1", users)
	}

	t.Run("every instance serves the same JWKS", func(t *testing.T) {
		ja := a.Do(t, http.MethodGet, "/.well-known/jwks.json", nil)
		jb := b.Do(t, http.MethodGet, "/.well-known/jwks.json", nil)
		if ja.Status != http.StatusOK || !bytes.Equal(ja.Body, jb.Body) {
			t.Fatalf("JWKS differ:\nA: %s\nB: %s", ja, jb)
		}
		var set struct{ Keys []json.RawMessage }
		ja.JSON(t, &set)
		if len(set.Keys) != 1 {
			t.Errorf("instances starting at once published %d keys, want 1: %s", len(set.Keys), ja)
		}
		ma := a.Do(t, http.MethodGet, "/.well-known/oauth-authorization-server", nil)
		mb := b.Do(t, http.MethodGet, "/.well-known/oauth-authorization-server", nil)
		if !bytes.Equal(ma.Body, mb.Body) || a.Metadata(t).Issuer != issuer {
			t.Errorf("metadata differ:\nA: %s\nB: %s", ma, mb)
		}
	})

	key := a.CreateKey(t, admin, "default", kwtest.KeyRequest{Name: "shared", Permissions: []string{"images-view"}})

	t.Run("a key created on A exchanges on B", func(t *testing.T) {
		tok := b.Exchange(t, key.Secret)
		kwtest.RequireActive(t, a.Introspect(t, tok.AccessToken, kwtest.Bearer(admin)))
		if r := a.API(t, http.MethodGet, "/v1/me", tok.AccessToken, nil); r.Status != http.StatusOK {
			t.Errorf("B's access token on A's API: %s", r)
		}
	})

	t.Run("B's session refreshes on A, and back", func(t *testing.T) {
		tok := b.Exchange(t, key.Secret)
		next := kwtest.RequireToken(t, a.Refresh(t, tok.RefreshToken))
		kwtest.RequireToken(t, b.Refresh(t, next.RefreshToken))
	})

	t.Run("a refresh token spent on A is refused on B, which revokes the session", func(t *testing.T) {
		tok := b.Exchange(t, key.Secret)
		next := kwtest.RequireToken(t, a.Refresh(t, tok.RefreshToken))
		kwtest.RequireOAuthError(t, b.Refresh(t, tok.RefreshToken), http.StatusBadRequest, "invalid_grant")
		kwtest.RequireOAuthError(t, a.Refresh(t, next.RefreshToken), http.StatusBadRequest, "invalid_grant")
		kwtest.RequireInactive(t, b.Introspect(t, next.AccessToken, kwtest.Bearer(admin)))
	})

	t.Run("20 races of one refresh token sent to both instances at once each have one winner", func(t *testing.T) {
		wins := map[string]int{}
		for i := range 20 {
			tok := ins[i%2].Exchange(t, key.Secret)
			got := race(t, tok.RefreshToken, a, b)
			var ok, refused []string
			for name, r := range got {
				switch {
				case r.Status == http.StatusOK:
					ok = append(ok, name)
				case r.Status == http.StatusBadRequest && strings.Contains(string(r.Body), `"invalid_grant"`):
					refused = append(refused, name)
				default:
					t.Fatalf("race %d: %s answered %s", i, name, r)
				}
			}
			if len(ok) != 1 || len(refused) != 1 {
				t.Fatalf("race %d: %d successes (%v) and %d invalid_grant (%v), want one of each", i, len(ok), ok, len(refused), refused)
			}
			wins[ok[0]]++
		}
		t.Logf("winners: A %d, B %d", wins["A"], wins["B"])
	})

	t.Run("a deletion on B ends the key's sessions on A at once", func(t *testing.T) {
		doomed := a.CreateKey(t, admin, "default", kwtest.KeyRequest{Name: "doomed", Permissions: []string{"images-view"}})
		tok := a.Exchange(t, doomed.Secret)
		follower := follow(t, a, "")
		mw := resourceServer(t, a)
		if _, err := mw.Verify(tok.AccessToken); err != nil {
			t.Fatalf("the middleware refuses a live token: %v", err)
		}
		b.DeleteKey(t, admin, "default", doomed.ID)
		deleted := time.Now()
		kwtest.RequireOAuthError(t, a.Refresh(t, tok.RefreshToken), http.StatusBadRequest, "invalid_grant")
		kwtest.RequireInactive(t, a.Introspect(t, tok.AccessToken, kwtest.Bearer(admin)))
		kwtest.RequireProblem(t, a.API(t, http.MethodGet, "/v1/me", tok.AccessToken, nil), http.StatusUnauthorized)
		r := a.TokenRequest(t, url.Values{"grant_type": {"client_credentials"}}, kwtest.Basic(doomed.ID, doomed.Secret))
		kwtest.RequireOAuthError(t, r, http.StatusUnauthorized, "invalid_client")

		// A follower of A's revocation feed learns of the deletion made through B.
		took, err := follower.waitFor("key", doomed.ID, deleted, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("A's revocation stream delivered B's deletion %s after the DELETE answered", took)

		// So does a resource server's middleware that follows A's feed: it refuses the token.
		for {
			_, err := mw.Verify(tok.AccessToken)
			if err != nil {
				t.Logf("the middleware following A refused the token %s after the DELETE on B answered: %v", time.Since(deleted), err)
				break
			}
			if time.Since(deleted) > 10*time.Second {
				t.Fatal("the middleware following A still accepts the deleted key's token after 10s")
			}
			time.Sleep(20 * time.Millisecond)
		}
	})

	before := a.Exchange(t, key.Secret)
	t.Run("killing A leaves B serving", func(t *testing.T) {
		a.Kill()
		if err := b.WaitReady(5 * time.Second); err != nil {
			t.Fatalf("B after A died: %v", err)
		}
		tok := b.Exchange(t, key.Secret)
		kwtest.RequireToken(t, b.Refresh(t, tok.RefreshToken))
		kwtest.RequireToken(t, b.Refresh(t, before.RefreshToken)) // a session A started
		kwtest.RequireActive(t, b.Introspect(t, before.AccessToken, kwtest.Bearer(admin)))
		b.CreateKey(t, admin, "default", kwtest.KeyRequest{Name: "after-a", Permissions: []string{"images-view"}})
	})
}

// race sends one refresh token to every instance at the same moment: each request waits on an
// already open keep-alive connection until a barrier releases all of them together.
func race(t *testing.T, refreshToken string, ins ...*clustertest.Instance) map[string]*kwtest.Response {
	t.Helper()
	body := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}}.Encode()
	barrier := make(chan struct{})
	var ready, done sync.WaitGroup
	got := make(map[string]*kwtest.Response, len(ins))
	errs := make(map[string]error, len(ins))
	var mu sync.Mutex
	for _, in := range ins {
		ready.Add(1)
		done.Go(func() {
			c := &http.Client{Timeout: 30 * time.Second}
			defer c.CloseIdleConnections()
			cl := &kwtest.Client{URL: in.URL, HTTP: c}
			// Opens the connection the raced request will reuse.
			_, err := cl.Send(http.MethodGet, "/healthz", nil)
			ready.Done()
			<-barrier
			var r *kwtest.Response
			if err == nil {
				r, err = cl.Send(http.MethodPost, "/oauth/token", strings.NewReader(body),
					kwtest.Header("Content-Type", "application/x-www-form-urlencoded"))
			}
			mu.Lock()
			got[in.Name], errs[in.Name] = r, err
			mu.Unlock()
		})
	}
	ready.Wait()
	close(barrier)
	done.Wait()
	for name, err := range errs {
		if err != nil {
			t.Fatalf("race: %s: %v", name, err)
		}
	}
	return got
}

// follower reads an instance's revocation feed as a Server-Sent Events stream, as verifiers do.
type follower struct {
	events chan feedEvent
}

type feedEvent struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	at   time.Time
}

// follow opens in's revocation stream after cursor and reads it until the test ends.
func follow(t *testing.T, in *clustertest.Instance, cursor string) *follower {
	t.Helper()
	path := "/v1/revocations"
	if cursor != "" {
		path += "?after=" + url.QueryEscape(cursor)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, in.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		t.Fatalf("revocation stream: HTTP %d", resp.StatusCode)
	}
	f := &follower{events: make(chan feedEvent, 100)}
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				continue
			}
			var e feedEvent
			if json.Unmarshal([]byte(data), &e) == nil {
				e.at = time.Now()
				f.events <- e
			}
		}
		close(f.events)
	}()
	return f
}

// waitFor returns how long after since the entry (kind, id) arrived, failing after limit.
func (f *follower) waitFor(kind, id string, since time.Time, limit time.Duration) (time.Duration, error) {
	timeout := time.After(limit)
	for {
		select {
		case e, ok := <-f.events:
			if !ok {
				return 0, errString("the revocation stream ended")
			}
			if e.Type == kind && e.ID == revocation.Name(kind, id) {
				return e.at.Sub(since), nil
			}
		case <-timeout:
			return 0, errString("no " + kind + " " + id + " in the revocation stream after " + limit.String())
		}
	}
}

type errString string

func (e errString) Error() string { return string(e) }

// resourceServer is keyward's middleware as a platform API would run it, configured with the
// cluster's issuer but connected to in alone: every request for the issuer's host goes to in.
func resourceServer(t *testing.T, in *clustertest.Instance) *middleware.Verifier {
	t.Helper()
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, in.Addr)
		},
	}}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	v, err := middleware.New(ctx, middleware.Config{Issuer: issuer, HTTPClient: hc})
	if err != nil {
		t.Fatalf("middleware following %s: %v", in.Name, err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

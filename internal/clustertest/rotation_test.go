package clustertest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/clustertest"
	"github.com/keyward/keyward/internal/fakeclock"
	"github.com/keyward/keyward/internal/kwtest"
	"github.com/keyward/keyward/internal/pgtest"
	"github.com/keyward/keyward/internal/server"
)

// TestRotationAcrossInstances runs two servers in this process on one PostgreSQL database with
// a shared fake clock, and maintenance every few milliseconds, so that both try every stage of a
// rotation at nearly the same moment. Each stage must be written exactly once (the key set's
// version moves by one), and both must serve the same JWKS and sign with the same key.
func TestRotationAcrossInstances(t *testing.T) {
	db := pgtest.Fresh(t)
	clock := fakeclock.New(time.Now().Truncate(time.Second))
	master := kwtest.NewMasterKey()
	const (
		accessTTL = 10 * time.Minute
		cacheTTL  = 5 * time.Minute
		rotation  = time.Hour
		lead      = 15 * time.Minute // a quarter of the rotation: a successor is published that long before it signs
	)
	start := func(name string) *kwtest.Client {
		cfg := server.DefaultConfig()
		cfg.Addr = "127.0.0.1:0"
		cfg.DB = db.DSN("")
		cfg.Issuer = issuer
		cfg.MasterKey = master
		cfg.AdminEmail, cfg.AdminPassword = clustertest.AdminEmail, clustertest.AdminPassword
		cfg.AccessTTL, cfg.JWKSCacheTTL, cfg.SigningKeyRotation = accessTTL, cacheTTL, rotation
		cfg.KeyMaintenance = 5 * time.Millisecond
		cfg.Now = clock.Now
		cfg.Stdout, cfg.Stderr = io.Discard, io.Discard
		srv, err := server.New(t.Context(), cfg)
		if err != nil {
			t.Fatalf("server %s: %v", name, err)
		}
		ctx, stop := context.WithCancel(context.Background())
		ready := make(chan string, 1)
		done := make(chan error, 1)
		go func() { done <- srv.Run(ctx, ready) }()
		t.Cleanup(func() {
			stop()
			if err := <-done; err != nil {
				t.Errorf("server %s: %v", name, err)
			}
			srv.Close()
		})
		select {
		case addr := <-ready:
			return kwtest.NewClient("http://" + addr)
		case err := <-done:
			t.Fatalf("server %s: %v", name, err)
		}
		return nil
	}
	a, b := start("A"), start("B")
	admin := a.Login(t, clustertest.AdminEmail, clustertest.AdminPassword, "").AccessToken
	key := a.CreateKey(t, admin, "default", kwtest.KeyRequest{Name: "rotating", Permissions: []string{"images-view"}})

	version := func() int64 {
		var v int64
		if err := db.Admin.QueryRow("SELECT version FROM signing_key_version WHERE id = 1").Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	// settle waits until both servers publish the same JWKS with n keys, and returns their kids.
	settle := func(stage string, n int) []string {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			ja := a.Do(t, http.MethodGet, "/.well-known/jwks.json", nil)
			jb := b.Do(t, http.MethodGet, "/.well-known/jwks.json", nil)
			kids := jwksKids(t, ja.Body)
			if bytes.Equal(ja.Body, jb.Body) && len(kids) == n {
				return kids
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the servers never agreed on a JWKS of %d keys:\nA: %s\nB: %s", stage, n, ja, jb)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// signer returns the kid both servers sign with; they must agree.
	signer := func(stage string) string {
		t.Helper()
		ha, _ := kwtest.DecodeJWT(t, a.Exchange(t, key.Secret).AccessToken)
		hb, _ := kwtest.DecodeJWT(t, b.Exchange(t, key.Secret).AccessToken)
		if ha["kid"] != hb["kid"] {
			t.Fatalf("%s: A signs with %v, B with %v", stage, ha["kid"], hb["kid"])
		}
		return ha["kid"].(string)
	}
	// written checks that a stage was written exactly once: the version reaches want and stays
	// there while both servers keep maintaining.
	written := func(stage string, want int64) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for version() < want && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(200 * time.Millisecond) // dozens of maintenance rounds on both servers
		if v := version(); v != want {
			t.Fatalf("%s: key set version %d, want %d", stage, v, want)
		}
	}
	advanceTo := func(at time.Time) { clock.Advance(at.Sub(clock.Now())) }

	first := settle("start", 1)
	v := version()
	if k := signer("start"); k != first[0] {
		t.Fatalf("signing with %s, but the JWKS has %v", k, first)
	}
	active := clock.Now() // the first key signs from the moment it was made
	for round := range 3 {
		current := signer("before the rotation")

		// The successor is published lead before the current key retires.
		advanceTo(active.Add(rotation - lead + time.Minute))
		v++
		written("successor published", v)
		kids := settle("successor published", 2)
		if k := signer("successor published"); k != current || kids[1] != current {
			t.Fatalf("round %d: JWKS %v (newest first), signing with %s, want %s", round, kids, k, current)
		}
		next := kids[0]

		// At the retirement time the successor signs, on both, with nothing written.
		advanceTo(active.Add(rotation + time.Second))
		if k := signer("successor active"); k != next {
			t.Fatalf("round %d: after the rotation both sign with %s, want %s", round, k, next)
		}
		written("successor active", v)

		// The old key leaves the set once every token it signed has expired.
		advanceTo(active.Add(rotation + accessTTL + cacheTTL + time.Second))
		v++
		written("old key unpublished", v)
		if kids := settle("old key unpublished", 1); kids[0] != next {
			t.Fatalf("round %d: JWKS %v after the old key's tokens expired, want [%s]", round, kids, next)
		}
		active = active.Add(rotation)
	}
}

func jwksKids(t *testing.T, body []byte) []string {
	t.Helper()
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatalf("JWKS is not JSON: %s", body)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.Kid)
	}
	return kids
}

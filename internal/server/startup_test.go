package server_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/server"
)

// TestConfigRejectsContradictions: settings that cannot work are refused before anything opens.
func TestConfigRejectsContradictions(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(*server.Config)
		want string
	}{
		{"negative database wait", func(c *server.Config) { c.DBWait = -time.Second }, "--db-wait"},
		{"no JWKS cache lifetime", func(c *server.Config) { c.JWKSCacheTTL = 0 }, "--jwks-cache-ttl"},
		{"maintenance slower than half the JWKS cache lifetime", func(c *server.Config) { c.KeyMaintenance = 6 * time.Minute }, "maintenance interval"},
		{"negative maintenance interval", func(c *server.Config) { c.KeyMaintenance = -time.Second }, "maintenance interval"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := server.DefaultConfig()
			cfg.DB = "sqlite:" + filepath.Join(t.TempDir(), "never-created", "k.db")
			tc.set(&cfg)
			_, err := server.New(t.Context(), cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, want an error naming %s", err, tc.want)
			}
			if _, statErr := os.Stat(filepath.Dir(strings.TrimPrefix(cfg.DB, "sqlite:"))); !errors.Is(statErr, fs.ErrNotExist) {
				t.Errorf("the database folder was created for a configuration that was refused (%v)", statErr)
			}
		})
	}
}

// TestUnreachableDatabaseAtStart: a database that refuses connections is retried for --db-wait,
// then New gives up with a message that says so; with --db-wait 0 it gives up at once.
func TestUnreachableDatabaseAtStart(t *testing.T) {
	// A port that was free a moment ago refuses connections.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	for _, tc := range []struct {
		wait    time.Duration
		retried bool
	}{
		{0, false},
		{700 * time.Millisecond, true},
	} {
		var logs bytes.Buffer
		cfg := server.DefaultConfig()
		cfg.DB = "postgres://keyward@" + addr + "/keyward?sslmode=disable"
		cfg.MasterKey = strings.Repeat("ab", 32)
		cfg.DBWait = tc.wait
		cfg.Stdout, cfg.Stderr = &logs, &logs
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		_, err := server.New(ctx, cfg)
		cancel()
		if err == nil {
			t.Fatalf("--db-wait %s: New succeeded without a database", tc.wait)
		}
		retried := strings.Contains(logs.String(), "database unreachable; retrying")
		if retried != tc.retried {
			t.Errorf("--db-wait %s: retried %t, want %t\n%s", tc.wait, retried, tc.retried, logs.String())
		}
		if tc.retried && !strings.Contains(err.Error(), "still unreachable after 700ms (--db-wait)") {
			t.Errorf("--db-wait %s: the error does not say it waited: %v", tc.wait, err)
		}
	}
}

// TestStartFailuresThatWaitingCannotCure end New at once, whatever --db-wait says.
func TestStartFailuresThatWaitingCannotCure(t *testing.T) {
	var logs bytes.Buffer
	cfg := server.DefaultConfig()
	dir := t.TempDir()
	cfg.DB = "sqlite:" + filepath.Join(dir, "k.db")
	cfg.MasterKey = "not a master key"
	cfg.DBWait = time.Hour
	cfg.Stdout, cfg.Stderr = &logs, &logs
	if _, err := server.New(t.Context(), cfg); err == nil || !strings.Contains(err.Error(), "KEYWARD_MASTER_KEY") {
		t.Fatalf("New with a malformed master key: %v", err)
	}
	cfg.MasterKey = ""
	cfg.DB = "mysql://root@db/keyward"
	if _, err := server.New(t.Context(), cfg); err == nil || !strings.Contains(err.Error(), "Unsupported database") {
		t.Fatalf("New with an unsupported database: %v", err)
	}
	if strings.Contains(logs.String(), "retrying") {
		t.Errorf("retried a failure that waiting cannot cure:\n%s", logs.String())
	}
}

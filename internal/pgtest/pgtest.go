// Package pgtest gives tests a fresh PostgreSQL database of their own, dropped when they end; it
// skips without a server, except under CI=true, where a missing database is a failure.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
)

// DefaultPostgres is the server the tests use unless KEYWARD_TEST_POSTGRES names another: the
// machine's own PostgreSQL with trust authentication, as CI starts it.
const DefaultPostgres = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// Database is a fresh, empty PostgreSQL database that is dropped when the test ends.
type Database struct {
	URL  *url.URL // postgres://…/NAME
	Name string
	// Admin is a connection to the database itself, bypassing any proxy, for tests that read
	// what the instances stored.
	Admin *sql.DB
}

// DSN returns the database's address, with its host replaced by hostPort when not empty (the
// address of a Proxy in front of the server).
func (d *Database) DSN(hostPort string) string {
	u := *d.URL
	if hostPort != "" {
		u.Host = hostPort
	}
	return u.String()
}

// Fresh creates an empty database on the test PostgreSQL server. It skips the test when
// the server cannot be reached, and fails it instead when CI=true: CI must never pass by skipping.
func Fresh(t testing.TB) *Database {
	t.Helper()
	base := os.Getenv("KEYWARD_TEST_POSTGRES")
	if base == "" {
		base = DefaultPostgres
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("KEYWARD_TEST_POSTGRES is not a postgres:// URL: %v", err)
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		msg := fmt.Sprintf("PostgreSQL unreachable at %s (set KEYWARD_TEST_POSTGRES): %v", u.Redacted(), err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	b := make([]byte, 6)
	rand.Read(b)
	name := "keyward_test_" + hex.EncodeToString(b)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	// Commits skip the disk flush: the database need not survive a crash of the machine, and
	// the tests run several times faster where fsync is slow. A commit is as visible and as
	// atomic as with a flush.
	if _, err := admin.ExecContext(ctx, "ALTER DATABASE "+name+" SET synchronous_commit = off"); err != nil {
		t.Fatal(err)
	}
	du := *u
	du.Path = "/" + name
	direct, err := sql.Open("pgx", du.String())
	if err != nil {
		t.Fatal(err)
	}
	direct.SetMaxOpenConns(2)
	// Registered after the DROP, so it runs before it: cleanups run last-in first-out.
	t.Cleanup(func() { direct.Close() })
	return &Database{URL: &du, Name: name, Admin: direct}
}

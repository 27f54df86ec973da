package sqlstore_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/pgtest"
	"github.com/keyward/keyward/internal/sqlstore"
	"github.com/keyward/keyward/internal/storetest"
)

func openSQLite(t testing.TB, path string) *sqlstore.DB {
	t.Helper()
	db, err := sqlstore.Open(context.Background(), "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestSQLiteConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) keyward.Store {
		return openSQLite(t, filepath.Join(t.TempDir(), "keyward.db"))
	})
}

// TestSQLiteSharedConformance runs the suite with every subtest on one database, as the
// PostgreSQL run does, so that a subtest relying on a fresh database shows up without
// PostgreSQL.
func TestSQLiteSharedConformance(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyward.db")
	storetest.Run(t, func(t *testing.T) keyward.Store { return openSQLite(t, path) })
}

func TestPostgresConformance(t *testing.T) {
	dsn := freshPostgres(t)
	storetest.Run(t, func(t *testing.T) keyward.Store {
		db, err := sqlstore.Open(t.Context(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}

func TestOpenRejectsUnknownAddresses(t *testing.T) {
	for _, dsn := range []string{
		"",
		"keyward.db",
		"./data/keyward.db",
		"mysql://root:hunter2@db/keyward",
		"sqlite3:keyward.db",
		"sqlite:",
		"sqlite::memory:",
		"postgres:/missing-slashes",
		"file:keyward.db",
	} {
		db, err := sqlstore.Open(t.Context(), dsn)
		if err == nil {
			db.Close()
			t.Errorf("Open(%q) succeeded", dsn)
			continue
		}
		if keyward.ErrorCode(err) != keyward.EINVALID {
			t.Errorf("Open(%q): code %s, want %s (%v)", dsn, keyward.ErrorCode(err), keyward.EINVALID, err)
		}
		msg := keyward.ErrorMessage(err)
		if !strings.Contains(msg, "sqlite:PATH") {
			t.Errorf("Open(%q): message %q does not name the accepted forms", dsn, msg)
		}
		if strings.Contains(msg, "hunter2") {
			t.Errorf("Open(%q): message %q repeats the password", dsn, msg)
		}
	}
}

func TestSQLiteCreatesPrivateFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "nested")
	path := filepath.Join(dir, "key?ward #1.db") // characters a URI would otherwise misread
	db := openSQLite(t, path)
	if db.Dialect() != sqlstore.DialectSQLite {
		t.Fatalf("Dialect() = %q", db.Dialect())
	}
	// Something to write, so that the WAL files exist.
	if err := db.AppendAudit(t.Context(), &keyward.AuditEvent{At: time.Now(), Action: keyward.AuditLogin}); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]os.FileMode{
		dir:               0o700,
		filepath.Dir(dir): 0o700,
		path:              0o600,
		path + "-wal":     0o600,
		path + "-shm":     0o600,
	} {
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %o, want %o", filepath.Base(name), got, want)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "key?ward #1.db") {
			t.Errorf("unexpected file %q: the path was misread", e.Name())
		}
	}
}

func TestSQLiteRelativePath(t *testing.T) {
	t.Chdir(t.TempDir())
	db := openSQLite(t, "./keyward-data/keyward.db")
	if err := db.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join("keyward-data", "keyward.db")); err != nil {
		t.Fatal(err)
	}
}

func TestSQLitePragmas(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyward.db")
	openSQLite(t, path)
	// Read the persistent settings back through a connection of our own.
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var mode string
	if err := raw.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" {
		t.Fatalf("journal_mode = %q, want wal", mode)
	}
}

func TestSQLiteReopenKeepsDataAndSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyward.db")
	ctx := t.Context()
	db, err := sqlstore.Open(ctx, "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	u := &keyward.User{ID: "usr_reopen", Email: "reopen@example.com", PasswordHash: "x", CreatedAt: time.Unix(1, 0)}
	if err := db.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	for range 2 { // migrations find nothing to do, twice
		db = openSQLite(t, path)
		if _, err := db.UserByEmail(ctx, u.Email); err != nil {
			t.Fatal(err)
		}
		if v := gooseVersion(t, "sqlite", path); v != schemaVersion {
			t.Fatalf("schema version %d, want %d", v, schemaVersion)
		}
		db.Close()
	}
}

// schemaVersion is the newest migration, in both dialects (00009 is the Go migration of
// namekey.go).
const schemaVersion = 24

func gooseVersion(t testing.TB, driver, dsn string) int64 {
	t.Helper()
	raw, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var v int64
	if err := raw.QueryRow("SELECT MAX(version_id) FROM goose_db_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSQLiteIntegrityCheck(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyward.db")
	db := openSQLite(t, path)
	if err := db.IntegrityCheck(t.Context()); err != nil {
		t.Fatalf("fresh database: %v", err)
	}

	// Break an index behind SQLite's back: the check must say so.
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	ctx := t.Context()
	if err := db.CreateUser(ctx, &keyward.User{ID: "usr_1", Email: "one@example.com", PasswordHash: "x"}); err != nil {
		t.Fatal(err)
	}
	conn, err := raw.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// An index whose entries disagree with its table.
	for _, q := range []string{
		"CREATE INDEX users_hash ON users (password_hash)",
		"PRAGMA writable_schema = ON",
		"UPDATE sqlite_schema SET sql = 'CREATE INDEX users_hash ON users (email)' WHERE name = 'users_hash'",
		"PRAGMA writable_schema = RESET",
	} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	conn.Close()
	raw.Close()

	db2 := openSQLite(t, path)
	err = db2.IntegrityCheck(ctx)
	if err == nil || !strings.Contains(err.Error(), "users_hash") {
		t.Fatalf("IntegrityCheck of a corrupt index = %v, want an error naming it", err)
	}
}

// TestSQLiteTwoProcesses has two stores write to one file at once, as two keyward processes
// sharing a data folder would: the busy timeout and IMMEDIATE transactions make them wait their
// turn instead of failing with "database is locked".
func TestSQLiteTwoProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyward.db")
	a, b := openSQLite(t, path), openSQLite(t, path)
	ctx := t.Context()
	var wg sync.WaitGroup
	errs := make(chan error, 400)
	for i, db := range []*sqlstore.DB{a, b, a, b} {
		wg.Go(func() {
			for j := range 50 {
				e := &keyward.AuditEvent{ProjectID: "p", At: time.Unix(int64(j), 0), Action: keyward.AuditLogin, Target: fmt.Sprint(i)}
				if err := db.AppendAudit(ctx, e); err != nil {
					errs <- err
				}
				if err := db.RevokeSession(ctx, "ses_missing", "x", time.Unix(0, 0)); keyward.ErrorCode(err) != keyward.ENOTFOUND {
					errs <- fmt.Errorf("revoke: %w", err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	events, err := a.AuditEvents(ctx, "p", 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 200 {
		t.Fatalf("%d events stored, want 200", len(events))
	}
}

// freshPostgres returns the DSN of an empty database of the test's own (see pgtest.Fresh).
func freshPostgres(t testing.TB) string {
	t.Helper()
	return pgtest.Fresh(t).DSN("")
}

func TestPostgresConcurrentOpens(t *testing.T) {
	dsn := freshPostgres(t)
	const n = 4
	dbs := make([]*sqlstore.DB, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { dbs[i], errs[i] = sqlstore.Open(t.Context(), dsn) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("open %d: %v", i, errs[i])
		}
		t.Cleanup(func() { dbs[i].Close() })
	}
	for i, db := range dbs {
		if db.Dialect() != sqlstore.DialectPostgres {
			t.Fatalf("Dialect() = %q", db.Dialect())
		}
		// Every instance sees one schema, and can use it.
		u := &keyward.User{ID: fmt.Sprintf("usr_%d", i), Email: fmt.Sprintf("u%d@example.com", i), PasswordHash: "x"}
		if err := db.CreateUser(t.Context(), u); err != nil {
			t.Fatal(err)
		}
		if err := db.IntegrityCheck(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if v := gooseVersion(t, "pgx", dsn); v != schemaVersion {
		t.Fatalf("schema version %d, want %d", v, schemaVersion)
	}
	var applied int
	raw, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if err := raw.QueryRow("SELECT COUNT(*) FROM goose_db_version WHERE version_id = 1").Scan(&applied); err != nil {
		t.Fatal(err)
	}
	if applied != 1 {
		t.Fatalf("migration 1 recorded %d times", applied)
	}

	// Reopening migrates nothing and keeps the data.
	db, err := sqlstore.Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if n, err := db.CountUsers(t.Context()); err != nil || n != 4 {
		t.Fatalf("CountUsers after reopening = %d, %v", n, err)
	}
}

func TestPostgresBadAddress(t *testing.T) {
	for _, dsn := range []string{
		// A port nothing listens on.
		"postgres://keyward:s3cret-pw@127.0.0.1:1/keyward?sslmode=disable&connect_timeout=2",
		"postgresql://keyward:s3cret-pw@127.0.0.1:notaport/keyward",
		"postgres://keyward:s3cret-pw@127.0.0.1/keyward?sslmode=bogus",
	} {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		db, err := sqlstore.Open(ctx, dsn)
		cancel()
		if err == nil {
			db.Close()
			t.Errorf("Open(%s) succeeded", dsn)
		} else if strings.Contains(err.Error(), "s3cret-pw") {
			t.Errorf("error repeats the password: %v", err)
		}
	}
}

// TestPingProbesWrites: Ping finds out on its own that writes fail, even with no traffic to
// tell it, and once a write has succeeded it trusts writes for a while rather than writing on
// every probe.
func TestPingProbesWrites(t *testing.T) {
	db := openSQLite(t, filepath.Join(t.TempDir(), "keyward.db"))
	ctx := t.Context()
	db.FailWrites(errors.New("database or disk is full"))
	err := db.Ping(ctx)
	if !errors.Is(err, sqlstore.ErrWritesFailing) {
		t.Fatalf("Ping of a fresh store whose writes fail: %v, want ErrWritesFailing", err)
	}
	db.FailWrites(nil)
	if err := db.Ping(ctx); err != nil {
		t.Fatalf("Ping once writes work: %v", err)
	}
	// The probe that just succeeded vouches for writes: the next Ping does not write, so it
	// does not see the fault; the next failing write of real traffic does.
	db.FailWrites(errors.New("database or disk is full"))
	if err := db.Ping(ctx); err != nil {
		t.Fatalf("Ping right after a successful write: %v", err)
	}
	if err := db.AppendAudit(ctx, &keyward.AuditEvent{Action: keyward.AuditLogin, At: time.Now()}); err == nil {
		t.Fatal("a write succeeded while writes fail")
	}
	if err := db.Ping(ctx); !errors.Is(err, sqlstore.ErrWritesFailing) {
		t.Fatalf("Ping after a failed write: %v, want ErrWritesFailing", err)
	}
}

package sqlstore

import (
	"database/sql"
	"io/fs"
	"path/filepath"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/pgtest"
)

// Names stored before migration 9 that already look alike are all kept, as typed; the oldest
// holds the name, so that no further look-alike can join them.

func TestSQLiteUpgradeKeepsLookAlikeNames(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyward.db")
	testUpgradeKeepsLookAlikeNames(t, "sqlite", "file:"+path, goose.DialectSQLite3, "migrations/sqlite", "sqlite:"+path)
}

func TestPostgresUpgradeKeepsLookAlikeNames(t *testing.T) {
	dsn := pgtest.Fresh(t).DSN("")
	testUpgradeKeepsLookAlikeNames(t, "pgx", dsn, goose.DialectPostgres, "migrations/postgres", dsn)
}

func testUpgradeKeepsLookAlikeNames(t *testing.T, driver, raw string, dialect goose.Dialect, dir, dsn string) {
	ctx := t.Context()
	now := time.Date(2031, 5, 1, 12, 0, 0, 0, time.UTC)
	old, err := sql.Open(driver, raw)
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := fs.Sub(migrations, dir)
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(dialect, old, fsys, goose.WithDisableGlobalRegistry(true), goose.WithGoMigrations(nameKeyMigration(dialect)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, nameKeyVersion-1); err != nil {
		t.Fatal(err)
	}
	us := func(d time.Duration) int64 { return now.Add(d).UnixMicro() }
	const insertKey = "INSERT INTO api_keys (id, project_id, name, ips, permissions, secret_hash, hint, created_by, created_at, last_used_ip) " +
		"VALUES ($1, $2, $3, '', 'members-view', $4, 'abcd', 'usr_1', $5, '')"
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{"INSERT INTO projects (id, name, created_at) VALUES ('prj_1', 'web-1', $1)", []any{us(0)}},
		{"INSERT INTO projects (id, name, created_at) VALUES ('prj_2', 'web-l', $1)", []any{us(time.Second)}},
		{insertKey, []any{"key0000000000001", "prj_1", "deploy", []byte{1}, us(0)}},
		{insertKey, []any{"key0000000000002", "prj_1", "d\u0435ploy", []byte{2}, us(time.Second)}},
		{insertKey, []any{"key0000000000003", "prj_1", "deploy\u200d", []byte{3}, us(2 * time.Second)}},
		{insertKey, []any{"key0000000000004", "prj_2", "DEPLOY", []byte{4}, us(0)}},
	} {
		if _, err := old.ExecContext(ctx, q.sql, q.args...); err != nil {
			t.Fatalf("%s: %v", q.sql, err)
		}
	}
	old.Close()

	db, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	keys, err := db.APIKeys(ctx, "prj_1")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, k := range keys {
		got = append(got, k.Name)
	}
	if want := []string{"deploy", "d\u0435ploy", "deploy\u200d"}; len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("keys after the upgrade = %q, want %q", got, want)
	}
	for i, name := range []string{"Deploy", "dep\u04c0oy"} {
		k := &keyward.APIKey{ID: "key000000000001" + string(rune('0'+i)), ProjectID: "prj_1", Name: name,
			Permissions: []string{"members-view"}, SecretHash: []byte{1}, Hint: "abcd", CreatedBy: "usr_1", Owner: "usr_1", CreatedAt: now}
		if err := db.CreateAPIKey(ctx, k); keyward.ErrorCode(err) != keyward.ECONFLICT {
			t.Errorf("CreateAPIKey(%q) after the upgrade: %v, want %s", name, err, keyward.ECONFLICT)
		}
	}
	if _, err := db.ProjectByName(ctx, "web-l"); err != nil {
		t.Fatalf("the younger look-alike project after the upgrade: %v", err)
	}
	err = db.CreateProject(ctx, &keyward.Project{ID: "prj_3", Name: "web-|", CreatedAt: now}, &keyward.Member{UserID: "usr_1"})
	if keyward.ErrorCode(err) != keyward.ECONFLICT {
		t.Fatalf("CreateProject(web-|) after the upgrade: %v, want %s", err, keyward.ECONFLICT)
	}
}

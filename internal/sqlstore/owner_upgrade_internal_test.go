package sqlstore

import (
	"database/sql"
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/pressly/goose/v3"

	"github.com/keyward/keyward/internal/pgtest"
)

// Migration 8 gives every existing key an owner: the user who created it, or the owner of the
// key that did, through chains of keys; a key whose creating key is gone has none.

func TestSQLiteUpgradeGivesKeysOwners(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyward.db")
	testUpgradeGivesKeysOwners(t, "sqlite", "file:"+path, goose.DialectSQLite3, "migrations/sqlite")
}

func TestPostgresUpgradeGivesKeysOwners(t *testing.T) {
	testUpgradeGivesKeysOwners(t, "pgx", pgtest.Fresh(t).DSN(""), goose.DialectPostgres, "migrations/postgres")
}

func testUpgradeGivesKeysOwners(t *testing.T, driver, raw string, dialect goose.Dialect, dir string) {
	ctx := t.Context()
	db, err := sql.Open(driver, raw)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	fsys, err := fs.Sub(migrations, dir)
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(dialect, db, fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 6); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO projects (id, name, created_at) VALUES ('prj_1', 'default', 0)"); err != nil {
		t.Fatal(err)
	}
	// Inserted child first, so that no engine can resolve the chain in a single pass by luck.
	keys := [][2]string{
		{"key3", "key:key2"}, {"key2", "key:key1"}, {"key1", "user:usr_ada"}, {"orphan", "key:gone"}, {"bob", "user:usr_bob"},
	}
	for _, k := range keys {
		if _, err := db.ExecContext(ctx, "INSERT INTO api_keys (id, project_id, name, ips, permissions, secret_hash, hint, created_by, created_at, last_used_ip) "+
			"VALUES ($1, 'prj_1', $1, '', 'containers-view', $2, 'abcd', $3, 0, '')", k[0], []byte{1}, k[1]); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.UpTo(ctx, 8); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"key1": "usr_ada", "key2": "usr_ada", "key3": "usr_ada", "orphan": "", "bob": "usr_bob"}
	for id, owner := range want {
		var got string
		if err := db.QueryRowContext(ctx, "SELECT owner FROM api_keys WHERE id = $1", id).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != owner {
			t.Errorf("key %s: owner %q, want %q", id, got, owner)
		}
	}
}

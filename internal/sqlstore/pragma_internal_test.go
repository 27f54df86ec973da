package sqlstore

import (
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
)

// TestSQLiteConnectionSettings reads the settings back from the store's own connections: they
// are per connection, so another connection to the file could not see them.
func TestSQLiteConnectionSettings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyward.db")
	db, err := Open(t.Context(), "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, tc := range []struct {
		pool, pragma, want string
	}{
		{"writer", "journal_mode", "wal"},
		{"writer", "foreign_keys", "1"},
		{"writer", "synchronous", "1"}, // NORMAL
		{"writer", "busy_timeout", "10000"},
		{"reader", "foreign_keys", "1"},
		{"reader", "busy_timeout", "10000"},
		{"reader", "query_only", "1"},
	} {
		pool := db.w
		if tc.pool == "reader" {
			pool = db.r
		}
		var got string
		if err := pool.QueryRowContext(t.Context(), "PRAGMA "+tc.pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("%s: PRAGMA %s = %s, want %s", tc.pool, tc.pragma, got, tc.want)
		}
	}
	if n := db.w.Stats().MaxOpenConnections; n != 1 {
		t.Errorf("writer pool allows %d connections, want 1", n)
	}

	// Writes on the reader pool fail loudly instead of bypassing the writer's queue.
	_, err = db.r.ExecContext(t.Context(), "DELETE FROM users")
	if err == nil || !strings.Contains(err.Error(), "readonly") {
		t.Errorf("write through the reader pool: %v, want a read-only error", err)
	}

	// Transactions on the writer begin IMMEDIATE: while one is open, another connection cannot
	// even start a write transaction.
	tx, err := db.w.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	other, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(t.Context(), "BEGIN IMMEDIATE"); err == nil {
		conn.ExecContext(t.Context(), "ROLLBACK")
		t.Error("a second IMMEDIATE transaction began while the writer held one")
	}
}

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
		{"writer", "wal_autocheckpoint", "10000"}, // a backstop: Checkpoint runs in the background
		{"writer", "journal_size_limit", "67108864"},
		{"writer", "temp_store", "2"}, // MEMORY: the savepoints of a write batch never spill to a file
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

// TestSessionIndexesUsed: the partial indexes of sessions serve the revoking queries, which must
// name the session kind literally for SQLite's planner to pick them.
func TestSessionIndexesUsed(t *testing.T) {
	db, err := Open(t.Context(), "sqlite:"+filepath.Join(t.TempDir(), "keyward.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, tc := range []struct{ query, index string }{
		{"SELECT id FROM sessions WHERE revoked_at IS NULL AND key_id = 'k' AND kind = 'key'", "sessions_key_id"},
		{"SELECT id FROM sessions WHERE revoked_at IS NULL AND user_id = 'u' AND kind = 'user'", "sessions_user_id"},
		{"SELECT id FROM sessions WHERE revoked_at IS NULL AND user_id = 'u' AND project_id = 'p' AND kind = 'user'", "sessions_user_id"},
		{"SELECT MAX(t.expires_at) FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id WHERE s.key_id = 'k' AND s.kind = 'key'", "sessions_key_id"},
	} {
		plan := queryPlan(t, db, tc.query)
		if !strings.Contains(strings.Join(plan, "; "), "INDEX "+tc.index) {
			t.Errorf("%s\nplan %q, want it to use %s", tc.query, plan, tc.index)
		}
	}
}

// queryPlan returns the steps of SQLite's plan for query, run with args.
func queryPlan(t *testing.T, db *DB, query string, args ...any) []string {
	t.Helper()
	rows, err := db.r.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return plan
}

package fill

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestFillPlanCounts(t *testing.T) {
	p := Plan{Keys: 10, Sessions: 10, Tokens: 25, ExpiredTenths: 3}
	// Each session holds one live token; spent tokens 1..15 belong to sessions 1..10, 1..5:
	// sessions 1–3 hold 1 live + 2 spent tokens each.
	if p.ExpiredSessions() != 3 || p.SpentTokens() != 15 || p.ExpiredTokens() != 9 {
		t.Fatalf("expired sessions %d, spent %d, expired tokens %d; want 3, 15, 9", p.ExpiredSessions(), p.SpentTokens(), p.ExpiredTokens())
	}
}

// migrateForFill creates the tables the fill writes to from keyward's SQLite migration, plus the
// rows keyward makes at its first start.
func migrateForFill(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	files, err := filepath.Glob(filepath.Join("..", "..", "..", "internal", "sqlstore", "migrations", "sqlite", "*.sql"))
	if err != nil || len(files) < 4 {
		t.Fatalf("keyward's SQLite migrations: %v, %v", files, err)
	}
	for _, f := range files { // in order: their names start with the version
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		up, _, _ := strings.Cut(string(data), "-- +goose Down")
		if _, err := db.Exec(up); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	// Columns named: later migrations add columns with defaults.
	if _, err := db.Exec(`INSERT INTO users (id, email, password_hash, admin, disabled, created_at) VALUES ('usr_admin', 'a@example.com', 'x', TRUE, FALSE, 1);
INSERT INTO projects (id, name, created_at) VALUES ('prj_default', 'default', 1)`); err != nil {
		t.Fatal(err)
	}
}

func TestFillDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k.db")
	migrateForFill(t, path)
	now := time.Now()
	p := Plan{Keys: 200, Sessions: 200, Tokens: 2000, ExpiredTenths: 1, Now: now}
	if err := Database(context.Background(), path, p); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	count := func(q string, args ...any) int {
		t.Helper()
		var n int
		if err := db.QueryRow(q, args...).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	if n := count("SELECT count(*) FROM api_keys WHERE project_id = 'prj_default' AND created_by = 'usr_admin'"); n != 200 {
		t.Errorf("%d keys, want 200", n)
	}
	if n := count("SELECT count(*) FROM sessions s JOIN api_keys k ON k.id = s.key_id WHERE s.kind = 'key'"); n != 200 {
		t.Errorf("%d sessions of filled keys, want 200", n)
	}
	if n := count("SELECT count(DISTINCT h) FROM (SELECT hash AS h FROM refresh_tokens UNION ALL SELECT refresh_hash FROM sessions) WHERE length(h) = 32"); n != 2000 {
		t.Errorf("%d distinct 32-byte refresh token hashes, want 2000", n)
	}
	if n := count("SELECT count(*) FROM refresh_tokens r LEFT JOIN sessions s ON s.id = r.session_id WHERE s.id IS NULL"); n != 0 {
		t.Errorf("%d refresh tokens without their session", n)
	}
	// Each session's newest token is live, in its row; the older ones are spent, as after a
	// chain of refreshes.
	if n := count("SELECT count(*) FROM refresh_tokens WHERE consumed_at IS NULL"); n != 0 {
		t.Errorf("%d unspent tokens among the spent ones", n)
	}
	if n := count("SELECT count(*) FROM sessions WHERE id GLOB 'ses_[0-9]*' AND length(id) = 20"); n != 200 {
		t.Errorf("%d sessions with ids of the real shape, want 200", n)
	}
	tokens, sessions, err := ExpiredRows(context.Background(), path, now)
	if err != nil {
		t.Fatal(err)
	}
	if tokens != int64(p.ExpiredTokens()) || sessions != 20 {
		t.Errorf("expired: %d tokens, %d sessions; want %d, 20", tokens, sessions, p.ExpiredTokens())
	}
	// No expired token belongs to a live session, so the sweeper's per-table deletes agree.
	if n := count("SELECT count(*) FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id WHERE (r.expires_at < $1) <> (s.refresh_expires_at < $1)", now.UnixMicro()); n != 0 {
		t.Errorf("%d tokens expire apart from their session", n)
	}
	if err := db.QueryRow("PRAGMA foreign_key_check").Scan(new(any), new(any), new(any), new(any)); err != sql.ErrNoRows {
		t.Errorf("foreign key check: %v", err)
	}
}

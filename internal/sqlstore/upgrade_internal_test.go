package sqlstore

import (
	"bytes"
	"crypto/sha256"
	"database/sql"
	"io/fs"
	"path/filepath"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/pgtest"
)

// The refresh tokens a server handed out before migration 4 (which moved each session's live
// token into the session's row) must keep working after the upgrade: acknowledged is never lost.

func TestSQLiteUpgradeKeepsRefreshTokens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyward.db")
	testUpgradeKeepsRefreshTokens(t, "sqlite", "file:"+path, goose.DialectSQLite3, "migrations/sqlite", "sqlite:"+path)
}

func TestPostgresUpgradeKeepsRefreshTokens(t *testing.T) {
	dsn := pgtest.Fresh(t).DSN("")
	testUpgradeKeepsRefreshTokens(t, "pgx", dsn, goose.DialectPostgres, "migrations/postgres", dsn)
}

func hashOf(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func testUpgradeKeepsRefreshTokens(t *testing.T, driver, raw string, dialect goose.Dialect, dir, dsn string) {
	ctx := t.Context()
	now := time.Date(2031, 5, 1, 12, 0, 0, 0, time.UTC)
	us := func(t time.Time) int64 { return t.UnixMicro() }
	provider := func(db *sql.DB) *goose.Provider {
		fsys, err := fs.Sub(migrations, dir)
		if err != nil {
			t.Fatal(err)
		}
		p, err := goose.NewProvider(dialect, db, fsys, goose.WithDisableGlobalRegistry(true), goose.WithGoMigrations(nameKeyMigration(dialect)))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}

	// Version 3, with a key session whose first token was spent and whose second is live.
	old, err := sql.Open(driver, raw)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := provider(old).UpTo(ctx, 3); err != nil {
		t.Fatal(err)
	}
	spent, live := hashOf("kwr_spent"), hashOf("kwr_live")
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{"INSERT INTO users (id, email, password_hash, admin, disabled, created_at) VALUES ('usr_1', 'a@example.com', 'x', true, false, $1)", []any{us(now)}},
		{"INSERT INTO projects (id, name, created_at) VALUES ('prj_1', 'default', $1)", []any{us(now)}},
		{"INSERT INTO api_keys (id, project_id, name, ips, permissions, secret_hash, hint, created_by, created_at, last_used_ip) " +
			"VALUES ('0123456789abcdef', 'prj_1', 'ci', '', 'containers-view', $1, 'kw_0123…', 'usr_1', $2, '')", []any{hashOf("secret"), us(now)}},
		{"INSERT INTO sessions (id, kind, key_id, user_id, project_id, scope, created_at, expires_at, revoked_at, revoke_reason) " +
			"VALUES ('ses_legacy0000000001', 'key', '0123456789abcdef', '', 'prj_1', NULL, $1, $2, NULL, '')", []any{us(now), us(now.Add(720 * time.Hour))}},
		{"INSERT INTO refresh_tokens (hash, session_id, issued_at, expires_at, consumed_at) VALUES ($1, 'ses_legacy0000000001', $2, $3, $4)",
			[]any{spent, us(now), us(now.Add(3 * time.Hour)), us(now.Add(time.Hour))}},
		{"INSERT INTO refresh_tokens (hash, session_id, issued_at, expires_at, consumed_at) VALUES ($1, 'ses_legacy0000000001', $2, $3, NULL)",
			[]any{live, us(now.Add(time.Hour)), us(now.Add(4 * time.Hour))}},
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

	// The live token of the earlier format names no session: it is found by its hash.
	s, err := db.RefreshTokenSession(ctx, "", live)
	if err != nil || s.ID != "ses_legacy0000000001" {
		t.Fatalf("RefreshTokenSession(live legacy token) = %v, %v", s, err)
	}
	at := now.Add(2 * time.Hour)
	next := &keyward.RefreshToken{Hash: hashOf("kwr_next"), IssuedAt: at, ExpiresAt: at.Add(3 * time.Hour)}
	s, err = db.ConsumeRefreshToken(ctx, "", live, at, next)
	if err != nil || s.ID != "ses_legacy0000000001" || next.SessionID != s.ID {
		t.Fatalf("refresh with the live legacy token = %v, %v", s, err)
	}
	// Its successor is the session's live token now, found through the session's id.
	if _, err := db.RefreshTokenSession(ctx, s.ID, next.Hash); err != nil {
		t.Fatalf("the successor of a legacy token: %v", err)
	}
	// Both legacy tokens are spent, the one spent before the upgrade too: presenting either
	// again is reuse, which revokes the session.
	for name, h := range map[string][]byte{"spent before the upgrade": spent, "spent after": live} {
		_, err = db.RefreshTokenSession(ctx, "", h)
		if err != nil {
			t.Fatalf("RefreshTokenSession(legacy token %s): %v", name, err)
		}
	}
	_, err = db.ConsumeRefreshToken(ctx, "", spent, at, &keyward.RefreshToken{Hash: hashOf("kwr_x"), IssuedAt: at, ExpiresAt: at.Add(time.Hour)})
	if keyward.ErrorCode(err) != keyward.EREFRESHREUSED {
		t.Fatalf("reusing the legacy token spent before the upgrade: %v, want %s", err, keyward.EREFRESHREUSED)
	}
	_, err = db.ConsumeRefreshToken(ctx, "", live, at, &keyward.RefreshToken{Hash: hashOf("kwr_y"), IssuedAt: at, ExpiresAt: at.Add(time.Hour)})
	if keyward.ErrorCode(err) != keyward.EREFRESHREUSED {
		t.Fatalf("reusing the spent legacy token: %v, want %s", err, keyward.EREFRESHREUSED)
	}
	s, err = db.Session(ctx, "ses_legacy0000000001")
	if err != nil || s.RevokedAt == nil {
		t.Fatalf("after reuse the session is %+v, %v; want it revoked", s, err)
	}
	// The legacy tokens are swept once expired, with the rest.
	if _, err := db.Sweep(ctx, now.Add(5*time.Hour), 100); err != nil {
		t.Fatal(err)
	}
	if _, err := db.RefreshTokenSession(ctx, "", spent); keyward.ErrorCode(err) != keyward.ENOTFOUND {
		t.Fatalf("an expired legacy token after a sweep: %v, want %s", err, keyward.ENOTFOUND)
	}
	feed, err := db.Revocations(ctx, 0, 10)
	if err != nil || len(feed) != 1 || feed[0].ID != s.ID || !feed[0].ExpiresAt.Equal(next.ExpiresAt) {
		t.Fatalf("feed after reuse = %+v, %v; want the session until its newest token expires", feed, err)
	}
	db.Close()

	// Down to version 3 and up again: the session's live token goes back to refresh_tokens and
	// returns to the session's row.
	back, err := sql.Open(driver, raw)
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	p := provider(back)
	if _, err := p.DownTo(ctx, 3); err != nil {
		t.Fatal(err)
	}
	var consumed sql.NullInt64
	if err := back.QueryRowContext(ctx, "SELECT consumed_at FROM refresh_tokens WHERE hash = $1", next.Hash).Scan(&consumed); err != nil || consumed.Valid {
		t.Fatalf("after the downgrade, the live token's row: consumed %v, %v", consumed, err)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatal(err)
	}
	var h []byte
	if err := back.QueryRowContext(ctx, "SELECT refresh_hash FROM sessions WHERE id = 'ses_legacy0000000001'").Scan(&h); err != nil || !bytes.Equal(h, next.Hash) {
		t.Fatalf("after the upgrade again, the session's token is %x, %v; want %x", h, err, next.Hash)
	}
}

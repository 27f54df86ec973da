package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
)

// Hot statements: the ones every token exchange or refresh runs. On SQLite, parsing their text
// again on every call cost about a tenth of an exchange; they are prepared once per connection
// instead. PostgreSQL needs nothing here: pgx already caches prepared statements per connection.
const (
	qInsertSession    = "INSERT INTO sessions (" + sessionCols + ", refresh_hash, refresh_issued_at, refresh_expires_at, secret_gen) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $15, $11, $12, $13, $14)"
	qInsertKeySession = "INSERT INTO sessions (" + sessionCols + ", refresh_hash, refresh_issued_at, refresh_expires_at, secret_gen) " +
		"SELECT $1, $2, id, $4, $5, $6, $7, $8, $9, $10, $17, $11, $12, $13, $14 FROM api_keys WHERE id = $3 AND disabled_at IS NULL AND revision = $15 " +
		"AND (secret_gen = $14 OR secret_gen = $16 AND previous_expires_at > $7)"
	qSelectSession = "SELECT " + sessionCols + " FROM sessions WHERE id = $1"
	// The key's revision comes along (NULL for a user session or a deleted key): a refresh
	// checks its cached copy of the key against it. So do the key's secret generation and the
	// end of its previous secret's grace, to end the sessions of a rolled secret.
	qSelectSessionToken = "SELECT " + sessionCols + ", refresh_hash, refresh_issued_at, refresh_expires_at, " +
		"(SELECT revision FROM api_keys WHERE api_keys.id = sessions.key_id AND sessions.kind = 'key'), secret_gen, " +
		"(SELECT secret_gen FROM api_keys WHERE api_keys.id = sessions.key_id AND sessions.kind = 'key'), " +
		"(SELECT previous_expires_at FROM api_keys WHERE api_keys.id = sessions.key_id AND sessions.kind = 'key') FROM sessions WHERE id = $1"
	qRotateRefresh = "UPDATE sessions SET refresh_hash = $1, refresh_issued_at = $2, refresh_expires_at = $3 WHERE id = $4"
	qSpendRefresh  = "INSERT INTO refresh_tokens (session_id, hash, issued_at, expires_at, consumed_at) VALUES ($1, $2, $3, $4, $5)"
	qSelectAPIKey  = "SELECT " + apiKeyRead + " FROM api_keys WHERE id = $1"
	qKeyRevision   = "SELECT revision, secret_gen, previous_expires_at FROM api_keys WHERE id = $1 AND disabled_at IS NULL"
	qSavepoint     = "SAVEPOINT op"
	qRelease       = "RELEASE op"
	qRollbackTo    = "ROLLBACK TO op"
)

// prepared maps a statement's text to its prepared form, on the writer (w) and on the readers
// (r); read-only once the store is open. The zero value prepares nothing.
type prepared struct{ w, r map[string]*sql.Stmt }

// prepareSQLite prepares the hot statements on the writer and on the readers. database/sql
// prepares a statement again, once, on any other connection it runs on.
func prepareSQLite(ctx context.Context, w, r *sql.DB) (prepared, error) {
	p := prepared{w: map[string]*sql.Stmt{}, r: map[string]*sql.Stmt{}}
	for _, q := range []string{qInsertSession, qInsertKeySession, qSelectSessionToken, qRotateRefresh, qSpendRefresh, qSelectSession, qKeyRevision,
		qSavepoint, qRelease, qRollbackTo} {
		st, err := w.PrepareContext(ctx, q)
		if err != nil {
			p.close()
			return prepared{}, fmt.Errorf("prepare %q: %w", q, err)
		}
		p.w[q] = st
	}
	for _, q := range []string{qSelectAPIKey, qSelectSession} {
		st, err := r.PrepareContext(ctx, q)
		if err != nil {
			p.close()
			return prepared{}, fmt.Errorf("prepare %q: %w", q, err)
		}
		p.r[q] = st
	}
	return p, nil
}

func (p prepared) close() {
	for _, m := range []map[string]*sql.Stmt{p.w, p.r} {
		for _, st := range m {
			st.Close()
		}
	}
}

// txExec is tx.ExecContext, with the prepared form of q when there is one.
func (p prepared) txExec(ctx context.Context, tx *sql.Tx, q string, args ...any) (sql.Result, error) {
	if st := p.w[q]; st != nil {
		return tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, q, args...)
}

// txRow is tx.QueryRowContext, with the prepared form of q when there is one.
func (p prepared) txRow(ctx context.Context, tx *sql.Tx, q string, args ...any) *sql.Row {
	if st := p.w[q]; st != nil {
		return tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return tx.QueryRowContext(ctx, q, args...)
}

// readRow is r.QueryRowContext, with the prepared form of q when there is one.
func (p prepared) readRow(ctx context.Context, r *sql.DB, q string, args ...any) *sql.Row {
	if st := p.r[q]; st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return r.QueryRowContext(ctx, q, args...)
}

package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/keyward/keyward"
)

// lockFeed serializes appends to the revocation feed until the transaction ends, so that
// sequence numbers become visible in the order they were drawn. Take it after the session rows
// the transaction updates, never before: the lock holder then waits for nothing but its commit.
func (db *DB) lockFeed(ctx context.Context, tx *sql.Tx) error {
	if db.q.lockFeed == "" {
		return nil
	}
	if _, err := tx.ExecContext(ctx, db.q.lockFeed); err != nil {
		return fmt.Errorf("lock revocation feed: %w", err)
	}
	return nil
}

// appendRevocation adds a feed entry that verifiers may forget at latest, the expiry of the last
// refresh token affected (every access token expires before its refresh token does), or at once
// when no token was ever issued.
func appendRevocation(ctx context.Context, tx *sql.Tx, kind, id, projectID string, at time.Time, latest sql.NullInt64) error {
	expires := micros(at)
	if latest.Valid {
		expires = latest.Int64
	}
	_, err := tx.ExecContext(ctx,
		"INSERT INTO revocations (kind, id, project_id, revoked_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
		kind, id, projectID, micros(at), expires)
	if err != nil {
		return fmt.Errorf("append revocation: %w", err)
	}
	return nil
}

// Revocations returns up to limit feed entries with Seq > after, oldest first.
func (db *DB) Revocations(ctx context.Context, after int64, limit int) ([]keyward.Revocation, error) {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	if err := checkLimit(limit); err != nil {
		return nil, err
	}
	rows, err := db.r.QueryContext(ctx,
		"SELECT seq, kind, id, project_id, revoked_at, expires_at FROM revocations WHERE seq > $1 ORDER BY seq LIMIT $2",
		after, limit)
	if err != nil {
		return nil, fmt.Errorf("revocations: %w", err)
	}
	defer rows.Close()
	var out []keyward.Revocation
	for rows.Next() {
		var r keyward.Revocation
		var revoked, expires int64
		if err := rows.Scan(&r.Seq, &r.Kind, &r.ID, &r.ProjectID, &revoked, &expires); err != nil {
			return nil, fmt.Errorf("revocations: %w", err)
		}
		r.RevokedAt = fromMicros(revoked)
		r.ExpiresAt = fromMicros(expires)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("revocations: %w", err)
	}
	return out, nil
}

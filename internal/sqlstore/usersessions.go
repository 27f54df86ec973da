package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/keyward/keyward"
)

// UserSessions returns up to limit live token sessions of the user, newest first: user sessions
// (not key sessions), not revoked, within their max age, with a refresh token that has not
// expired at now. The partial index on user sessions serves it.
func (db *DB) UserSessions(ctx context.Context, userID string, now time.Time, limit int) ([]*keyward.Session, error) {
	if limit <= 0 {
		return nil, keyward.Errorf(keyward.EINVALID, "The limit must be positive.")
	}
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	rows, err := db.r.QueryContext(ctx, "SELECT "+sessionCols+" FROM sessions"+
		" WHERE kind = 'user' AND user_id = $1 AND revoked_at IS NULL AND expires_at > $2 AND refresh_expires_at > $2"+
		" ORDER BY created_at DESC, id DESC LIMIT $3", userID, micros(now), limit)
	if err != nil {
		return nil, fmt.Errorf("user sessions: %w", err)
	}
	defer rows.Close()
	var out []*keyward.Session
	for rows.Next() {
		s, err := scanSession(rows)
		if err != nil {
			return nil, fmt.Errorf("user sessions: %w", err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("user sessions: %w", err)
	}
	return out, nil
}

// UserWebSessions returns up to limit of the user's dashboard logins that have not reached their
// absolute end at now, most recently used first; the caller applies its idle timeout. The index
// on the logins' user serves it.
func (db *DB) UserWebSessions(ctx context.Context, userID string, now time.Time, limit int) ([]*keyward.WebSession, error) {
	if limit <= 0 {
		return nil, keyward.Errorf(keyward.EINVALID, "The limit must be positive.")
	}
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	rows, err := db.r.QueryContext(ctx, "SELECT "+webSessionCols+" FROM web_sessions"+
		" WHERE user_id = $1 AND expires_at > $2 ORDER BY last_seen_at DESC, hash LIMIT $3", userID, micros(now), limit)
	if err != nil {
		return nil, fmt.Errorf("user web sessions: %w", err)
	}
	defer rows.Close()
	var out []*keyward.WebSession
	for rows.Next() {
		var ws keyward.WebSession
		var created, seen, expires int64
		if err := rows.Scan(&ws.Hash, &ws.UserID, &created, &seen, &expires); err != nil {
			return nil, fmt.Errorf("user web sessions: %w", err)
		}
		ws.CreatedAt, ws.LastSeenAt, ws.ExpiresAt = fromMicros(created), fromMicros(seen), fromMicros(expires)
		out = append(out, &ws)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("user web sessions: %w", err)
	}
	return out, nil
}

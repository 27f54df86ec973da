package sqlstore

import (
	"context"
	"fmt"
	"time"
)

// Sweep deletes spent refresh tokens, sessions, dashboard logins, password reset links,
// invitations, device authorizations and feed entries that expired before now, and finished
// webhook messages whose retry window ended 30 days before it, at most limit rows of each table
// per call, and returns how many rows it deleted.
// A session expires with its live refresh token: nothing can refresh it any more, and every
// access token it issued expired before that token. Audit events are kept.
//
// Each table is swept by its own short statement, so a sweep never holds locks that a token
// exchange waits for longer than one bounded delete.
func (db *DB) Sweep(ctx context.Context, now time.Time, limit int) (int, error) {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	if err := checkLimit(limit); err != nil {
		return 0, err
	}
	var total int
	for _, q := range []struct{ what, sql string }{
		{"refresh tokens", "DELETE FROM refresh_tokens WHERE (session_id, hash) IN (SELECT session_id, hash FROM refresh_tokens WHERE expires_at < $1 LIMIT $2)"},
		{"tokens of the earlier format", "DELETE FROM legacy_refresh_tokens WHERE hash IN (SELECT hash FROM legacy_refresh_tokens WHERE expires_at < $1 LIMIT $2)"},
		{"sessions", "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE refresh_expires_at < $1 LIMIT $2)"},
		{"web sessions", "DELETE FROM web_sessions WHERE hash IN (SELECT hash FROM web_sessions WHERE expires_at < $1 LIMIT $2)"},
		{"password reset links", "DELETE FROM password_resets WHERE hash IN (SELECT hash FROM password_resets WHERE expires_at < $1 LIMIT $2)"},
		{"device authorizations", "DELETE FROM device_authorizations WHERE device_hash IN (SELECT device_hash FROM device_authorizations WHERE expires_at < $1 LIMIT $2)"},
		{"login challenges", "DELETE FROM login_challenges WHERE hash IN (SELECT hash FROM login_challenges WHERE expires_at < $1 LIMIT $2)"},
		{"webauthn ceremonies", "DELETE FROM webauthn_ceremonies WHERE (hash, purpose) IN (SELECT hash, purpose FROM webauthn_ceremonies WHERE expires_at < $1 LIMIT $2)"},
		{"revocations", "DELETE FROM revocations WHERE seq IN (SELECT seq FROM revocations WHERE expires_at < $1 ORDER BY seq LIMIT $2)"},
		{"invitations", "DELETE FROM invites WHERE id IN (SELECT id FROM invites WHERE expires_at < $1 LIMIT $2)"},
		// Finished webhook messages are kept for their deliveries page until 30 days (in
		// microseconds) after their retry window, which a redelivery starts again.
		{"webhook messages", "DELETE FROM webhook_messages WHERE seq IN (SELECT seq FROM webhook_messages WHERE window_ends_at < $1 - 2592000000000 AND state <> 'pending' LIMIT $2)"},
		{"spent identity tokens", "DELETE FROM federation_jtis WHERE (issuer, jti) IN (SELECT issuer, jti FROM federation_jtis WHERE expires_at < $1 LIMIT $2)"},
	} {
		res, err := db.exec(ctx, q.sql, micros(now), limit)
		if err != nil {
			return total, fmt.Errorf("sweep %s: %w", q.what, err)
		}
		n, err := rowsAffected(res)
		if err != nil {
			return total, err
		}
		total += int(n)
	}
	return total, nil
}

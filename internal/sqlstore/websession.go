package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/keyward/keyward"
)

const webSessionCols = "hash, user_id, created_at, last_seen_at, expires_at"

// CreateWebSession stores a dashboard login after checking, in the same transaction, that its
// user exists (ENOTFOUND) and is enabled (EREVOKED). On PostgreSQL the user row is share-locked
// until commit, and SetUserDisabled updates that row before deleting logins, so a login that
// races with the disabling is either refused here or deleted there.
func (db *DB) CreateWebSession(ctx context.Context, ws *keyward.WebSession) error {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	if len(ws.Hash) == 0 {
		return keyward.Errorf(keyward.EINVALID, "A session hash is required.")
	}
	return db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var disabled bool
		err := tx.QueryRowContext(ctx, "SELECT disabled FROM users WHERE id = $1"+db.q.forShare, ws.UserID).Scan(&disabled)
		if errors.Is(err, sql.ErrNoRows) {
			return keyward.Errorf(keyward.ENOTFOUND, "User not found.")
		} else if err != nil {
			return fmt.Errorf("lock user: %w", err)
		} else if disabled {
			return keyward.Errorf(keyward.EREVOKED, "User is disabled.")
		}
		_, err = tx.ExecContext(ctx,
			"INSERT INTO web_sessions ("+webSessionCols+") VALUES ($1, $2, $3, $4, $5)",
			ws.Hash, ws.UserID, micros(ws.CreatedAt), micros(ws.LastSeenAt), micros(ws.ExpiresAt))
		if isUnique(err) {
			return keyward.Errorf(keyward.ECONFLICT, "Web session already exists.")
		} else if err != nil {
			return fmt.Errorf("create web session: %w", err)
		}
		return nil
	})
}

// WebSession returns the login with this hash, expired or not; ENOTFOUND when unknown.
func (db *DB) WebSession(ctx context.Context, hash []byte) (*keyward.WebSession, error) {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	var ws keyward.WebSession
	var created, seen, expires int64
	err := db.r.QueryRowContext(ctx, "SELECT "+webSessionCols+" FROM web_sessions WHERE hash = $1", hash).
		Scan(&ws.Hash, &ws.UserID, &created, &seen, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, keyward.Errorf(keyward.ENOTFOUND, "Web session not found.")
	} else if err != nil {
		return nil, fmt.Errorf("web session: %w", err)
	}
	ws.CreatedAt, ws.LastSeenAt, ws.ExpiresAt = fromMicros(created), fromMicros(seen), fromMicros(expires)
	return &ws, nil
}

// TouchWebSession moves last_seen_at forward; an earlier time than the stored one changes
// nothing, so instances with slightly different clocks never shorten each other's view.
func (db *DB) TouchWebSession(ctx context.Context, hash []byte, at time.Time) error {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	res, err := db.exec(ctx,
		"UPDATE web_sessions SET last_seen_at = CASE WHEN last_seen_at < $1 THEN $1 ELSE last_seen_at END WHERE hash = $2",
		micros(at), hash)
	if err != nil {
		return fmt.Errorf("touch web session: %w", err)
	}
	if n, err := rowsAffected(res); err != nil {
		return err
	} else if n == 0 {
		return keyward.Errorf(keyward.ENOTFOUND, "Web session not found.")
	}
	return nil
}

// DeleteWebSession deletes one login; an unknown hash is not an error (logging out twice is fine).
func (db *DB) DeleteWebSession(ctx context.Context, hash []byte) error {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	if _, err := db.exec(ctx, "DELETE FROM web_sessions WHERE hash = $1", hash); err != nil {
		return fmt.Errorf("delete web session: %w", err)
	}
	return nil
}

// SetWebSessionFlash stores flash with a login, replacing any earlier one.
func (db *DB) SetWebSessionFlash(ctx context.Context, hash, flash []byte) error {
	if flash == nil {
		flash = []byte{}
	}
	res, err := db.w.ExecContext(ctx, "UPDATE web_sessions SET flash = $1 WHERE hash = $2", flash, hash)
	if err != nil {
		return fmt.Errorf("set web session flash: %w", err)
	}
	if n, err := rowsAffected(res); err != nil {
		return err
	} else if n == 0 {
		return keyward.Errorf(keyward.ENOTFOUND, "Web session not found.")
	}
	return nil
}

// TakeWebSessionFlash reads a login's flash and clears it only if it is still the one read: of
// two racing calls, the second clears nothing and returns nil, so a flash is returned once.
func (db *DB) TakeWebSessionFlash(ctx context.Context, hash []byte) ([]byte, error) {
	var flash []byte
	err := db.r.QueryRowContext(ctx, "SELECT flash FROM web_sessions WHERE hash = $1", hash).Scan(&flash)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && flash == nil) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("web session flash: %w", err)
	}
	res, err := db.w.ExecContext(ctx, "UPDATE web_sessions SET flash = NULL WHERE hash = $1 AND flash = $2", hash, flash)
	if err != nil {
		return nil, fmt.Errorf("take web session flash: %w", err)
	}
	if n, err := rowsAffected(res); err != nil {
		return nil, err
	} else if n == 0 {
		return nil, nil
	}
	return flash, nil
}

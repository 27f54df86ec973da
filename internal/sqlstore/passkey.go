package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/keyward/keyward"
)

// CreatePasskey stores a passkey; ENOTFOUND for an unknown user, ECONFLICT for a credential
// stored already.
func (db *DB) CreatePasskey(ctx context.Context, p *keyward.Passkey) error {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	_, err := db.exec(ctx,
		"INSERT INTO passkeys (id, user_id, credential_id, name, credential, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
		p.ID, p.UserID, p.CredentialID, p.Name, p.Credential, micros(p.CreatedAt))
	if isForeignKey(err) {
		return keyward.Errorf(keyward.ENOTFOUND, "User not found.")
	} else if isUnique(err) {
		return keyward.Errorf(keyward.ECONFLICT, "This passkey is registered already.")
	} else if err != nil {
		return fmt.Errorf("create passkey: %w", err)
	}
	return nil
}

// Passkeys lists the user's passkeys, oldest first.
func (db *DB) Passkeys(ctx context.Context, userID string) ([]*keyward.Passkey, error) {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	rows, err := db.r.QueryContext(ctx,
		"SELECT id, user_id, credential_id, name, credential, created_at, last_used_at FROM passkeys WHERE user_id = $1 ORDER BY created_at, id", userID)
	if err != nil {
		return nil, fmt.Errorf("passkeys: %w", err)
	}
	defer rows.Close()
	var out []*keyward.Passkey
	for rows.Next() {
		var p keyward.Passkey
		var created int64
		var used sql.NullInt64
		if err := rows.Scan(&p.ID, &p.UserID, &p.CredentialID, &p.Name, &p.Credential, &created, &used); err != nil {
			return nil, fmt.Errorf("passkeys: %w", err)
		}
		p.CreatedAt, p.LastUsedAt = fromMicros(created), timePtr(used)
		out = append(out, &p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("passkeys: %w", err)
	}
	return out, nil
}

// DeletePasskey deletes one passkey of the user.
func (db *DB) DeletePasskey(ctx context.Context, userID, id string) error {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	res, err := db.exec(ctx, "DELETE FROM passkeys WHERE user_id = $1 AND id = $2", userID, id)
	if err != nil {
		return fmt.Errorf("delete passkey: %w", err)
	}
	return oneRow(res, "Passkey not found.")
}

// UsePasskey stores the credential's record after a sign-in, and when it was.
func (db *DB) UsePasskey(ctx context.Context, userID string, credentialID, credential []byte, at time.Time) error {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	res, err := db.exec(ctx, "UPDATE passkeys SET credential = $1, last_used_at = $2 WHERE user_id = $3 AND credential_id = $4",
		credential, micros(at), userID, credentialID)
	if err != nil {
		return fmt.Errorf("use passkey: %w", err)
	}
	return oneRow(res, "Passkey not found.")
}

// oneRow is ENOTFOUND with msg unless res changed a row.
func oneRow(res sql.Result, msg string) error {
	n, err := rowsAffected(res)
	if err != nil {
		return err
	}
	if n == 0 {
		return keyward.Errorf(keyward.ENOTFOUND, "%s", msg)
	}
	return nil
}

// PutCeremony stores a ceremony's state, replacing the one of the same owner and purpose.
func (db *DB) PutCeremony(ctx context.Context, c *keyward.Ceremony) error {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	return db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM webauthn_ceremonies WHERE hash = $1 AND purpose = $2", c.Hash, c.Purpose); err != nil {
			return fmt.Errorf("put ceremony: %w", err)
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO webauthn_ceremonies (hash, purpose, user_id, data, expires_at) VALUES ($1, $2, $3, $4, $5)",
			c.Hash, c.Purpose, c.UserID, c.Data, micros(c.ExpiresAt))
		if isForeignKey(err) {
			return keyward.Errorf(keyward.ENOTFOUND, "User not found.")
		} else if isUnique(err) {
			return keyward.Errorf(keyward.ECONFLICT, "Another ceremony started meanwhile.")
		} else if err != nil {
			return fmt.Errorf("put ceremony: %w", err)
		}
		return nil
	})
}

// TakeCeremony returns and deletes a ceremony's state in one statement: of two racing answers to
// one challenge, one gets it.
func (db *DB) TakeCeremony(ctx context.Context, hash []byte, purpose string) (*keyward.Ceremony, error) {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	c := keyward.Ceremony{Hash: hash, Purpose: purpose}
	var expires int64
	err := db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		return tx.QueryRowContext(ctx,
			"DELETE FROM webauthn_ceremonies WHERE hash = $1 AND purpose = $2 RETURNING user_id, data, expires_at", hash, purpose).
			Scan(&c.UserID, &c.Data, &expires)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, keyward.Errorf(keyward.ENOTFOUND, "No such ceremony.")
	} else if err != nil {
		return nil, fmt.Errorf("take ceremony: %w", err)
	}
	c.ExpiresAt = fromMicros(expires)
	return &c, nil
}

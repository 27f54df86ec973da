package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/keyward/keyward"
)

const signingKeyCols = "id, alg, private, sealed, created_at, publish_at, activate_at, retire_at, unpublish_at"

// LoadSigningKeys returns the signing key set, ordered by creation time; an empty set has
// Version 0.
func (db *DB) LoadSigningKeys(ctx context.Context) (keyward.SigningKeySet, error) {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	// One statement, hence one snapshot: the version always matches the keys.
	rows, err := db.r.QueryContext(ctx,
		"SELECT v.version, k.id, k.alg, k.private, k.sealed, k.created_at, k.publish_at, k.activate_at, k.retire_at, k.unpublish_at"+
			" FROM signing_key_version v LEFT JOIN signing_keys k ON 1 = 1 WHERE v.id = 1 ORDER BY k.created_at, k.id")
	if err != nil {
		return keyward.SigningKeySet{}, fmt.Errorf("load signing keys: %w", err)
	}
	defer rows.Close()
	var set keyward.SigningKeySet
	for rows.Next() {
		var id, alg sql.NullString
		var private []byte
		var sealed sql.NullBool
		var created, publish, activate, retire, unpublish sql.NullInt64
		if err := rows.Scan(&set.Version, &id, &alg, &private, &sealed,
			&created, &publish, &activate, &retire, &unpublish); err != nil {
			return keyward.SigningKeySet{}, fmt.Errorf("load signing keys: %w", err)
		}
		if !id.Valid {
			continue // the LEFT JOIN's row for an empty set
		}
		set.Keys = append(set.Keys, keyward.SigningKey{
			ID: id.String, Alg: alg.String, Private: private, Sealed: sealed.Bool,
			CreatedAt:   fromMicros(created.Int64),
			PublishAt:   fromMicros(publish.Int64),
			ActivateAt:  fromMicros(activate.Int64),
			RetireAt:    fromMicros(retire.Int64),
			UnpublishAt: fromMicros(unpublish.Int64),
		})
	}
	if err := rows.Err(); err != nil {
		return keyward.SigningKeySet{}, fmt.Errorf("load signing keys: %w", err)
	}
	return set, nil
}

// ReplaceSigningKeys stores keys as the whole set if the stored version still equals
// expectedVersion, and returns the new version; ECONFLICT when another instance was faster.
func (db *DB) ReplaceSigningKeys(ctx context.Context, expectedVersion int64, keys []keyward.SigningKey) (int64, error) {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	var version int64
	err := db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx,
			"UPDATE signing_key_version SET version = version + 1 WHERE id = 1 AND version = $1 RETURNING version",
			expectedVersion).Scan(&version)
		if errors.Is(err, sql.ErrNoRows) {
			return keyward.Errorf(keyward.ECONFLICT, "The signing keys changed meanwhile; reload them.")
		} else if err != nil {
			return fmt.Errorf("replace signing keys: %w", err)
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM signing_keys"); err != nil {
			return fmt.Errorf("replace signing keys: %w", err)
		}
		for _, k := range keys {
			_, err := tx.ExecContext(ctx,
				"INSERT INTO signing_keys ("+signingKeyCols+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
				k.ID, k.Alg, k.Private, k.Sealed, micros(k.CreatedAt),
				micros(k.PublishAt), micros(k.ActivateAt), micros(k.RetireAt), micros(k.UnpublishAt))
			if isUnique(err) {
				return keyward.Errorf(keyward.EINVALID, "Two signing keys share the id %q.", k.ID)
			} else if err != nil {
				return fmt.Errorf("replace signing keys: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return version, nil
}

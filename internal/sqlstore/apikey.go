package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/keyward/keyward"
)

const apiKeyCols = "id, project_id, name, ips, permissions, secret_hash, hint, created_by, created_at, expires_at, last_used_at, last_used_ip, revision"

func scanAPIKey(row scanner) (*keyward.APIKey, error) {
	var k keyward.APIKey
	var ips, perms string
	var created int64
	var expires, used sql.NullInt64
	if err := row.Scan(&k.ID, &k.ProjectID, &k.Name, &ips, &perms, &k.SecretHash, &k.Hint, &k.CreatedBy,
		&created, &expires, &used, &k.LastUsedIP, &k.Revision); err != nil {
		return nil, err
	}
	for _, s := range splitList(ips) {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("api key %s: stored network %q: %w", k.ID, s, err)
		}
		k.IPs = append(k.IPs, p)
	}
	k.Permissions = splitList(perms)
	k.CreatedAt = fromMicros(created)
	k.ExpiresAt = timePtr(expires)
	k.LastUsedAt = timePtr(used)
	return &k, nil
}

func formatPrefixes(ps []netip.Prefix) (string, error) {
	out := make([]string, len(ps))
	for i, p := range ps {
		if !p.IsValid() {
			return "", keyward.Errorf(keyward.EINVALID, "Invalid network.")
		}
		out[i] = p.String()
	}
	return strings.Join(out, " "), nil
}

// CreateAPIKey stores k. ECONFLICT when its name is taken in the project; ENOTFOUND when the
// project does not exist.
func (db *DB) CreateAPIKey(ctx context.Context, k *keyward.APIKey) error {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	ips, err := formatPrefixes(k.IPs)
	if err != nil {
		return err
	}
	perms, err := joinList("permission", k.Permissions)
	if err != nil {
		return err
	}
	_, err = db.exec(ctx,
		"INSERT INTO api_keys ("+apiKeyCols+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
		k.ID, k.ProjectID, k.Name, ips, perms, k.SecretHash, k.Hint, k.CreatedBy,
		micros(k.CreatedAt), nullMicros(k.ExpiresAt), nullMicros(k.LastUsedAt), k.LastUsedIP, k.Revision)
	switch {
	case isUnique(err):
		return keyward.Errorf(keyward.ECONFLICT, "An API key named %q already exists in this project.", k.Name)
	case isForeignKey(err):
		return keyward.Errorf(keyward.ENOTFOUND, "Project not found.")
	case err != nil:
		return fmt.Errorf("create api key: %w", err)
	}
	return nil
}

// APIKey returns a key by id, in any project; ENOTFOUND when unknown or deleted.
func (db *DB) APIKey(ctx context.Context, id string) (*keyward.APIKey, error) {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	k, err := scanAPIKey(db.prep.readRow(ctx, db.r, qSelectAPIKey, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, keyward.Errorf(keyward.ENOTFOUND, "API key not found.")
	} else if err != nil {
		return nil, fmt.Errorf("api key: %w", err)
	}
	return k, nil
}

// APIKeys lists a project's keys by creation time, oldest first.
func (db *DB) APIKeys(ctx context.Context, projectID string) ([]*keyward.APIKey, error) {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	rows, err := db.r.QueryContext(ctx,
		"SELECT "+apiKeyCols+" FROM api_keys WHERE project_id = $1 ORDER BY created_at, id", projectID)
	if err != nil {
		return nil, fmt.Errorf("api keys: %w", err)
	}
	defer rows.Close()
	var out []*keyward.APIKey
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, fmt.Errorf("api keys: %w", err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("api keys: %w", err)
	}
	return out, nil
}

// DeleteAPIKey deletes the key of projectID and, in the same transaction, revokes every session
// of the key (reason "key_deleted"), appending one feed entry per session and then one of kind
// "key". ENOTFOUND when the key does not exist in that project.
func (db *DB) DeleteAPIKey(ctx context.Context, projectID, id string, at time.Time) error {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	return db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		// The key row goes first: CreateSession share-locks it, so every session of the key has
		// committed (or will find no key) before the sessions are revoked below.
		res, err := tx.ExecContext(ctx, "DELETE FROM api_keys WHERE id = $1 AND project_id = $2", id, projectID)
		if err != nil {
			return fmt.Errorf("delete api key: %w", err)
		}
		if n, err := rowsAffected(res); err != nil {
			return err
		} else if n == 0 {
			return keyward.Errorf(keyward.ENOTFOUND, "API key not found.")
		}
		if _, err := db.revokeSessions(ctx, tx, "key_id = $3 AND kind = '"+keyward.SessionKey+"'", at, reasonKeyDeleted, id); err != nil {
			return err
		}
		if err := db.lockFeed(ctx, tx); err != nil { // a no-op when the sessions took it
			return err
		}
		// Over every session of the key, revoked earlier or just now: verifiers that drop a key
		// by its id keep doing so until the last token it ever had expires.
		var latest sql.NullInt64
		if err := tx.QueryRowContext(ctx,
			"SELECT MAX(refresh_expires_at) FROM sessions WHERE key_id = $1 AND kind = '"+keyward.SessionKey+"'",
			id).Scan(&latest); err != nil {
			return fmt.Errorf("delete api key: token expiry: %w", err)
		}
		return appendRevocation(ctx, tx, keyward.RevokedKey, id, projectID, at, latest)
	})
}

// UpdateAPIKey applies change to the key of projectID and increments its revision; when the
// change narrows the key, it revokes every live session of the key (reason "key_narrowed") in the
// same transaction. ENOTFOUND when the key does not exist in that project, ECONFLICT when the new
// name is taken.
func (db *DB) UpdateAPIKey(ctx context.Context, projectID, id string, change keyward.APIKeyChange, at time.Time) (*keyward.APIKey, error) {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	var after *keyward.APIKey
	err := db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		// Locked first, as DeleteAPIKey does: a session being created from the key has
		// committed before the revocation below looks for it, or waits and then finds the
		// revision changed.
		before, err := scanAPIKey(tx.QueryRowContext(ctx,
			"SELECT "+apiKeyCols+" FROM api_keys WHERE id = $1 AND project_id = $2"+db.q.forUpdate, id, projectID))
		if errors.Is(err, sql.ErrNoRows) {
			return keyward.Errorf(keyward.ENOTFOUND, "API key not found.")
		} else if err != nil {
			return fmt.Errorf("update api key: %w", err)
		}
		after = change.Apply(before)
		after.Revision = before.Revision + 1
		ips, err := formatPrefixes(after.IPs)
		if err != nil {
			return err
		}
		perms, err := joinList("permission", after.Permissions)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx,
			"UPDATE api_keys SET name = $1, ips = $2, permissions = $3, expires_at = $4, revision = $5 WHERE id = $6",
			after.Name, ips, perms, nullMicros(after.ExpiresAt), after.Revision, id)
		if isUnique(err) {
			return keyward.Errorf(keyward.ECONFLICT, "An API key named %q already exists in this project.", after.Name)
		} else if err != nil {
			return fmt.Errorf("update api key: %w", err)
		}
		if keyward.Narrows(before, after) {
			if _, err := db.revokeSessions(ctx, tx, "key_id = $3 AND kind = '"+keyward.SessionKey+"'", at, reasonKeyNarrowed, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return after, nil
}

// TouchAPIKey records the last use of a key. ENOTFOUND when the key is unknown or deleted.
func (db *DB) TouchAPIKey(ctx context.Context, id string, at time.Time, ip string) error {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	res, err := db.exec(ctx,
		"UPDATE api_keys SET last_used_at = $1, last_used_ip = $2 WHERE id = $3", micros(at), ip, id)
	if err != nil {
		return fmt.Errorf("touch api key: %w", err)
	}
	if n, err := rowsAffected(res); err != nil {
		return err
	} else if n == 0 {
		return keyward.Errorf(keyward.ENOTFOUND, "API key not found.")
	}
	return nil
}

package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/keyward/keyward"
)

const apiKeyCols = "id, project_id, name, ips, permissions, secret_hash, hint, created_by, owner, created_at, expires_at, disabled_at, last_used_at, last_used_ip, revision, secret_gen, previous_secret_hash, previous_expires_at, role_id, require_dpop"

// apiKeyRead is apiKeyCols with the name and permissions of the key's role (” for none), read
// in the same statement so that a key never comes with another moment's role.
const apiKeyRead = apiKeyCols + ", disabled_reason, COALESCE((SELECT r.name FROM roles r WHERE r.id = api_keys.role_id), '')" +
	", COALESCE((SELECT r.permissions FROM roles r WHERE r.id = api_keys.role_id), '')" +
	// The settings that require DPoP of its role and its project, in the same statement too.
	", EXISTS (SELECT 1 FROM roles r WHERE r.id = api_keys.role_id AND r.require_dpop)" +
	", EXISTS (SELECT 1 FROM projects p WHERE p.id = api_keys.project_id AND p.require_dpop)"

func scanAPIKey(row scanner) (*keyward.APIKey, error) {
	var k keyward.APIKey
	var ips, perms, roleName, rolePerms string
	var created int64
	var expires, disabled, used, prevExpires sql.NullInt64
	var role sql.NullString
	var roleDPoP bool
	if err := row.Scan(&k.ID, &k.ProjectID, &k.Name, &ips, &perms, &k.SecretHash, &k.Hint, &k.CreatedBy, &k.Owner,
		&created, &expires, &disabled, &used, &k.LastUsedIP, &k.Revision, &k.SecretGen, &k.PreviousSecretHash, &prevExpires,
		&role, &k.RequireDPoP, &k.DisabledReason, &roleName, &rolePerms, &roleDPoP, &k.ProjectRequireDPoP); err != nil {
		return nil, err
	}
	if role.Valid {
		k.RoleID = role.String
		k.Role = &keyward.Role{ID: role.String, ProjectID: k.ProjectID, Name: roleName, Permissions: splitList(rolePerms), RequireDPoP: roleDPoP}
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
	k.DisabledAt = timePtr(disabled)
	k.LastUsedAt = timePtr(used)
	k.PreviousExpiresAt = timePtr(prevExpires)
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

// CreateAPIKey stores k. ECONFLICT when its name, or one that looks like it (names.Key), is
// taken in the project; EINVALID when the name holds an invisible character or k has no owner;
// ENOTFOUND when the project does not exist.
func (db *DB) CreateAPIKey(ctx context.Context, k *keyward.APIKey) error {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	if k.Owner == "" {
		return keyward.Errorf(keyward.EINVALID, "An API key needs an owner.")
	}
	ips, err := formatPrefixes(k.IPs)
	if err != nil {
		return err
	}
	perms, err := joinList("permission", k.Permissions)
	if err != nil {
		return err
	}
	key, err := nameKey(k.Name)
	if err != nil {
		return err
	}
	return db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if k.RoleID != "" {
			r, err := db.lockRole(ctx, tx, k.ProjectID, k.RoleID)
			if err != nil {
				return err
			}
			k.Role = r
		}
		_, err = tx.ExecContext(ctx,
			"INSERT INTO api_keys ("+apiKeyCols+", name_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)",
			k.ID, k.ProjectID, k.Name, ips, perms, k.SecretHash, k.Hint, k.CreatedBy, k.Owner,
			micros(k.CreatedAt), nullMicros(k.ExpiresAt), nullMicros(k.DisabledAt), nullMicros(k.LastUsedAt), k.LastUsedIP, k.Revision,
			k.SecretGen, k.PreviousSecretHash, nullMicros(k.PreviousExpiresAt), nullRole(k.RoleID), k.RequireDPoP, key)
		switch {
		case isUnique(err):
			return keyward.Errorf(keyward.ECONFLICT, "An API key named %q already exists in this project.", k.Name)
		case isForeignKey(err):
			return keyward.Errorf(keyward.ENOTFOUND, "Project not found.")
		case err != nil:
			return fmt.Errorf("create api key: %w", err)
		}
		_, err = db.emit(ctx, tx, keyEvent(keyward.EventKeyCreated, k, k.CreatedAt), "")
		return err
	})
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
		"SELECT "+apiKeyRead+" FROM api_keys WHERE project_id = $1 ORDER BY created_at, id", projectID)
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
		var name string
		err := tx.QueryRowContext(ctx, "DELETE FROM api_keys WHERE id = $1 AND project_id = $2 RETURNING name", id, projectID).Scan(&name)
		if errors.Is(err, sql.ErrNoRows) {
			return keyward.Errorf(keyward.ENOTFOUND, "API key not found.")
		} else if err != nil {
			return fmt.Errorf("delete api key: %w", err)
		}
		if _, err := db.emit(ctx, tx, keyEvent(keyward.EventKeyDeleted, &keyward.APIKey{ID: id, ProjectID: projectID, Name: name}, at), ""); err != nil {
			return err
		}
		if _, err := db.revokeSessions(ctx, tx, "key_id = $3 AND kind = '"+keyward.SessionKey+"'", at, reasonKeyDeleted, id); err != nil {
			return err
		}
		return db.appendKeyRevocation(ctx, tx, id, projectID, at)
	})
}

// appendKeyRevocation appends a deleted key to the feed, once its sessions are revoked.
func (db *DB) appendKeyRevocation(ctx context.Context, tx *sql.Tx, id, projectID string, at time.Time) error {
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
		// The new owner's user row and membership are share-locked before the key, in the
		// order RemoveMember and SetUserDisabled take them (membership or user, then keys): a
		// removal that commits first leaves no membership to find here, and one that comes
		// after waits for this transfer and then disables the key it finds owned.
		var ownerPerms []string
		if change.Owner != nil {
			var err error
			if ownerPerms, err = db.lockNewOwner(ctx, tx, projectID, *change.Owner); err != nil {
				return err
			}
		}
		var role *keyward.Role
		if change.Role != nil && *change.Role != "" {
			var err error
			if role, err = db.lockRole(ctx, tx, projectID, *change.Role); err != nil {
				return err
			}
		}
		// Locked first, as DeleteAPIKey does: a session being created from the key has
		// committed before the revocation below looks for it, or waits and then finds the
		// revision changed.
		before, err := scanAPIKey(tx.QueryRowContext(ctx,
			"SELECT "+apiKeyRead+" FROM api_keys WHERE id = $1 AND project_id = $2"+db.q.forUpdate, id, projectID))
		if errors.Is(err, sql.ErrNoRows) {
			return keyward.Errorf(keyward.ENOTFOUND, "API key not found.")
		} else if err != nil {
			return fmt.Errorf("update api key: %w", err)
		}
		if change.Disabled != nil && !*change.Disabled && !before.Enables(change.Owner != nil) {
			return keyward.Errorf(keyward.EINVALID, "The API key is disabled for a reason (%s) that only a roll or a transfer undoes.", before.DisabledReason)
		}
		if change.Disabled != nil && *change.Disabled && change.DisabledAt == nil {
			change.DisabledAt = &at
		}
		after = change.Apply(before)
		after.Revision = before.Revision + 1
		if change.Role != nil {
			after.Role = role
		}
		if change.Owner != nil && !keyward.Subset(after.Own(), ownerPerms) {
			return keyward.Errorf(keyward.EFORBIDDEN, "The new owner does not hold every permission of the API key in this project.")
		}
		ips, err := formatPrefixes(after.IPs)
		if err != nil {
			return err
		}
		perms, err := joinList("permission", after.Permissions)
		if err != nil {
			return err
		}
		set, args := "", []any{after.Name, ips, perms, nullMicros(after.ExpiresAt), after.Revision, id}
		if change.Name != nil {
			// A new name is held to the look-alike rule as a created one is; an unchanged name
			// keeps the key it has (empty for a look-alike kept from before the rule).
			key, err := nameKey(after.Name)
			if err != nil {
				return err
			}
			set, args = ", name_key = $7", append(args, key)
		}
		if change.Owner != nil {
			set, args = set+fmt.Sprintf(", owner = $%d", len(args)+1), append(args, after.Owner)
		}
		if change.Role != nil {
			set, args = set+fmt.Sprintf(", role_id = $%d", len(args)+1), append(args, nullRole(after.RoleID))
		}
		if change.RequireDPoP != nil {
			set, args = set+fmt.Sprintf(", require_dpop = $%d", len(args)+1), append(args, after.RequireDPoP)
		}
		if change.Disabled != nil || change.Owner != nil {
			// Whether the key works is APIKeyChange.Apply's to say: a transfer enables a key its
			// owner's departure disabled, never a leaked one, and a member disables or enables.
			set, args = set+fmt.Sprintf(", disabled_at = $%d, disabled_reason = $%d", len(args)+1, len(args)+2),
				append(args, nullMicros(after.DisabledAt), after.DisabledReason)
		}
		if change.SetExpiresAt && !sameTime(before.ExpiresAt, after.ExpiresAt) {
			set += ", expiry_reminded = 0" // the reminders are for the new expiry
		}
		_, err = tx.ExecContext(ctx,
			"UPDATE api_keys SET name = $1, ips = $2, permissions = $3, expires_at = $4, revision = $5"+set+" WHERE id = $6", args...)
		if isUnique(err) {
			return keyward.Errorf(keyward.ECONFLICT, "An API key named %q already exists in this project.", after.Name)
		} else if err != nil {
			return fmt.Errorf("update api key: %w", err)
		}
		disabled := before.DisabledAt == nil && after.DisabledAt != nil
		if disabled {
			if _, err := db.revokeSessions(ctx, tx, "key_id = $3 AND kind = '"+keyward.SessionKey+"'", at, keyward.KeyDisabledByMember, id); err != nil {
				return err
			}
		} else if keyward.Narrows(before, after) {
			if _, err := db.revokeSessions(ctx, tx, "key_id = $3 AND kind = '"+keyward.SessionKey+"'", at, reasonKeyNarrowed, id); err != nil {
				return err
			}
		}
		e := keyEvent(keyward.EventKeyUpdated, after, at)
		if disabled {
			e.Type, e.Data.Reason = keyward.EventKeyDisabled, after.DisabledReason
		}
		_, err = db.emit(ctx, tx, e, "")
		return err
	})
	if err != nil {
		return nil, err
	}
	return after, nil
}

// RollAPIKey gives the key a new secret and keeps the one it had until previousExpires; see
// keyward.Store.
func (db *DB) RollAPIKey(ctx context.Context, projectID, id string, secretHash []byte, hint string, previousExpires, at time.Time) (*keyward.APIKey, error) {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	if len(secretHash) == 0 {
		return nil, keyward.Errorf(keyward.EINVALID, "A secret hash is required.")
	}
	var after *keyward.APIKey
	err := db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		// Locked first, as UpdateAPIKey does: a session being created from the key has
		// committed before the revocation below looks for it, or waits and then finds the
		// revision changed.
		before, err := scanAPIKey(tx.QueryRowContext(ctx,
			"SELECT "+apiKeyRead+" FROM api_keys WHERE id = $1 AND project_id = $2"+db.q.forUpdate, id, projectID))
		if errors.Is(err, sql.ErrNoRows) {
			return keyward.Errorf(keyward.ENOTFOUND, "API key not found.")
		} else if err != nil {
			return fmt.Errorf("roll api key: %w", err)
		}
		k := *before
		if before.Leaked() {
			// The new secret enables the key again; the public one gets no grace.
			previousExpires = at
			k.DisabledAt, k.DisabledReason = nil, ""
		}
		k.PreviousSecretHash, k.PreviousExpiresAt = before.SecretHash, &previousExpires
		k.SecretHash, k.Hint = secretHash, hint
		k.SecretGen, k.Revision = before.SecretGen+1, before.Revision+1
		after = &k
		// The sessions of every secret older than the one still exchanging end now; those of the
		// previous secret end when its grace does (EndRollGraces), unless there is none.
		oldest, ended := k.SecretGen-1, false
		if !previousExpires.After(at) {
			oldest, ended = k.SecretGen, true
		}
		if _, err := tx.ExecContext(ctx,
			"UPDATE api_keys SET secret_hash = $1, hint = $2, previous_secret_hash = $3, previous_expires_at = $4, "+
				"secret_gen = $5, revision = $6, grace_ended = $7, disabled_at = $8, disabled_reason = $9 WHERE id = $10",
			k.SecretHash, k.Hint, k.PreviousSecretHash, micros(previousExpires), k.SecretGen, k.Revision, ended,
			nullMicros(k.DisabledAt), k.DisabledReason, id); err != nil {
			return fmt.Errorf("roll api key: %w", err)
		}
		if _, err = db.revokeSessions(ctx, tx, "key_id = $3 AND kind = '"+keyward.SessionKey+"' AND secret_gen < $4",
			at, reasonKeyRolled, id, oldest); err != nil {
			return err
		}
		e := keyEvent(keyward.EventKeyRolled, after, at)
		if !ended {
			e.Data.GraceEndsAt = &previousExpires
		}
		_, err = db.emit(ctx, tx, e, "")
		return err
	})
	if err != nil {
		return nil, err
	}
	return after, nil
}

// EndRollGraces ends the graces of rolled keys that are over at now, at most limit keys a call:
// in one transaction per key, it revokes the sessions the key's previous secret started (reason
// "key_rolled", through the feed, so resource servers refuse their tokens) and raises the key's
// revision, so that an exchange with the previous secret that read the key before the grace
// ended cannot start a session after this. It returns how many keys it ended the grace of.
func (db *DB) EndRollGraces(ctx context.Context, now time.Time, limit int) (int, error) {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	if err := checkLimit(limit); err != nil {
		return 0, err
	}
	rows, err := db.r.QueryContext(ctx, "SELECT id FROM api_keys WHERE previous_secret_hash IS NOT NULL AND NOT grace_ended"+
		" AND previous_expires_at <= $1 ORDER BY previous_expires_at LIMIT $2", micros(now), limit)
	if err != nil {
		return 0, fmt.Errorf("end roll graces: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, fmt.Errorf("end roll graces: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Close(); err != nil {
		return 0, fmt.Errorf("end roll graces: %w", err)
	}
	ended := 0
	for _, id := range ids {
		did := false
		err := db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			did = false
			// The key is locked and read again: a roll since the query above starts a new grace.
			var gen int64
			err := tx.QueryRowContext(ctx, "SELECT secret_gen FROM api_keys WHERE id = $1 AND previous_secret_hash IS NOT NULL"+
				" AND NOT grace_ended AND previous_expires_at <= $2"+db.q.forUpdate, id, micros(now)).Scan(&gen)
			if errors.Is(err, sql.ErrNoRows) {
				return nil
			} else if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, "UPDATE api_keys SET grace_ended = TRUE, revision = revision + 1 WHERE id = $1", id); err != nil {
				return err
			}
			if _, err := db.revokeSessions(ctx, tx, "key_id = $3 AND kind = '"+keyward.SessionKey+"' AND secret_gen < $4",
				now, reasonKeyRolled, id, gen); err != nil {
				return err
			}
			did = true
			return nil
		})
		if err != nil {
			return ended, fmt.Errorf("end roll grace of key %s: %w", id, err)
		}
		if did {
			ended++
		}
	}
	return ended, nil
}

// lockNewOwner checks that userID is an enabled member of projectID and, on PostgreSQL,
// share-locks the user row and the membership until commit. It returns the member's permissions.
func (db *DB) lockNewOwner(ctx context.Context, tx *sql.Tx, projectID, userID string) ([]string, error) {
	notMember := keyward.Errorf(keyward.EINVALID, "The new owner is not an enabled member of this project.")
	var disabled bool
	err := tx.QueryRowContext(ctx, "SELECT disabled FROM users WHERE id = $1"+db.q.forShare, userID).Scan(&disabled)
	if errors.Is(err, sql.ErrNoRows) || err == nil && disabled {
		return nil, notMember
	} else if err != nil {
		return nil, fmt.Errorf("lock new owner: %w", err)
	}
	var perms string
	var role sql.NullString
	err = tx.QueryRowContext(ctx,
		"SELECT permissions, role_id FROM members WHERE project_id = $1 AND user_id = $2"+db.q.forShare, projectID, userID).Scan(&perms, &role)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notMember
	} else if err != nil {
		return nil, fmt.Errorf("lock new owner's membership: %w", err)
	}
	held := splitList(perms)
	if role.Valid {
		r, err := db.lockRole(ctx, tx, projectID, role.String)
		if err != nil {
			return nil, err
		}
		held = keyward.Union(held, r.Permissions)
	}
	return held, nil
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

// disableOwnerKeys disables, in tx, the enabled keys owned by owner (in projectID only, unless it
// is empty), revokes their sessions with reason and records one audit event per key. The keys go
// first: CreateSession checks (and on PostgreSQL share-locks) an enabled key, so every session of
// these keys has committed before the revocation below, and none can commit after it.
func (db *DB) disableOwnerKeys(ctx context.Context, tx *sql.Tx, owner, projectID, reason string, at time.Time) error {
	q, args := "UPDATE api_keys SET disabled_at = $1, disabled_reason = $2 WHERE owner = $3 AND disabled_at IS NULL", []any{micros(at), reason, owner}
	if projectID != "" {
		q, args = q+" AND project_id = $4", append(args, projectID)
	}
	keys, err := keyIDs(ctx, tx, q+" RETURNING id, project_id", args...)
	if err != nil {
		return fmt.Errorf("disable keys: %w", err)
	}
	return db.endKeySessions(ctx, tx, keys, keyward.AuditKeyDisabled, reason, at)
}

// ownedKey is a key named by its id, with its project.
type ownedKey struct{ id, project string }

func keyIDs(ctx context.Context, tx *sql.Tx, q string, args ...any) ([]ownedKey, error) {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ownedKey
	for rows.Next() {
		var k ownedKey
		if err := rows.Scan(&k.id, &k.project); err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b ownedKey) int { return cmp.Compare(a.id, b.id) })
	return out, nil
}

// endKeySessions revokes, in tx, every live session of keys (reason as the revoke reason) and
// records action for each key in the audit log, in the same transaction: the event cannot be
// lost, and names the server as no actor, since it follows from a change to the owner.
func (db *DB) endKeySessions(ctx context.Context, tx *sql.Tx, keys []ownedKey, action, reason string, at time.Time) error {
	for _, k := range keys {
		if _, err := db.revokeSessions(ctx, tx, "key_id = $3 AND kind = '"+keyward.SessionKey+"'", at, reason, k.id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx,
			"INSERT INTO audit_events (project_id, at, actor, action, target, ip, detail) VALUES ($1, $2, '', $3, $4, '', $5)",
			k.project, micros(at), action, "key:"+k.id, "reason="+reason); err != nil {
			return fmt.Errorf("audit key: %w", err)
		}
		if action == keyward.AuditKeyDisabled {
			e := keyEvent(keyward.EventKeyDisabled, &keyward.APIKey{ID: k.id, ProjectID: k.project}, at)
			if err := tx.QueryRowContext(ctx, "SELECT name FROM api_keys WHERE id = $1", k.id).Scan(&e.Data.KeyName); err != nil {
				return fmt.Errorf("disabled key: %w", err)
			}
			e.Data.Reason = reason
			// keyward disables the key, following the owner's departure: the event names no
			// actor, as the audit event does, whoever removed the owner.
			if _, err := db.emit(keyward.WithActor(ctx, ""), tx, e, ""); err != nil {
				return err
			}
		}
	}
	return nil
}

func sameTime(a, b *time.Time) bool {
	return a == nil && b == nil || a != nil && b != nil && a.Equal(*b)
}

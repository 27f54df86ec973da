package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/keyward/keyward"
)

// Reasons for revoking the sessions of a person whose account changed.
const (
	reasonUserDeleted     = "user_deleted"
	reasonPasswordChanged = "password_changed"
)

// UserPage returns one page of the instance's users ordered by email, and the next page's cursor
// ("" on the last). A search keeps the user whose id it is and the users whose email begins with
// it, lower-cased: a range of the unique index on email.
func (db *DB) UserPage(ctx context.Context, p keyward.Page) ([]*keyward.User, string, error) {
	return keyedList[*keyward.User]{
		name: "users", base: "SELECT " + userCols + " FROM users WHERE TRUE",
		id: "id", key: "email", fold: strings.ToLower, scan: scanUser,
		keyOf: func(u *keyward.User) string { return u.Email },
	}.page(ctx, db, p)
}

// UpdateUser applies change. Disabling revokes, in the same transaction, every session of the
// user that is not revoked yet (reason "user_disabled"), appends them to the feed, deletes the
// user's dashboard logins, and disables the keys the user owns in every project, revoking their
// sessions (reason "owner_disabled"). Enabling the user enables none of them. ECONFLICT when the
// change leaves no enabled administrator; ENOTFOUND when the user is unknown.
func (db *DB) UpdateUser(ctx context.Context, id string, change keyward.UserChange, at time.Time) (*keyward.User, error) {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	var out *keyward.User
	err := db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		demotes := change.Disabled != nil && *change.Disabled || change.Admin != nil && !*change.Admin
		var admins []string
		if demotes {
			var err error
			if admins, err = db.lockAdmins(ctx, tx); err != nil {
				return err
			}
		}
		// The user row changes first: CreateSession share-locks it, so no session of this user
		// can commit between here and the revocations below.
		var disabled, admin sql.NullBool
		if change.Disabled != nil {
			disabled = sql.NullBool{Bool: *change.Disabled, Valid: true}
		}
		if change.Admin != nil {
			admin = sql.NullBool{Bool: *change.Admin, Valid: true}
		}
		u, err := scanUser(tx.QueryRowContext(ctx,
			"UPDATE users SET disabled = COALESCE($1, disabled), admin = COALESCE($2, admin) WHERE id = $3 RETURNING "+userCols,
			disabled, admin, id))
		if errors.Is(err, sql.ErrNoRows) {
			return keyward.Errorf(keyward.ENOTFOUND, "User not found.")
		} else if err != nil {
			return fmt.Errorf("update user: %w", err)
		}
		if slices.Contains(admins, id) && (u.Disabled || !u.Admin) {
			if err := keepsAnAdmin(ctx, tx); err != nil {
				return err
			}
		}
		out = u
		if !u.Disabled || change.Disabled == nil {
			return nil
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM web_sessions WHERE user_id = $1", id); err != nil {
			return fmt.Errorf("delete web sessions: %w", err)
		}
		if _, err = db.revokeSessions(ctx, tx,
			"user_id = $3 AND kind = '"+keyward.SessionUser+"'", at, reasonUserDisabled, id); err != nil {
			return err
		}
		if err := db.endOwnerRuleSessions(ctx, tx, id, "", reasonUserDisabled, at); err != nil {
			return err
		}
		return db.disableOwnerKeys(ctx, tx, id, "", keyward.OwnerDisabled, at)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// lockAdmins locks the rows of every enabled administrator for writing until the transaction
// ends, in id order (so that two callers cannot deadlock), and returns their ids. A change that
// may take away the last one takes it first: of two administrators demoting each other at once,
// the second waits for the first, then no longer finds the first's victim among them and
// counts what the first left (on SQLite every write transaction already runs alone).
func (db *DB) lockAdmins(ctx context.Context, tx *sql.Tx) ([]string, error) {
	rows, err := tx.QueryContext(ctx, "SELECT id FROM users WHERE admin AND NOT disabled ORDER BY id"+db.q.forUpdate)
	if err != nil {
		return nil, fmt.Errorf("lock admins: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("lock admins: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("lock admins: %w", err)
	}
	return ids, nil
}

// keepsAnAdmin is ECONFLICT unless some user is an enabled administrator, as the transaction sees
// the users after its own change.
func keepsAnAdmin(ctx context.Context, tx *sql.Tx) error {
	var one int
	err := tx.QueryRowContext(ctx, "SELECT 1 FROM users WHERE admin AND NOT disabled LIMIT 1").Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return keyward.Errorf(keyward.ECONFLICT, "This is the last enabled instance administrator: make another user an administrator first.")
	} else if err != nil {
		return fmt.Errorf("instance administrators: %w", err)
	}
	return nil
}

// DeleteUser deletes the user. Their memberships, dashboard logins and reset link go with the
// row (foreign keys); their sessions are revoked (reason "user_deleted") and the keys they own
// disabled (reason "owner_deleted"), in the same transaction. Keys stay, disabled, so that a
// manager can hand them to another member instead of every program that uses them breaking
// unseen. ECONFLICT when they are the last enabled administrator, or the last owner or holder of
// members-manage of some project.
func (db *DB) DeleteUser(ctx context.Context, id string, at time.Time) error {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	return db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		admins, err := db.lockAdmins(ctx, tx)
		if err != nil {
			return err
		}
		projects, err := userProjects(ctx, tx, id)
		if err != nil {
			return err
		}
		type held struct{ manager, owner bool }
		was := make([]held, len(projects))
		for i, p := range projects {
			if err := lockProject(ctx, tx, p); err != nil {
				return err
			}
			if was[i].manager, err = holdsMembersManage(ctx, tx, p, id); err != nil {
				return err
			}
			if was[i].owner, err = holdsOwnerRole(ctx, tx, p, id); err != nil {
				return err
			}
		}
		for _, p := range projects { // told while the address is still there to tell
			if err := db.memberEvent(ctx, tx, keyward.EventMemberRemoved, p, id, reasonUserDeleted, at); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, "DELETE FROM users WHERE id = $1", id)
		if err != nil {
			return fmt.Errorf("delete user: %w", err)
		}
		if n, err := rowsAffected(res); err != nil {
			return err
		} else if n == 0 {
			return keyward.Errorf(keyward.ENOTFOUND, "User not found.")
		}
		if slices.Contains(admins, id) {
			if err := keepsAnAdmin(ctx, tx); err != nil {
				return err
			}
		}
		stranded := 0
		for i, p := range projects {
			for _, check := range []struct {
				was  bool
				keep func(context.Context, *sql.Tx, string) error
			}{{was[i].owner, keepsAnOwner}, {was[i].manager, keepsAManager}} {
				if !check.was {
					continue
				}
				if err := check.keep(ctx, tx, p); keyward.ErrorCode(err) == keyward.ECONFLICT {
					stranded++
					break
				} else if err != nil {
					return err
				}
			}
		}
		if stranded > 0 {
			return keyward.Errorf(keyward.ECONFLICT,
				"This user is the last owner, or the last member who can manage members, of %s: give another member that role or permission first.",
				plural(stranded, "project", "projects"))
		}
		if _, err = db.revokeSessions(ctx, tx,
			"user_id = $3 AND kind = '"+keyward.SessionUser+"'", at, reasonUserDeleted, id); err != nil {
			return err
		}
		if err := db.endOwnerRuleSessions(ctx, tx, id, "", reasonUserDeleted, at); err != nil {
			return err
		}
		return db.disableOwnerKeys(ctx, tx, id, "", keyward.OwnerDeleted, at)
	})
}

// userProjects returns the ids of the projects the user is a member of, in id order, the order
// in which DeleteUser locks them.
func userProjects(ctx context.Context, tx *sql.Tx, userID string) ([]string, error) {
	rows, err := tx.QueryContext(ctx, "SELECT project_id FROM members WHERE user_id = $1 ORDER BY project_id", userID)
	if err != nil {
		return nil, fmt.Errorf("user projects: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return nil, fmt.Errorf("user projects: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// SetPassword stores a new password hash and ends every other sign-in of the user.
func (db *DB) SetPassword(ctx context.Context, id, passwordHash, keepSession string, keepWeb []byte, at time.Time) error {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	return db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		return db.setPassword(ctx, tx, id, passwordHash, keepSession, keepWeb, at)
	})
}

func (db *DB) setPassword(ctx context.Context, tx *sql.Tx, id, passwordHash, keepSession string, keepWeb []byte, at time.Time) error {
	res, err := tx.ExecContext(ctx, "UPDATE users SET password_hash = $1 WHERE id = $2", passwordHash, id)
	if err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	if n, err := rowsAffected(res); err != nil {
		return err
	} else if n == 0 {
		return keyward.Errorf(keyward.ENOTFOUND, "User not found.")
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM password_resets WHERE user_id = $1", id); err != nil {
		return fmt.Errorf("delete reset link: %w", err)
	}
	if keepWeb == nil {
		keepWeb = []byte{} // no login's hash is empty
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM web_sessions WHERE user_id = $1 AND hash <> $2", id, keepWeb); err != nil {
		return fmt.Errorf("delete web sessions: %w", err)
	}
	_, err = db.revokeSessions(ctx, tx,
		"user_id = $3 AND kind = '"+keyward.SessionUser+"' AND id <> $4", at, reasonPasswordChanged, id, keepSession)
	return err
}

// CreatePasswordReset stores r in place of the user's earlier link.
func (db *DB) CreatePasswordReset(ctx context.Context, r *keyward.PasswordReset) error {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	return db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM password_resets WHERE user_id = $1", r.UserID); err != nil {
			return fmt.Errorf("replace reset link: %w", err)
		}
		_, err := tx.ExecContext(ctx,
			"INSERT INTO password_resets (hash, user_id, issued_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
			r.Hash, r.UserID, r.IssuedBy, micros(r.CreatedAt), micros(r.ExpiresAt))
		if isForeignKey(err) {
			return keyward.Errorf(keyward.ENOTFOUND, "User not found.")
		} else if err != nil {
			return fmt.Errorf("create reset link: %w", err)
		}
		return nil
	})
}

// UsePasswordReset spends a reset link and sets the password it was issued for, while the
// administrator who issued it still is an enabled one. The link is deleted first, so of two concurrent uses the second finds nothing; an expired link is deleted
// too (the deletion commits with the refusal).
func (db *DB) UsePasswordReset(ctx context.Context, hash []byte, passwordHash string, now time.Time) (*keyward.User, error) {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	spent := keyward.Errorf(keyward.ENOTFOUND, "This password reset link is not valid: it was used or replaced. Ask an administrator for a new one.")
	var out *keyward.User
	err := db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var userID, issuer string
		var expires int64
		err := tx.QueryRowContext(ctx, "DELETE FROM password_resets WHERE hash = $1 RETURNING user_id, issued_by, expires_at", hash).Scan(&userID, &issuer, &expires)
		if errors.Is(err, sql.ErrNoRows) {
			return spent
		} else if err != nil {
			return fmt.Errorf("use reset link: %w", err)
		}
		if micros(now) >= expires {
			return &keepTx{keyward.Errorf(keyward.EEXPIRED, "This password reset link has expired. Ask an administrator for a new one.")}
		}
		if issuer != "" {
			// The link is the issuer's authority, handed on: it ends with it. Share-locked, so a
			// demotion or disabling that commits first is seen, and one that comes after waits.
			var admin, disabled bool
			err := tx.QueryRowContext(ctx, "SELECT admin, disabled FROM users WHERE id = $1"+db.q.forShare, issuer).Scan(&admin, &disabled)
			if errors.Is(err, sql.ErrNoRows) || err == nil && (!admin || disabled) {
				return &keepTx{spent}
			} else if err != nil {
				return fmt.Errorf("reset link's issuer: %w", err)
			}
		}
		u, err := scanUser(tx.QueryRowContext(ctx, "SELECT "+userCols+" FROM users WHERE id = $1"+db.q.forUpdate, userID))
		if err != nil {
			return fmt.Errorf("reset link's user: %w", err)
		}
		if u.Disabled {
			return &keepTx{spent}
		}
		if err := db.setPassword(ctx, tx, userID, passwordHash, "", nil, now); err != nil {
			return err
		}
		u.PasswordHash = passwordHash
		out = u
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

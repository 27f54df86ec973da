package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/keyward/keyward"
)

// inviteSelect reads invitations with their role's name, permissions and owner flag.
const inviteSelect = "SELECT i.id, i.project_id, i.email, i.role_id, r.name, r.permissions, r.owner," +
	" i.created_by, i.created_at, i.expires_at FROM invites i JOIN roles r ON r.id = i.role_id"

func scanInvite(row scanner) (*keyward.Invite, error) {
	var inv keyward.Invite
	var r keyward.Role
	var perms string
	var created, expires int64
	if err := row.Scan(&inv.ID, &inv.ProjectID, &inv.Email, &inv.RoleID, &r.Name, &perms, &r.Owner,
		&inv.CreatedBy, &created, &expires); err != nil {
		return nil, err
	}
	r.ID, r.ProjectID, r.Permissions = inv.RoleID, inv.ProjectID, splitList(perms)
	inv.Role = &r
	inv.CreatedAt, inv.ExpiresAt = fromMicros(created), fromMicros(expires)
	return &inv, nil
}

// CreateInvite stores inv, replacing any invitation of the same address to the project, in one
// transaction. ENOTFOUND for an unknown project, EINVALID for a role of another project.
func (db *DB) CreateInvite(ctx context.Context, inv *keyward.Invite) error {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	return db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if err := lockProject(ctx, tx, inv.ProjectID); err != nil {
			return err
		}
		r, err := db.lockRole(ctx, tx, inv.ProjectID, inv.RoleID)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM invites WHERE project_id = $1 AND email = $2", inv.ProjectID, inv.Email); err != nil {
			return fmt.Errorf("create invite: replace: %w", err)
		}
		if _, err := tx.ExecContext(ctx,
			"INSERT INTO invites (id, project_id, email, role_id, hash, created_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
			inv.ID, inv.ProjectID, inv.Email, inv.RoleID, inv.Hash, inv.CreatedBy, micros(inv.CreatedAt), micros(inv.ExpiresAt)); err != nil {
			return fmt.Errorf("create invite: %w", err)
		}
		inv.Role = r
		return nil
	})
}

// Invites returns up to limit invitations of the project still pending at now, oldest first.
func (db *DB) Invites(ctx context.Context, projectID string, now time.Time, limit int) ([]*keyward.Invite, error) {
	if err := checkLimit(limit); err != nil {
		return nil, err
	}
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	rows, err := db.r.QueryContext(ctx, inviteSelect+" WHERE i.project_id = $1 AND i.expires_at > $2 ORDER BY i.created_at, i.id LIMIT $3",
		projectID, micros(now), limit)
	if err != nil {
		return nil, fmt.Errorf("invites: %w", err)
	}
	defer rows.Close()
	var out []*keyward.Invite
	for rows.Next() {
		inv, err := scanInvite(rows)
		if err != nil {
			return nil, fmt.Errorf("invites: %w", err)
		}
		out = append(out, inv)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("invites: %w", err)
	}
	return out, nil
}

// InviteByHash returns the invitation whose token hashes to hash if it is pending at now;
// ENOTFOUND otherwise (unknown, used, revoked or expired alike).
func (db *DB) InviteByHash(ctx context.Context, hash []byte, now time.Time) (*keyward.Invite, error) {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	inv, err := scanInvite(db.r.QueryRowContext(ctx, inviteSelect+" WHERE i.hash = $1 AND i.expires_at > $2", hash, micros(now)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errInviteGone
	} else if err != nil {
		return nil, fmt.Errorf("invite: %w", err)
	}
	return inv, nil
}

var errInviteGone = keyward.Errorf(keyward.ENOTFOUND, "Invitation not found.")

// RevokeInvite deletes a pending invitation of the project and returns it; ENOTFOUND when the
// project has no such invitation.
func (db *DB) RevokeInvite(ctx context.Context, projectID, id string) (*keyward.Invite, error) {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	var inv *keyward.Invite
	err := db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		inv, err = scanInvite(tx.QueryRowContext(ctx, inviteSelect+" WHERE i.id = $1 AND i.project_id = $2", id, projectID))
		if errors.Is(err, sql.ErrNoRows) {
			return errInviteGone
		} else if err != nil {
			return fmt.Errorf("revoke invite: %w", err)
		}
		res, err := tx.ExecContext(ctx, "DELETE FROM invites WHERE id = $1", id)
		if err != nil {
			return fmt.Errorf("revoke invite: %w", err)
		}
		if n, err := rowsAffected(res); err != nil {
			return err
		} else if n == 0 {
			return errInviteGone // accepted or revoked meanwhile
		}
		return nil
	})
	return inv, err
}

// AcceptInvite spends the invitation whose token hashes to hash, pending at a.At, and makes the
// accepting user a member of its project with its role, in one transaction; of concurrent calls
// with one hash, at most one succeeds. The accepting user is a.NewUser, created here (ECONFLICT
// when the email is taken), or the existing user a.UserID, who must be enabled (EREVOKED) and
// have the invitation's address (EFORBIDDEN). A user who is a member already keeps their
// membership as it is. A refused call spends nothing. ENOTFOUND when the invitation is unknown,
// spent, revoked or expired. It returns the invitation and the membership as it now is.
func (db *DB) AcceptInvite(ctx context.Context, hash []byte, a keyward.InviteAcceptance) (*keyward.Invite, *keyward.Member, error) {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	var (
		inv *keyward.Invite
		m   *keyward.Member
	)
	err := db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var projectID string
		err := tx.QueryRowContext(ctx, "SELECT project_id FROM invites WHERE hash = $1", hash).Scan(&projectID)
		if errors.Is(err, sql.ErrNoRows) {
			return errInviteGone
		} else if err != nil {
			return fmt.Errorf("accept invite: %w", err)
		}
		// The project's lock orders this with membership changes and other acceptances.
		if err := lockProject(ctx, tx, projectID); err != nil {
			return errInviteGone
		}
		inv, err = scanInvite(tx.QueryRowContext(ctx, inviteSelect+" WHERE i.hash = $1 AND i.expires_at > $2"+db.q.forUpdate, hash, micros(a.At)))
		if errors.Is(err, sql.ErrNoRows) {
			return errInviteGone
		} else if err != nil {
			return fmt.Errorf("accept invite: %w", err)
		}
		res, err := tx.ExecContext(ctx, "DELETE FROM invites WHERE id = $1", inv.ID)
		if err != nil {
			return fmt.Errorf("accept invite: %w", err)
		}
		if n, err := rowsAffected(res); err != nil {
			return err
		} else if n == 0 {
			return errInviteGone
		}
		userID := a.UserID
		if u := a.NewUser; u != nil {
			if u.Email != inv.Email {
				return keyward.Errorf(keyward.EFORBIDDEN, "The invitation is for another email address.")
			}
			if _, err := tx.ExecContext(ctx, insertUser, userRow(u)...); err != nil {
				return userInserted(err)
			}
			userID = u.ID
		} else {
			u, err := scanUser(tx.QueryRowContext(ctx, "SELECT "+userCols+" FROM users WHERE id = $1"+db.q.forShare, userID))
			if errors.Is(err, sql.ErrNoRows) {
				return keyward.Errorf(keyward.ENOTFOUND, "User not found.")
			} else if err != nil {
				return fmt.Errorf("accept invite: user: %w", err)
			}
			if u.Disabled {
				return keyward.Errorf(keyward.EREVOKED, "The user is disabled.")
			}
			if u.Email != inv.Email {
				return keyward.Errorf(keyward.EFORBIDDEN, "The invitation is for another email address.")
			}
		}
		res, err = tx.ExecContext(ctx,
			"INSERT INTO members ("+memberCols+") VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (project_id, user_id) DO NOTHING",
			inv.ProjectID, userID, "", micros(a.At), micros(a.At), inv.RoleID)
		if err != nil {
			return fmt.Errorf("accept invite: member: %w", err)
		}
		if n, err := rowsAffected(res); err != nil {
			return err
		} else if n == 1 {
			if err := db.memberEvent(keyward.WithActor(ctx, "user:"+userID), tx, keyward.EventMemberAdded, inv.ProjectID, userID, "", a.At); err != nil {
				return err
			}
		}
		m, err = scanMember(tx.QueryRowContext(ctx, memberSelect+" WHERE m.project_id = $1 AND m.user_id = $2", inv.ProjectID, userID))
		if err != nil {
			return fmt.Errorf("accept invite: member: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return inv, m, nil
}

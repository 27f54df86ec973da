package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/keyward/keyward"
)

const projectCols = "id, name, created_at, require_2fa, require_dpop, key_require_expiry, key_max_lifetime, key_require_ips"

func scanProject(row scanner) (*keyward.Project, error) {
	var p keyward.Project
	var created, lifetime int64
	if err := row.Scan(&p.ID, &p.Name, &created, &p.Require2FA, &p.RequireDPoP,
		&p.KeyPolicy.RequireExpiry, &lifetime, &p.KeyPolicy.RequireIPs); err != nil {
		return nil, err
	}
	p.CreatedAt = fromMicros(created)
	p.KeyPolicy.MaxLifetime = time.Duration(lifetime)
	return &p, nil
}

// CreateProject stores p and makes creator a member of it, atomically; creator.ProjectID is set
// to p.ID. ECONFLICT when the name, or one that looks like it (names.Key), is taken; EINVALID
// when the name holds an invisible character; ENOTFOUND when the creator is not a user.
func (db *DB) CreateProject(ctx context.Context, p *keyward.Project, creator *keyward.Member, roles ...*keyward.Role) error {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	perms, err := joinList("permission", creator.Permissions)
	if err != nil {
		return err
	}
	key, err := nameKey(p.Name)
	if err != nil {
		return err
	}
	return db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO projects ("+projectCols+", name_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
			p.ID, p.Name, micros(p.CreatedAt), p.Require2FA, p.RequireDPoP,
			p.KeyPolicy.RequireExpiry, int64(p.KeyPolicy.MaxLifetime), p.KeyPolicy.RequireIPs, key)
		if isUnique(err) {
			return keyward.Errorf(keyward.ECONFLICT, "A project named %q already exists.", p.Name)
		} else if err != nil {
			return fmt.Errorf("create project: %w", err)
		}
		for _, r := range roles {
			r.ProjectID = p.ID
		}
		if err := insertRoles(ctx, tx, roles); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx,
			"INSERT INTO members ("+memberCols+") VALUES ($1, $2, $3, $4, $5, $6)",
			p.ID, creator.UserID, perms, micros(creator.CreatedAt), micros(creator.UpdatedAt), nullRole(creator.RoleID))
		if isForeignKey(err) {
			return keyward.Errorf(keyward.ENOTFOUND, "User not found.")
		} else if err != nil {
			return fmt.Errorf("create project member: %w", err)
		}
		creator.ProjectID = p.ID
		return nil
	})
}

// ProjectByID returns a project; ENOTFOUND when unknown.
func (db *DB) ProjectByID(ctx context.Context, id string) (*keyward.Project, error) {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	return db.project(ctx, "id", id)
}

// ProjectByName returns a project; ENOTFOUND when unknown.
func (db *DB) ProjectByName(ctx context.Context, name string) (*keyward.Project, error) {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	return db.project(ctx, "name", name)
}

func (db *DB) project(ctx context.Context, col, v string) (*keyward.Project, error) {
	p, err := scanProject(db.r.QueryRowContext(ctx,
		"SELECT "+projectCols+" FROM projects WHERE "+col+" = $1", v))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, keyward.Errorf(keyward.ENOTFOUND, "Project not found.")
	} else if err != nil {
		return nil, fmt.Errorf("project by %s: %w", col, err)
	}
	return p, nil
}

// ProjectsForUser lists the projects userID is a member of, by name.
func (db *DB) ProjectsForUser(ctx context.Context, userID string) ([]*keyward.Project, error) {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	rows, err := db.r.QueryContext(ctx,
		"SELECT p.id, p.name, p.created_at, p.require_2fa, p.require_dpop, p.key_require_expiry, p.key_max_lifetime, p.key_require_ips FROM projects p JOIN members m ON m.project_id = p.id"+
			" WHERE m.user_id = $1 ORDER BY p.name", userID)
	if err != nil {
		return nil, fmt.Errorf("projects for user: %w", err)
	}
	defer rows.Close()
	var out []*keyward.Project
	for rows.Next() {
		p, err := scanProject(rows)
		if err != nil {
			return nil, fmt.Errorf("projects for user: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("projects for user: %w", err)
	}
	return out, nil
}

const memberCols = "project_id, user_id, permissions, created_at, updated_at, role_id"

func scanMember(row scanner) (*keyward.Member, error) {
	var m keyward.Member
	var perms, roleName, rolePerms string
	var created, updated int64
	var role sql.NullString
	var owner sql.NullBool
	if err := row.Scan(&m.ProjectID, &m.UserID, &m.Email, &perms, &created, &updated, &role, &roleName, &rolePerms, &owner); err != nil {
		return nil, err
	}
	m.Permissions = splitList(perms)
	m.CreatedAt = fromMicros(created)
	m.UpdatedAt = fromMicros(updated)
	if role.Valid {
		m.RoleID = role.String
		m.Role = &keyward.Role{ID: role.String, ProjectID: m.ProjectID, Name: roleName, Permissions: splitList(rolePerms), Owner: owner.Bool}
	}
	return &m, nil
}

// memberSelect reads memberships with the user's email and the role's name, permissions and
// owner flag, in one statement.
const memberSelect = "SELECT m.project_id, m.user_id, u.email, m.permissions, m.created_at, m.updated_at," +
	" m.role_id, COALESCE(r.name, ''), COALESCE(r.permissions, ''), r.owner" +
	" FROM members m JOIN users u ON u.id = m.user_id LEFT JOIN roles r ON r.id = m.role_id"

// Member returns one membership with the user's email; ENOTFOUND when the user is not a member.
func (db *DB) Member(ctx context.Context, projectID, userID string) (*keyward.Member, error) {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	m, err := scanMember(db.r.QueryRowContext(ctx,
		memberSelect+" WHERE m.project_id = $1 AND m.user_id = $2", projectID, userID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, keyward.Errorf(keyward.ENOTFOUND, "Member not found.")
	} else if err != nil {
		return nil, fmt.Errorf("member: %w", err)
	}
	return m, nil
}

// Members lists a project's members ordered by email.
func (db *DB) Members(ctx context.Context, projectID string) ([]*keyward.Member, error) {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	rows, err := db.r.QueryContext(ctx, memberSelect+" WHERE m.project_id = $1 ORDER BY u.email", projectID)
	if err != nil {
		return nil, fmt.Errorf("members: %w", err)
	}
	defer rows.Close()
	var out []*keyward.Member
	for rows.Next() {
		m, err := scanMember(rows)
		if err != nil {
			return nil, fmt.Errorf("members: %w", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("members: %w", err)
	}
	return out, nil
}

// PutMember adds the membership, or replaces its permissions and UpdatedAt (CreatedAt is kept).
// ENOTFOUND when the project or the user does not exist. In the same transaction, it revokes the
// live sessions of the member's keys in the project whose permissions are no longer all among
// the member's (reason "owner_reduced"), with one audit event per such key.
func (db *DB) PutMember(ctx context.Context, m *keyward.Member) error {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	perms, err := joinList("permission", m.Permissions)
	if err != nil {
		return err
	}
	return db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if err := lockProject(ctx, tx, m.ProjectID); err != nil {
			return err
		}
		m.Role = nil
		if m.RoleID != "" {
			r, err := db.lockRole(ctx, tx, m.ProjectID, m.RoleID)
			if err != nil {
				return err
			}
			m.Role = r
		}
		before, err := grantsHeld(ctx, tx, m.ProjectID, m.UserID, "")
		if err != nil {
			return err
		}
		wasManager := slices.Contains(before.users[m.UserID], membersManage)
		wasOwner, err := holdsOwnerRole(ctx, tx, m.ProjectID, m.UserID)
		if err != nil {
			return err
		}
		event := keyward.EventMemberChanged
		var one int
		if err := tx.QueryRowContext(ctx, "SELECT 1 FROM members WHERE project_id = $1 AND user_id = $2", m.ProjectID, m.UserID).Scan(&one); errors.Is(err, sql.ErrNoRows) {
			event = keyward.EventMemberAdded
		} else if err != nil {
			return fmt.Errorf("put member: %w", err)
		}
		_, err = tx.ExecContext(ctx,
			"INSERT INTO members ("+memberCols+") VALUES ($1, $2, $3, $4, $5, $6)"+
				" ON CONFLICT (project_id, user_id) DO UPDATE SET permissions = excluded.permissions, role_id = excluded.role_id, updated_at = excluded.updated_at",
			m.ProjectID, m.UserID, perms, micros(m.CreatedAt), micros(m.UpdatedAt), nullRole(m.RoleID))
		if isForeignKey(err) {
			return keyward.Errorf(keyward.ENOTFOUND, "Project or user not found.")
		} else if err != nil {
			return fmt.Errorf("put member: %w", err)
		}
		if wasManager && !slices.Contains(m.Held(), membersManage) {
			if err := keepsAManager(ctx, tx, m.ProjectID); err != nil {
				return err
			}
		}
		if wasOwner && (m.Role == nil || !m.Role.Owner) {
			if err := keepsAnOwner(ctx, tx, m.ProjectID); err != nil {
				return err
			}
		}
		if err := db.memberEvent(ctx, tx, event, m.ProjectID, m.UserID, "", m.UpdatedAt); err != nil {
			return err
		}
		return db.endNarrowed(ctx, tx, before, reasonMemberReduced, keyward.OwnerReduced, m.UpdatedAt)
	})
}

// memberEvent emits a member.* event about userID in projectID, naming their role as it now
// is (none once removed).
func (db *DB) memberEvent(ctx context.Context, tx *sql.Tx, typ, projectID, userID, reason string, at time.Time) error {
	var email, role string
	err := tx.QueryRowContext(ctx, "SELECT u.email, COALESCE((SELECT r.name FROM members m JOIN roles r ON r.id = m.role_id"+
		" WHERE m.project_id = $2 AND m.user_id = u.id), '') FROM users u WHERE u.id = $1", userID, projectID).Scan(&email, &role)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("member event: %w", err)
	}
	if typ == keyward.EventMemberRemoved {
		role = "" // DeleteUser tells before the membership goes, while the address is there
	}
	_, err = db.emit(ctx, tx, keyward.WebhookEvent{Type: typ, At: at, Data: keyward.EventData{
		ProjectID: projectID, UserID: userID, Email: email, Role: role, Reason: reason,
	}}, "")
	return err
}

// RemoveMember deletes the membership and, in the same transaction, revokes the user's sessions
// narrowed to the project (reason "member_removed") and disables the keys the user owns in the
// project, revoking their sessions (reason "owner_removed"). ENOTFOUND when the user is not a
// member.
func (db *DB) RemoveMember(ctx context.Context, projectID, userID string, at time.Time) error {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	return db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if err := lockProject(ctx, tx, projectID); err != nil {
			return keyward.Errorf(keyward.ENOTFOUND, "Member not found.")
		}
		wasManager, err := holdsMembersManage(ctx, tx, projectID, userID)
		if err != nil {
			return err
		}
		wasOwner, err := holdsOwnerRole(ctx, tx, projectID, userID)
		if err != nil {
			return err
		}
		// The membership goes first: CreateSession share-locks it for project-narrowed sessions.
		res, err := tx.ExecContext(ctx, "DELETE FROM members WHERE project_id = $1 AND user_id = $2", projectID, userID)
		if err != nil {
			return fmt.Errorf("remove member: %w", err)
		}
		if n, err := rowsAffected(res); err != nil {
			return err
		} else if n == 0 {
			return keyward.Errorf(keyward.ENOTFOUND, "Member not found.")
		}
		if wasManager {
			if err := keepsAManager(ctx, tx, projectID); err != nil {
				return err
			}
		}
		if wasOwner {
			if err := keepsAnOwner(ctx, tx, projectID); err != nil {
				return err
			}
		}
		if _, err = db.revokeSessions(ctx, tx,
			"user_id = $3 AND project_id = $4 AND kind = '"+keyward.SessionUser+"'", at, reasonMemberRemoved, userID, projectID); err != nil {
			return err
		}
		if err := db.endOwnerRuleSessions(ctx, tx, userID, projectID, reasonMemberRemoved, at); err != nil {
			return err
		}
		if err := db.memberEvent(ctx, tx, keyward.EventMemberRemoved, projectID, userID, "", at); err != nil {
			return err
		}
		return db.disableOwnerKeys(ctx, tx, userID, projectID, keyward.OwnerRemoved, at)
	})
}

// membersManage is the permission whose last holder a project never loses: without it nobody
// could add, change or remove a member again (keyward.ManagementPermissions requires it in every
// catalog).
const membersManage = "members-manage"

// lockProject locks the project's row for writing until the transaction ends, so that changes to
// its memberships that check an invariant over all of them run one after the other (on SQLite
// every write transaction already does). The update changes no key column: on PostgreSQL it
// does not block the foreign-key checks of concurrent inserts of keys and members. ENOTFOUND
// when the project does not exist.
func lockProject(ctx context.Context, tx *sql.Tx, projectID string) error {
	res, err := tx.ExecContext(ctx, "UPDATE projects SET created_at = created_at WHERE id = $1", projectID)
	if err != nil {
		return fmt.Errorf("lock project: %w", err)
	}
	if n, err := rowsAffected(res); err != nil {
		return err
	} else if n == 0 {
		return keyward.Errorf(keyward.ENOTFOUND, "Project not found.")
	}
	return nil
}

// holdsMembersManage reports whether userID is a member of the project holding members-manage,
// directly or through their role.
func holdsMembersManage(ctx context.Context, tx *sql.Tx, projectID, userID string) (bool, error) {
	g, err := grantsHeld(ctx, tx, projectID, userID, "")
	if err != nil {
		return false, err
	}
	return slices.Contains(g.users[userID], membersManage), nil
}

// holdsOwnerRole reports whether userID is a member of the project holding its owner role.
func holdsOwnerRole(ctx context.Context, tx *sql.Tx, projectID, userID string) (bool, error) {
	var owner bool
	err := tx.QueryRowContext(ctx, "SELECT r.owner FROM members m JOIN roles r ON r.id = m.role_id"+
		" WHERE m.project_id = $1 AND m.user_id = $2", projectID, userID).Scan(&owner)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("member role: %w", err)
	}
	return owner, nil
}

// keepsAManager is ECONFLICT unless some member of the project holds members-manage, directly or
// through their role, as the transaction sees the memberships after its own change.
func keepsAManager(ctx context.Context, tx *sql.Tx, projectID string) error {
	rows, err := tx.QueryContext(ctx, "SELECT m.permissions, COALESCE(r.permissions, '') FROM members m"+
		" LEFT JOIN roles r ON r.id = m.role_id WHERE m.project_id = $1", projectID)
	if err != nil {
		return fmt.Errorf("project managers: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var perms, role string
		if err := rows.Scan(&perms, &role); err != nil {
			return fmt.Errorf("project managers: %w", err)
		}
		if slices.Contains(splitList(perms), membersManage) || slices.Contains(splitList(role), membersManage) {
			return nil
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("project managers: %w", err)
	}
	return keyward.Errorf(keyward.ECONFLICT,
		"This is the last member who can manage members (%q): give that permission to another member first.", membersManage)
}

// keepsAnOwner is ECONFLICT unless some member of the project holds its owner role, as the
// transaction sees the memberships after its own change.
func keepsAnOwner(ctx context.Context, tx *sql.Tx, projectID string) error {
	var one int
	err := tx.QueryRowContext(ctx, "SELECT 1 FROM members m JOIN roles r ON r.id = m.role_id"+
		" WHERE m.project_id = $1 AND r.owner LIMIT 1", projectID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return keyward.Errorf(keyward.ECONFLICT, "This is the last owner of the project: make another member an owner first.")
	} else if err != nil {
		return fmt.Errorf("project owners: %w", err)
	}
	return nil
}

// AllProjects lists every project by name.
func (db *DB) AllProjects(ctx context.Context) ([]*keyward.Project, error) {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	rows, err := db.r.QueryContext(ctx, "SELECT "+projectCols+" FROM projects ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("all projects: %w", err)
	}
	defer rows.Close()
	var out []*keyward.Project
	for rows.Next() {
		p, err := scanProject(rows)
		if err != nil {
			return nil, fmt.Errorf("all projects: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("all projects: %w", err)
	}
	return out, nil
}

// RenameProject sets the project's name and its name_key, as CreateProject does. ECONFLICT when
// another project holds the name or one that looks like it; ENOTFOUND when unknown.
func (db *DB) RenameProject(ctx context.Context, id, name string) (*keyward.Project, error) {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	key, err := nameKey(name)
	if err != nil {
		return nil, err
	}
	var out *keyward.Project
	err = db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		p, err := scanProject(tx.QueryRowContext(ctx,
			"UPDATE projects SET name = $1, name_key = $2 WHERE id = $3 RETURNING "+projectCols, name, key, id))
		switch {
		case isUnique(err):
			return keyward.Errorf(keyward.ECONFLICT, "A project named %q already exists.", name)
		case errors.Is(err, sql.ErrNoRows):
			return keyward.Errorf(keyward.ENOTFOUND, "Project not found.")
		case err != nil:
			return fmt.Errorf("rename project: %w", err)
		}
		out = p
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteProject deletes the project, its memberships and its keys, and revokes every session of
// them, in one transaction. The project's row is locked first, so no key or membership can be
// added to it meanwhile; the memberships and keys go before the sessions are revoked, because
// CreateSession share-locks them: every session has committed before the revocation, or finds
// its credential gone. The audit events are kept.
func (db *DB) DeleteProject(ctx context.Context, id string, at time.Time) error {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	return db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var found string
		err := tx.QueryRowContext(ctx, "SELECT id FROM projects WHERE id = $1"+db.q.forUpdate, id).Scan(&found)
		if errors.Is(err, sql.ErrNoRows) {
			return keyward.Errorf(keyward.ENOTFOUND, "Project not found.")
		} else if err != nil {
			return fmt.Errorf("delete project: %w", err)
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM members WHERE project_id = $1", id); err != nil {
			return fmt.Errorf("delete project: members: %w", err)
		}
		keys, err := keyIDs(ctx, tx, "DELETE FROM api_keys WHERE project_id = $1 RETURNING id, project_id", id)
		if err != nil {
			return fmt.Errorf("delete project: keys: %w", err)
		}
		if _, err := db.revokeSessions(ctx, tx, "project_id = $3", at, reasonProjectDeleted, id); err != nil {
			return err
		}
		for _, k := range keys {
			if err := db.appendKeyRevocation(ctx, tx, k.id, id, at); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM projects WHERE id = $1", id); err != nil {
			return fmt.Errorf("delete project: %w", err)
		}
		return nil
	})
}

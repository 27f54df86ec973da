package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/names"
)

const roleCols = "id, project_id, name, description, permissions, owner, created_at, updated_at, require_dpop"

// roleSelect reads a role with the number of members and keys holding it, both from indexes.
const roleSelect = "SELECT r.id, r.project_id, r.name, r.description, r.permissions, r.owner, r.created_at, r.updated_at, r.require_dpop," +
	" (SELECT COUNT(*) FROM members m WHERE m.role_id = r.id), (SELECT COUNT(*) FROM api_keys k WHERE k.role_id = r.id)" +
	" FROM roles r"

func scanRole(row scanner) (*keyward.Role, error) {
	var r keyward.Role
	var perms string
	var created, updated int64
	if err := row.Scan(&r.ID, &r.ProjectID, &r.Name, &r.Description, &perms, &r.Owner, &created, &updated, &r.RequireDPoP, &r.Members, &r.Keys); err != nil {
		return nil, err
	}
	r.Permissions = splitList(perms)
	r.CreatedAt, r.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &r, nil
}

// insertRoles stores roles in tx, each in its own project.
func insertRoles(ctx context.Context, tx *sql.Tx, roles []*keyward.Role) error {
	for _, r := range roles {
		perms, err := joinList("permission", r.Permissions)
		if err != nil {
			return err
		}
		key, err := nameKey(r.Name)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO roles ("+roleCols+", name_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
			r.ID, r.ProjectID, r.Name, r.Description, perms, r.Owner, micros(r.CreatedAt), micros(r.UpdatedAt), r.RequireDPoP, key)
		switch {
		case isUnique(err):
			return keyward.Errorf(keyward.ECONFLICT, "A role named %q already exists in this project.", r.Name)
		case isForeignKey(err):
			return keyward.Errorf(keyward.ENOTFOUND, "Project not found.")
		case err != nil:
			return fmt.Errorf("create role: %w", err)
		}
	}
	return nil
}

// CreateRole stores r. ECONFLICT when its name, or one that looks like it (names.Key), is taken
// in the project; EINVALID when the name holds an invisible character; ENOTFOUND when the
// project does not exist.
func (db *DB) CreateRole(ctx context.Context, r *keyward.Role) error {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	return db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error { return insertRoles(ctx, tx, []*keyward.Role{r}) })
}

// Role returns the role of projectID that ref names: its id, or its name. ENOTFOUND otherwise.
func (db *DB) Role(ctx context.Context, projectID, ref string) (*keyward.Role, error) {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	col := "r.name"
	if strings.HasPrefix(ref, keyward.PrefixRole) {
		col = "r.id"
	}
	r, err := scanRole(db.r.QueryRowContext(ctx, roleSelect+" WHERE r.project_id = $1 AND "+col+" = $2", projectID, ref))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, keyward.Errorf(keyward.ENOTFOUND, "Role not found.")
	} else if err != nil {
		return nil, fmt.Errorf("role: %w", err)
	}
	return r, nil
}

// RolePage returns one page of a project's roles ordered by name (by its look-alike key), and the cursor of the next
// page ("" on the last). A search keeps the role whose id it is and the roles whose name, by its
// look-alike key, begins with it.
func (db *DB) RolePage(ctx context.Context, projectID string, p keyward.Page) ([]*keyward.Role, string, error) {
	return keyedList[*keyward.Role]{
		name: "roles", base: roleSelect + " WHERE r.project_id = $1", args: []any{projectID},
		id: "r.id", key: "r.name_key", fold: names.Lenient, scan: scanRole,
		// A role's name_key is nameKey of its name, as every write of a role stores it.
		keyOf: func(r *keyward.Role) string { k, _ := nameKey(r.Name); return k },
	}.page(ctx, db, p)
}

// UpdateRole applies change to the role id of projectID and returns it as it now is. In the
// same transaction, a change that takes a permission away ends the sessions of every holder who
// could do more before (members' sessions narrowed to the project, reason "role_narrowed"; the
// sessions of keys that hold the role or are owned by a member who does, with an audit event
// each), and raises the revision of the keys that hold the role, so no cached copy of one
// exchanges with the old permissions. EFORBIDDEN for the owner role; ENOTFOUND when unknown;
// ECONFLICT when the new name is taken.
func (db *DB) UpdateRole(ctx context.Context, projectID, id string, change keyward.RoleChange, at time.Time) (*keyward.Role, error) {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	var after *keyward.Role
	err := db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if err := lockProject(ctx, tx, projectID); err != nil {
			return keyward.Errorf(keyward.ENOTFOUND, "Role not found.")
		}
		err := tx.QueryRowContext(ctx, "SELECT id FROM roles WHERE project_id = $1 AND id = $2"+db.q.forUpdate, projectID, id).Scan(new(string))
		if errors.Is(err, sql.ErrNoRows) {
			return keyward.Errorf(keyward.ENOTFOUND, "Role not found.")
		} else if err != nil {
			return fmt.Errorf("update role: %w", err)
		}
		before, err := scanRole(tx.QueryRowContext(ctx, roleSelect+" WHERE r.id = $1", id))
		if err != nil {
			return fmt.Errorf("update role: %w", err)
		}
		if before.Owner {
			return keyward.Errorf(keyward.EFORBIDDEN, "The owner role always holds every permission; it cannot be changed.")
		}
		r := *before
		after = &r
		if change.Name != nil {
			r.Name = *change.Name
		}
		if change.Description != nil {
			r.Description = *change.Description
		}
		if change.Permissions != nil {
			r.Permissions = slices.Clone(*change.Permissions)
		}
		if change.RequireDPoP != nil {
			r.RequireDPoP = *change.RequireDPoP
		}
		r.UpdatedAt = at
		perms, err := joinList("permission", r.Permissions)
		if err != nil {
			return err
		}
		key, err := nameKey(r.Name)
		if err != nil {
			return err
		}
		held, err := grantsHeld(ctx, tx, projectID, "", id)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx,
			"UPDATE roles SET name = $1, name_key = $2, description = $3, permissions = $4, updated_at = $5, require_dpop = $7 WHERE id = $6",
			r.Name, key, r.Description, perms, micros(at), id, r.RequireDPoP)
		if isUnique(err) {
			return keyward.Errorf(keyward.ECONFLICT, "A role named %q already exists in this project.", r.Name)
		} else if err != nil {
			return fmt.Errorf("update role: %w", err)
		}
		if slices.Equal(before.Permissions, r.Permissions) && before.RequireDPoP == r.RequireDPoP {
			return nil
		}
		// A new revision makes a copy of such a key read before the change (the token
		// endpoint's cache, an exchange in flight) fail to start a session, so it is read again.
		if _, err := tx.ExecContext(ctx, "UPDATE api_keys SET revision = revision + 1 WHERE role_id = $1", id); err != nil {
			return fmt.Errorf("update role: keys: %w", err)
		}
		if slices.Equal(before.Permissions, r.Permissions) {
			return nil
		}
		if !keyward.Subset(before.Permissions, r.Permissions) {
			if err := db.endRoleRuleSessions(ctx, tx, id, reasonRoleNarrowed, at); err != nil {
				return err
			}
		}
		return db.endNarrowed(ctx, tx, held, reasonRoleNarrowed, reasonRoleNarrowed, at)
	})
	if err != nil {
		return nil, err
	}
	return after, nil
}

// DeleteRole deletes the role id of projectID. ECONFLICT while a member or a key holds it:
// taking permissions away from its holders is a decision to make for each of them.
// EFORBIDDEN for the owner role; ENOTFOUND when unknown.
func (db *DB) DeleteRole(ctx context.Context, projectID, id string) error {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	return db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		// Locked first: a member or key being given the role share-locks it (lockRole), so
		// the counts below see every holder that committed, and later ones wait.
		err := tx.QueryRowContext(ctx, "SELECT id FROM roles WHERE project_id = $1 AND id = $2"+db.q.forUpdate, projectID, id).Scan(new(string))
		if errors.Is(err, sql.ErrNoRows) {
			return keyward.Errorf(keyward.ENOTFOUND, "Role not found.")
		} else if err != nil {
			return fmt.Errorf("delete role: %w", err)
		}
		r, err := scanRole(tx.QueryRowContext(ctx, roleSelect+" WHERE r.id = $1", id))
		if errors.Is(err, sql.ErrNoRows) {
			return keyward.Errorf(keyward.ENOTFOUND, "Role not found.")
		} else if err != nil {
			return fmt.Errorf("delete role: %w", err)
		}
		if r.Owner {
			return keyward.Errorf(keyward.EFORBIDDEN, "The owner role cannot be deleted.")
		}
		if err := roleInUse(r); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM roles WHERE id = $1", id)
		if isForeignKey(err) {
			// A holder arrived after the count: the same answer as when it came before.
			return keyward.Errorf(keyward.ECONFLICT, "Role %q is in use; give its holders another role first.", r.Name)
		} else if err != nil {
			return fmt.Errorf("delete role: %w", err)
		}
		return nil
	})
}

func roleInUse(r *keyward.Role) error {
	if r.Members+r.Keys == 0 {
		return nil
	}
	return keyward.Errorf(keyward.ECONFLICT, "Role %q is held by %s and %s; give them another role first.",
		r.Name, plural(r.Members, "member", "members"), plural(r.Keys, "API key", "API keys"))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// SeedRoles gives every project without an owner role the roles defaults returns (the project's
// id and new role ids are filled in here), and the owner role to its members who hold every
// permission of that role directly (before roles, the project's owners). It sets the owner role
// of every project to hold ownerPermissions, so that a permission added to the catalog reaches
// the owners. It runs at start and is idempotent.
func (db *DB) SeedRoles(ctx context.Context, defaults func() []*keyward.Role, newID func() (string, error), ownerPermissions []string, at time.Time) error {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	perms, err := joinList("permission", ownerPermissions)
	if err != nil {
		return err
	}
	return db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "UPDATE roles SET permissions = $1 WHERE owner AND permissions <> $1", perms); err != nil {
			return fmt.Errorf("seed roles: owner roles: %w", err)
		}
		rows, err := tx.QueryContext(ctx,
			"SELECT id FROM projects p WHERE NOT EXISTS (SELECT 1 FROM roles r WHERE r.project_id = p.id AND r.owner) ORDER BY id")
		if err != nil {
			return fmt.Errorf("seed roles: %w", err)
		}
		var projects []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return fmt.Errorf("seed roles: %w", err)
			}
			projects = append(projects, id)
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("seed roles: %w", err)
		}
		for _, project := range projects {
			roles, err := newRoles(defaults(), project, newID, at)
			if err != nil {
				return err
			}
			if err := insertRoles(ctx, tx, roles); err != nil {
				return err
			}
			owner := roles[slices.IndexFunc(roles, func(r *keyward.Role) bool { return r.Owner })]
			if err := giveOwnerRole(ctx, tx, project, owner); err != nil {
				return err
			}
		}
		return nil
	})
}

// newRoles fills in the project, ids and times of roles; one of them must be the owner role.
func newRoles(roles []*keyward.Role, projectID string, newID func() (string, error), at time.Time) ([]*keyward.Role, error) {
	if !slices.ContainsFunc(roles, func(r *keyward.Role) bool { return r.Owner }) {
		return nil, keyward.Errorf(keyward.EINVALID, "A project's roles need an owner role.")
	}
	for _, r := range roles {
		id, err := newID()
		if err != nil {
			return nil, err
		}
		r.ID, r.ProjectID, r.CreatedAt, r.UpdatedAt = id, projectID, at, at
	}
	return roles, nil
}

// giveOwnerRole gives owner to the project's members without a role who hold all of its
// permissions directly.
func giveOwnerRole(ctx context.Context, tx *sql.Tx, projectID string, owner *keyward.Role) error {
	rows, err := tx.QueryContext(ctx, "SELECT user_id, permissions FROM members WHERE project_id = $1 AND role_id IS NULL", projectID)
	if err != nil {
		return fmt.Errorf("seed roles: members: %w", err)
	}
	var owners []string
	for rows.Next() {
		var user, perms string
		if err := rows.Scan(&user, &perms); err != nil {
			rows.Close()
			return fmt.Errorf("seed roles: members: %w", err)
		}
		if keyward.Subset(owner.Permissions, splitList(perms)) {
			owners = append(owners, user)
		}
	}
	if err := rows.Close(); err != nil {
		return fmt.Errorf("seed roles: members: %w", err)
	}
	for _, user := range owners {
		if _, err := tx.ExecContext(ctx, "UPDATE members SET role_id = $1 WHERE project_id = $2 AND user_id = $3",
			owner.ID, projectID, user); err != nil {
			return fmt.Errorf("seed roles: owner: %w", err)
		}
	}
	return nil
}

// lockRole checks, in tx, that roleID is a role of projectID and share-locks it, so that it is
// not deleted before the member or key that now holds it commits. It returns the role.
func (db *DB) lockRole(ctx context.Context, tx *sql.Tx, projectID, roleID string) (*keyward.Role, error) {
	var r keyward.Role
	var perms string
	err := tx.QueryRowContext(ctx,
		"SELECT id, project_id, name, permissions, owner, require_dpop FROM roles WHERE id = $1 AND project_id = $2"+db.q.forShare,
		roleID, projectID).Scan(&r.ID, &r.ProjectID, &r.Name, &perms, &r.Owner, &r.RequireDPoP)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, keyward.Errorf(keyward.EINVALID, "The role is not a role of this project.")
	} else if err != nil {
		return nil, fmt.Errorf("role: %w", err)
	}
	r.Permissions = splitList(perms)
	return &r, nil
}

// nullRole is a role id as stored: NULL for none.
func nullRole(id string) sql.NullString { return sql.NullString{String: id, Valid: id != ""} }

// grants is what some members of a project and some keys of it hold, read in a transaction
// before a change, so that the change can end the sessions of those who now hold less.
type grants struct {
	project string
	users   map[string][]string // user id → direct ∪ role permissions
	keys    map[string][]string // key id → its own ∩ its owner's
}

// grantsHeld reads what the member userID, or every member holding roleID, holds in projectID,
// and what the enabled keys they own or that hold roleID hold there. An empty userID or roleID
// matches nothing.
func grantsHeld(ctx context.Context, tx *sql.Tx, projectID, userID, roleID string) (grants, error) {
	g := grants{project: projectID, users: map[string][]string{}, keys: map[string][]string{}}
	rows, err := tx.QueryContext(ctx,
		"SELECT m.user_id, m.permissions, COALESCE(r.permissions, '') FROM members m LEFT JOIN roles r ON r.id = m.role_id"+
			" WHERE m.project_id = $1 AND (m.user_id = $2 OR m.role_id = $3)", projectID, userID, roleID)
	if err != nil {
		return g, fmt.Errorf("held permissions: %w", err)
	}
	for rows.Next() {
		var user, own, role string
		if err := rows.Scan(&user, &own, &role); err != nil {
			rows.Close()
			return g, fmt.Errorf("held permissions: %w", err)
		}
		g.users[user] = keyward.Union(splitList(own), splitList(role))
	}
	if err := rows.Close(); err != nil {
		return g, fmt.Errorf("held permissions: %w", err)
	}
	rows, err = tx.QueryContext(ctx,
		"SELECT k.id, k.permissions, COALESCE(kr.permissions, ''), COALESCE(m.permissions, ''), COALESCE(mr.permissions, '')"+
			" FROM api_keys k LEFT JOIN roles kr ON kr.id = k.role_id"+
			" LEFT JOIN members m ON m.project_id = k.project_id AND m.user_id = k.owner"+
			" LEFT JOIN roles mr ON mr.id = m.role_id"+
			" WHERE k.project_id = $1 AND k.disabled_at IS NULL AND (k.owner = $2 OR k.role_id = $3 OR m.role_id = $3)",
		projectID, userID, roleID)
	if err != nil {
		return g, fmt.Errorf("held permissions: keys: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, own, role, owner, ownerRole string
		if err := rows.Scan(&id, &own, &role, &owner, &ownerRole); err != nil {
			return g, fmt.Errorf("held permissions: keys: %w", err)
		}
		g.keys[id] = keyward.Intersect(keyward.Union(splitList(own), splitList(role)), keyward.Union(splitList(owner), splitList(ownerRole)))
	}
	if err := rows.Err(); err != nil {
		return g, fmt.Errorf("held permissions: keys: %w", err)
	}
	return g, nil
}

// endNarrowed reads again, in tx after a change, what the members and keys of before hold, and
// ends the sessions of each that holds less now: a member's sessions narrowed to the project
// (their tokens carry the project's permissions; revoke reason userReason) and a key's sessions
// (keyReason), with an audit event api_key.sessions_ended each. Who holds more or the same keeps their sessions: a widening
// applies from the next exchange or refresh.
func (db *DB) endNarrowed(ctx context.Context, tx *sql.Tx, before grants, userReason, keyReason string, at time.Time) error {
	users := slices.Sorted(maps.Keys(before.users))
	for _, user := range users {
		after, err := grantsHeld(ctx, tx, before.project, user, "")
		if err != nil {
			return err
		}
		if keyward.Subset(before.users[user], after.users[user]) {
			continue
		}
		if _, err := db.revokeSessions(ctx, tx,
			"user_id = $3 AND project_id = $4 AND kind = '"+keyward.SessionUser+"'", at, userReason, user, before.project); err != nil {
			return err
		}
		if err := db.endOwnerRuleSessions(ctx, tx, user, before.project, userReason, at); err != nil {
			return err
		}
	}
	var narrowed []ownedKey
	for id, held := range before.keys {
		var now []string
		err := tx.QueryRowContext(ctx, "SELECT 1 FROM api_keys WHERE id = $1 AND disabled_at IS NULL", id).Scan(new(int))
		if errors.Is(err, sql.ErrNoRows) {
			continue // deleted or disabled by the change, which ended its sessions itself
		} else if err != nil {
			return fmt.Errorf("held permissions: key: %w", err)
		}
		if now, err = keyHeld(ctx, tx, id); err != nil {
			return err
		}
		if !keyward.Subset(held, now) {
			narrowed = append(narrowed, ownedKey{id: id, project: before.project})
		}
	}
	slices.SortFunc(narrowed, func(a, b ownedKey) int { return cmp.Compare(a.id, b.id) })
	return db.endKeySessions(ctx, tx, narrowed, keyward.AuditKeySessionsEnded, keyReason, at)
}

// keyHeld is what the key id holds now, read in tx: its own permissions ∩ its owner's.
func keyHeld(ctx context.Context, tx *sql.Tx, id string) ([]string, error) {
	var own, role, owner, ownerRole string
	err := tx.QueryRowContext(ctx,
		"SELECT k.permissions, COALESCE(kr.permissions, ''), COALESCE(m.permissions, ''), COALESCE(mr.permissions, '')"+
			" FROM api_keys k LEFT JOIN roles kr ON kr.id = k.role_id"+
			" LEFT JOIN members m ON m.project_id = k.project_id AND m.user_id = k.owner"+
			" LEFT JOIN roles mr ON mr.id = m.role_id WHERE k.id = $1", id).Scan(&own, &role, &owner, &ownerRole)
	if err != nil {
		return nil, fmt.Errorf("held permissions: key: %w", err)
	}
	return keyward.Intersect(keyward.Union(splitList(own), splitList(role)), keyward.Union(splitList(owner), splitList(ownerRole))), nil
}

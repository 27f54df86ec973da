package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/keyward/keyward"
)

const userCols = "id, email, password_hash, admin, disabled, created_at"

func scanUser(row scanner) (*keyward.User, error) {
	var u keyward.User
	var created int64
	if err := row.Scan(&u.ID, &u.Email, &u.PasswordHash, &u.Admin, &u.Disabled, &created); err != nil {
		return nil, err
	}
	u.CreatedAt = fromMicros(created)
	return &u, nil
}

// CreateUser stores u with its email lower-cased (u.Email is updated to match).
// ECONFLICT when the email is taken, in any letter case.
func (db *DB) CreateUser(ctx context.Context, u *keyward.User) error {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	u.Email = strings.ToLower(u.Email)
	_, err := db.exec(ctx, insertUser, userRow(u)...)
	return userInserted(err)
}

// insertUser stores a user from userRow's values; every way a user is created uses it.
const insertUser = "INSERT INTO users (" + userCols + ") VALUES ($1, $2, $3, $4, $5, $6)"

func userRow(u *keyward.User) []any {
	return []any{u.ID, u.Email, u.PasswordHash, u.Admin, u.Disabled, micros(u.CreatedAt)}
}

// userInserted reads insertUser's error: ECONFLICT when the email is taken.
func userInserted(err error) error {
	if isUnique(err) {
		return keyward.Errorf(keyward.ECONFLICT, "A user with this email address already exists.")
	} else if err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	return nil
}

// UserByID returns a user; ENOTFOUND when unknown.
func (db *DB) UserByID(ctx context.Context, id string) (*keyward.User, error) {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	u, err := scanUser(db.r.QueryRowContext(ctx, "SELECT "+userCols+" FROM users WHERE id = $1", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, keyward.Errorf(keyward.ENOTFOUND, "User not found.")
	} else if err != nil {
		return nil, fmt.Errorf("user by id: %w", err)
	}
	return u, nil
}

// UserByEmail returns the user whose email equals email in any letter case; ENOTFOUND when none.
func (db *DB) UserByEmail(ctx context.Context, email string) (*keyward.User, error) {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	u, err := scanUser(db.r.QueryRowContext(ctx,
		"SELECT "+userCols+" FROM users WHERE email = $1", strings.ToLower(email)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, keyward.Errorf(keyward.ENOTFOUND, "User not found.")
	} else if err != nil {
		return nil, fmt.Errorf("user by email: %w", err)
	}
	return u, nil
}

// CountUsers returns the number of users, disabled ones included.
func (db *DB) CountUsers(ctx context.Context) (int, error) {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	var n int
	if err := db.r.QueryRowContext(ctx, "SELECT COUNT(*) FROM users").Scan(&n); err != nil {
		return 0, fmt.Errorf("count users: %w", err)
	}
	return n, nil
}

// SetUserDisabled disables or enables a user, as UpdateUser does.
func (db *DB) SetUserDisabled(ctx context.Context, id string, disabled bool, at time.Time) error {
	_, err := db.UpdateUser(ctx, id, keyward.UserChange{Disabled: &disabled}, at)
	return err
}

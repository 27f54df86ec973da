package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/keyward/keyward"
)

// PutTOTP stores an unconfirmed TOTP secret, replacing an earlier unconfirmed one; ECONFLICT
// when the user has a confirmed one, ENOTFOUND when the user is unknown.
func (db *DB) PutTOTP(ctx context.Context, s *keyward.TOTPSecret) error {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	return db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var confirmed bool
		err := tx.QueryRowContext(ctx, "SELECT confirmed FROM user_totp WHERE user_id = $1", s.UserID).Scan(&confirmed)
		switch {
		case err == nil && confirmed:
			return keyward.Errorf(keyward.ECONFLICT, "Two-factor sign-in is already on.")
		case err != nil && !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("put totp: %w", err)
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM user_totp WHERE user_id = $1", s.UserID); err != nil {
			return fmt.Errorf("put totp: %w", err)
		}
		_, err = tx.ExecContext(ctx,
			"INSERT INTO user_totp (user_id, secret, sealed, confirmed, last_step, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
			s.UserID, s.Secret, s.Sealed, false, s.LastStep, micros(s.CreatedAt))
		if isForeignKey(err) {
			return keyward.Errorf(keyward.ENOTFOUND, "User not found.")
		} else if isUnique(err) {
			// Another enrolment of the same user committed in between.
			return keyward.Errorf(keyward.ECONFLICT, "Two-factor enrolment changed; start again.")
		} else if err != nil {
			return fmt.Errorf("put totp: %w", err)
		}
		return nil
	})
}

// TOTP returns the user's secret, confirmed or not; ENOTFOUND when none.
func (db *DB) TOTP(ctx context.Context, userID string) (*keyward.TOTPSecret, error) {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	s := keyward.TOTPSecret{UserID: userID}
	var created int64
	err := db.r.QueryRowContext(ctx,
		"SELECT secret, sealed, confirmed, last_step, created_at FROM user_totp WHERE user_id = $1", userID).
		Scan(&s.Secret, &s.Sealed, &s.Confirmed, &s.LastStep, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, keyward.Errorf(keyward.ENOTFOUND, "No TOTP secret.")
	} else if err != nil {
		return nil, fmt.Errorf("totp: %w", err)
	}
	s.CreatedAt = fromMicros(created)
	return &s, nil
}

// ConfirmTOTP confirms the unconfirmed secret, records step as used and replaces the recovery
// codes, in one transaction; ENOTFOUND when there is no unconfirmed secret.
func (db *DB) ConfirmTOTP(ctx context.Context, userID string, step int64, recoveryHashes [][]byte, at time.Time) error {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	return db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			"UPDATE user_totp SET confirmed = $1, last_step = $2 WHERE user_id = $3 AND NOT confirmed", true, step, userID)
		if err != nil {
			return fmt.Errorf("confirm totp: %w", err)
		}
		if n, err := rowsAffected(res); err != nil {
			return err
		} else if n == 0 {
			return keyward.Errorf(keyward.ENOTFOUND, "No two-factor enrolment in progress.")
		}
		return replaceRecoveryCodes(ctx, tx, userID, recoveryHashes)
	})
}

// UseTOTPStep records step as the last accepted one, only when it is later than the last: the
// compare and the write are one statement, so of two racing uses of one code one wins.
func (db *DB) UseTOTPStep(ctx context.Context, userID string, step int64) error {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	res, err := db.exec(ctx,
		"UPDATE user_totp SET last_step = $1 WHERE user_id = $2 AND confirmed AND last_step < $1", step, userID)
	if err != nil {
		return fmt.Errorf("use totp step: %w", err)
	}
	if n, err := rowsAffected(res); err != nil {
		return err
	} else if n == 0 {
		return keyward.Errorf(keyward.ECONFLICT, "This code was used already.")
	}
	return nil
}

// DeleteTOTP removes the user's secret and recovery codes.
func (db *DB) DeleteTOTP(ctx context.Context, userID string) error {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	return db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		for _, q := range []string{"DELETE FROM recovery_codes WHERE user_id = $1", "DELETE FROM user_totp WHERE user_id = $1"} {
			if _, err := tx.ExecContext(ctx, q, userID); err != nil {
				return fmt.Errorf("delete totp: %w", err)
			}
		}
		return nil
	})
}

// HasSecondFactor reports whether the user has a confirmed TOTP secret or a passkey.
func (db *DB) HasSecondFactor(ctx context.Context, userID string) (bool, error) {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	var n int
	err := db.r.QueryRowContext(ctx, "SELECT (SELECT COUNT(*) FROM user_totp WHERE user_id = $1 AND confirmed)"+
		" + (SELECT COUNT(*) FROM passkeys WHERE user_id = $1)", userID).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("has second factor: %w", err)
	}
	return n > 0, nil
}

// UseRecoveryCode marks the unused code as used in one statement, so a code is spent once
// however many racing calls present it, and returns how many are left.
func (db *DB) UseRecoveryCode(ctx context.Context, userID string, hash []byte, at time.Time) (int, error) {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	var left int
	err := db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			"UPDATE recovery_codes SET used_at = $1 WHERE user_id = $2 AND hash = $3 AND used_at IS NULL", micros(at), userID, hash)
		if err != nil {
			return fmt.Errorf("use recovery code: %w", err)
		}
		if n, err := rowsAffected(res); err != nil {
			return err
		} else if n == 0 {
			return keyward.Errorf(keyward.ENOTFOUND, "No such unused recovery code.")
		}
		left, err = countRecoveryCodes(ctx, tx, userID)
		return err
	})
	return left, err
}

// ReplaceRecoveryCodes replaces the codes of a user with a confirmed secret.
func (db *DB) ReplaceRecoveryCodes(ctx context.Context, userID string, hashes [][]byte, at time.Time) error {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	return db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		// Recovery codes stand in for the authenticator app's codes, so they need one.
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM user_totp WHERE user_id = $1 AND confirmed", userID).Scan(&n); err != nil {
			return fmt.Errorf("replace recovery codes: %w", err)
		} else if n == 0 {
			return keyward.Errorf(keyward.ENOTFOUND, "No authenticator app is set up.")
		}
		return replaceRecoveryCodes(ctx, tx, userID, hashes)
	})
}

func replaceRecoveryCodes(ctx context.Context, tx *sql.Tx, userID string, hashes [][]byte) error {
	if _, err := tx.ExecContext(ctx, "DELETE FROM recovery_codes WHERE user_id = $1", userID); err != nil {
		return fmt.Errorf("replace recovery codes: %w", err)
	}
	for _, h := range hashes {
		if _, err := tx.ExecContext(ctx, "INSERT INTO recovery_codes (user_id, hash) VALUES ($1, $2)", userID, h); err != nil {
			return fmt.Errorf("replace recovery codes: %w", err)
		}
	}
	return nil
}

// RecoveryCodesLeft counts the user's unused recovery codes.
func (db *DB) RecoveryCodesLeft(ctx context.Context, userID string) (int, error) {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	return countRecoveryCodes(ctx, db.r, userID)
}

// countRecoveryCodes counts the user's unused recovery codes, in a transaction or not.
func countRecoveryCodes(ctx context.Context, q rowQuerier, userID string) (int, error) {
	var n int
	err := q.QueryRowContext(ctx, "SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL", userID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("recovery codes left: %w", err)
	}
	return n, nil
}

// CreateLoginChallenge stores a sign-in awaiting its second factor.
func (db *DB) CreateLoginChallenge(ctx context.Context, c *keyward.LoginChallenge) error {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	_, err := db.exec(ctx,
		"INSERT INTO login_challenges (hash, user_id, next, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
		c.Hash, c.UserID, c.Next, micros(c.CreatedAt), micros(c.ExpiresAt))
	if isForeignKey(err) {
		return keyward.Errorf(keyward.ENOTFOUND, "User not found.")
	} else if isUnique(err) {
		return keyward.Errorf(keyward.ECONFLICT, "Login challenge already exists.")
	} else if err != nil {
		return fmt.Errorf("create login challenge: %w", err)
	}
	return nil
}

// LoginChallenge returns the challenge with this hash, expired or not.
func (db *DB) LoginChallenge(ctx context.Context, hash []byte) (*keyward.LoginChallenge, error) {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	var c keyward.LoginChallenge
	var created, expires int64
	err := db.r.QueryRowContext(ctx,
		"SELECT hash, user_id, next, created_at, expires_at FROM login_challenges WHERE hash = $1", hash).
		Scan(&c.Hash, &c.UserID, &c.Next, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, keyward.Errorf(keyward.ENOTFOUND, "Login challenge not found.")
	} else if err != nil {
		return nil, fmt.Errorf("login challenge: %w", err)
	}
	c.CreatedAt, c.ExpiresAt = fromMicros(created), fromMicros(expires)
	return &c, nil
}

// DeleteLoginChallenge deletes the challenge and reports whether it was there.
func (db *DB) DeleteLoginChallenge(ctx context.Context, hash []byte) (bool, error) {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	res, err := db.exec(ctx, "DELETE FROM login_challenges WHERE hash = $1", hash)
	if err != nil {
		return false, fmt.Errorf("delete login challenge: %w", err)
	}
	n, err := rowsAffected(res)
	return n > 0, err
}

// SetProjectRequire2FA sets the project's require_2fa setting.
func (db *DB) SetProjectRequire2FA(ctx context.Context, id string, require bool) (*keyward.Project, error) {
	return db.setProjectSetting(ctx, id, "require_2fa", require, nil)
}

// setProjectSetting sets the project's boolean column to value and runs also (when set) in the
// same transaction; it returns the project as it now is, ENOTFOUND when it does not exist.
func (db *DB) setProjectSetting(ctx context.Context, id, column string, value bool, also func(context.Context, *sql.Tx) error) (*keyward.Project, error) {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	var p *keyward.Project
	err := db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		p, err = scanProject(tx.QueryRowContext(ctx,
			"UPDATE projects SET "+column+" = $1 WHERE id = $2 RETURNING "+projectCols, value, id))
		if errors.Is(err, sql.ErrNoRows) {
			return keyward.Errorf(keyward.ENOTFOUND, "Project not found.")
		} else if err != nil {
			return fmt.Errorf("set project %s: %w", column, err)
		}
		if also != nil {
			return also(ctx, tx)
		}
		return nil
	})
	return p, err
}

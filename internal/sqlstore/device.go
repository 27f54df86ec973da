package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/keyward/keyward"
)

const deviceCols = "device_hash, user_code_hash, client_id, project, scope, ip, created_at, expires_at, interval_ms, " +
	"last_polled_at, status, COALESCE(user_id, ''), decided_at, redeemed"

// deviceSlowDown is how much a poll sooner than the interval grows it (RFC 8628 §3.5).
const deviceSlowDown = 5 * time.Second

// scanDevice reads one row of deviceCols; a redeemed authorization is as good as unknown.
func scanDevice(row scanner) (*keyward.DeviceAuthorization, error) {
	var d keyward.DeviceAuthorization
	var scope sql.NullString
	var created, expires, interval int64
	var polled, decided sql.NullInt64
	var redeemed bool
	err := row.Scan(&d.DeviceCodeHash, &d.UserCodeHash, &d.ClientID, &d.Project, &scope, &d.IP, &created, &expires,
		&interval, &polled, &d.Status, &d.UserID, &decided, &redeemed)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && redeemed) {
		return nil, keyward.Errorf(keyward.ENOTFOUND, "Device authorization not found.")
	} else if err != nil {
		return nil, fmt.Errorf("device authorization: %w", err)
	}
	if scope.Valid {
		d.Scope = splitList(scope.String)
		if d.Scope == nil {
			d.Scope = []string{}
		}
	}
	d.CreatedAt, d.ExpiresAt = fromMicros(created), fromMicros(expires)
	d.Interval = time.Duration(interval) * time.Millisecond
	d.LastPolledAt, d.DecidedAt = timePtr(polled), timePtr(decided)
	return &d, nil
}

// CreateDeviceAuthorization stores a pending authorization, replacing an expired one that had
// the same user code.
func (db *DB) CreateDeviceAuthorization(ctx context.Context, d *keyward.DeviceAuthorization) error {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	if len(d.DeviceCodeHash) == 0 || len(d.UserCodeHash) == 0 {
		return keyward.Errorf(keyward.EINVALID, "Both code hashes are required.")
	}
	scope := sql.NullString{Valid: d.Scope != nil}
	if scope.Valid {
		var err error
		if scope.String, err = joinList("scope", d.Scope); err != nil {
			return err
		}
	}
	return db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM device_authorizations WHERE user_code_hash = $1 AND expires_at <= $2",
			d.UserCodeHash, micros(d.CreatedAt)); err != nil {
			return fmt.Errorf("replace expired device authorization: %w", err)
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO device_authorizations (device_hash, user_code_hash, client_id, project, scope, ip, "+
			"created_at, expires_at, interval_ms, status) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
			d.DeviceCodeHash, d.UserCodeHash, d.ClientID, d.Project, scope, d.IP, micros(d.CreatedAt), micros(d.ExpiresAt),
			d.Interval.Milliseconds(), keyward.DevicePending)
		if isUnique(err) {
			return keyward.Errorf(keyward.ECONFLICT, "A device authorization with this code exists.")
		} else if err != nil {
			return fmt.Errorf("create device authorization: %w", err)
		}
		d.Status = keyward.DevicePending
		return nil
	})
}

// DeviceAuthorization returns the authorization of a user code.
func (db *DB) DeviceAuthorization(ctx context.Context, userCodeHash []byte) (*keyward.DeviceAuthorization, error) {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	return scanDevice(db.r.QueryRowContext(ctx, "SELECT "+deviceCols+" FROM device_authorizations WHERE user_code_hash = $1", userCodeHash))
}

// DecideDeviceAuthorization approves or denies a pending authorization; the row is locked from
// the read to the write, so of two racing decisions the second finds it decided.
func (db *DB) DecideDeviceAuthorization(ctx context.Context, userCodeHash []byte, userID string, approve bool, at time.Time) (*keyward.DeviceAuthorization, error) {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	status := keyward.DeviceDenied
	if approve {
		status = keyward.DeviceApproved
	}
	var d *keyward.DeviceAuthorization
	err := db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		d, err = scanDevice(tx.QueryRowContext(ctx, "SELECT "+deviceCols+" FROM device_authorizations WHERE user_code_hash = $1"+db.q.forUpdate, userCodeHash))
		switch {
		case err != nil:
			return err
		case d.Expired(at):
			return keyward.Errorf(keyward.EEXPIRED, "The code has expired.")
		case d.Status != keyward.DevicePending:
			return keyward.Errorf(keyward.ECONFLICT, "The code was already %s.", d.Status)
		}
		res, err := tx.ExecContext(ctx, "UPDATE device_authorizations SET status = $1, user_id = $2, decided_at = $3 WHERE device_hash = $4 AND status = $5",
			status, userID, micros(at), d.DeviceCodeHash, keyward.DevicePending)
		if isForeignKey(err) {
			return keyward.Errorf(keyward.ENOTFOUND, "User not found.")
		} else if err != nil {
			return fmt.Errorf("decide device authorization: %w", err)
		}
		if n, err := rowsAffected(res); err != nil {
			return err
		} else if n == 0 {
			return keyward.Errorf(keyward.ECONFLICT, "The code was already decided.")
		}
		d.Status, d.UserID, d.DecidedAt = status, userID, &at
		return nil
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// PollDeviceAuthorization records a poll, growing the interval of a pending authorization polled
// too soon.
func (db *DB) PollDeviceAuthorization(ctx context.Context, deviceCodeHash []byte, at time.Time) (*keyward.DeviceAuthorization, error) {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	var d *keyward.DeviceAuthorization
	err := db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		d, err = scanDevice(tx.QueryRowContext(ctx, "SELECT "+deviceCols+" FROM device_authorizations WHERE device_hash = $1"+db.q.forUpdate, deviceCodeHash))
		if err != nil || d.Expired(at) {
			return err
		}
		if d.Status == keyward.DevicePending && d.LastPolledAt != nil && at.Before(d.LastPolledAt.Add(d.Interval)) {
			d.Interval += deviceSlowDown
			d.SlowDown = true
		}
		if _, err := tx.ExecContext(ctx, "UPDATE device_authorizations SET last_polled_at = $1, interval_ms = $2 WHERE device_hash = $3",
			micros(at), d.Interval.Milliseconds(), deviceCodeHash); err != nil {
			return fmt.Errorf("poll device authorization: %w", err)
		}
		d.LastPolledAt = &at
		return nil
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// RedeemDeviceAuthorization marks an approved authorization redeemed and stores the approver's
// session, in one transaction: a failure to store the session leaves the approval unspent.
func (db *DB) RedeemDeviceAuthorization(ctx context.Context, deviceCodeHash []byte, s *keyward.Session, first *keyward.RefreshToken) error {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	args, err := sessionArgs(s, first)
	if err != nil {
		return err
	}
	return db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		d, err := scanDevice(tx.QueryRowContext(ctx, "SELECT "+deviceCols+" FROM device_authorizations WHERE device_hash = $1"+db.q.forUpdate, deviceCodeHash))
		switch {
		case err != nil:
			return err
		case d.Expired(s.CreatedAt):
			return keyward.Errorf(keyward.EEXPIRED, "The device code has expired.")
		case d.Status != keyward.DeviceApproved || s.Kind != keyward.SessionUser || s.UserID != d.UserID:
			return keyward.Errorf(keyward.ECONFLICT, "The device code is not approved for this user.")
		}
		res, err := tx.ExecContext(ctx, "UPDATE device_authorizations SET redeemed = TRUE WHERE device_hash = $1 AND NOT redeemed", deviceCodeHash)
		if err != nil {
			return fmt.Errorf("redeem device authorization: %w", err)
		}
		if n, err := rowsAffected(res); err != nil {
			return err
		} else if n == 0 {
			return keyward.Errorf(keyward.ENOTFOUND, "Device authorization not found.")
		}
		return db.insertSession(ctx, tx, s, first, args)
	})
}

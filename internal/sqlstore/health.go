package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward"
)

// ErrWritesFailing is wrapped by Ping's error when the database answers reads but its last write
// failed: a full disk, a read-only file or a standby taking the place of the primary.
var ErrWritesFailing = errors.New("writes are failing")

// writeProbeInterval is how long a successful write vouches for the next ones: Ping writes only
// when real traffic has not written for that long, or when a write failed since.
const writeProbeInterval = 10 * time.Second

// writeHealth is what the store learned from its last writes.
type writeHealth struct {
	mu      sync.Mutex // held by the probe, so that concurrent Pings write once
	state   sync.Mutex // guards lastOK and lastErr
	lastOK  time.Time
	lastErr error // the failure of the latest write, nil once a write succeeds again

	fault atomic.Pointer[error] // FailWrites
}

// record takes note of a write's outcome. Answers that concern the operation (a conflict, a
// missing row) and a caller that went away say nothing about the database.
func (h *writeHealth) record(err error) {
	if err != nil && (keyward.ErrorCode(err) != keyward.EINTERNAL || errors.Is(err, context.Canceled) ||
		isUnique(err) || isForeignKey(err) || errors.Is(err, sql.ErrNoRows)) {
		return
	}
	h.state.Lock()
	defer h.state.Unlock()
	if err == nil {
		h.lastOK, h.lastErr = time.Now(), nil
		return
	}
	h.lastErr = err
}

// vouched reports whether recent writes show that writing works.
func (h *writeHealth) vouched() bool {
	h.state.Lock()
	defer h.state.Unlock()
	return h.lastErr == nil && time.Since(h.lastOK) < writeProbeInterval
}

// faulty returns the error set by FailWrites, if any.
func (h *writeHealth) faulty() error {
	if f := h.fault.Load(); f != nil {
		return *f
	}
	return nil
}

// exec runs a write outside a transaction and takes note of its outcome, as runTx does.
func (db *DB) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	var res sql.Result
	err := db.health.faulty()
	if err == nil {
		res, err = db.w.ExecContext(ctx, query, args...)
	}
	db.health.record(err)
	return res, err
}

// FailWrites makes every later write transaction fail with err, as a full disk would, until it
// is called with nil. It exists for tests of what users see when writes fail.
func (db *DB) FailWrites(err error) {
	if err == nil {
		db.health.fault.Store(nil)
		return
	}
	db.health.fault.Store(&err)
}

// Ping reports whether the database answers and accepts writes. Reads are tried every time;
// writes are taken on trust from the store's own recent writes, and only when there were none
// lately, or the latest failed, does Ping write (one row of its own) to find out. A failing write
// gives an error that wraps ErrWritesFailing.
func (db *DB) Ping(ctx context.Context) error {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	if err := db.r.PingContext(ctx); err != nil {
		return fmt.Errorf("ping %s: %w", db.dialect, err)
	}
	h := &db.health
	if h.vouched() {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.vouched() {
		return nil // another Ping has just written
	}
	err := db.inTxSingle(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "UPDATE write_probe SET written_at = $1 WHERE id = 1", micros(time.Now()))
		return err
	})
	if err != nil {
		return fmt.Errorf("%s: %w: %w", db.dialect, ErrWritesFailing, err)
	}
	return nil
}

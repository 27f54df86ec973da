package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"

	"github.com/keyward/keyward"
)

// maxBatch bounds how many write operations share one SQLite transaction, and so how long the
// last of them waits for the commit that acknowledges it.
const maxBatch = 64

// errClosed answers writes that arrive after Close.
var errClosed = errors.New("store closed")

// writeOp is one inTx call waiting for the SQLite committer.
type writeOp struct {
	ctx  context.Context
	fn   func(ctx context.Context, tx *sql.Tx) error
	done chan error // receives exactly one answer, after the batch's commit
	// single marks an fn whose only write is its last statement: when it fails, SQLite has
	// already undone that statement and nothing else was written, so no savepoint is needed.
	single bool
}

// committer runs SQLite write operations in batches (group commit). Writes are serialized by the
// one writer connection anyway; what a batch saves is the per-transaction cost (BEGIN, COMMIT's
// WAL frame writes, pages touched by several operations written once). Each operation runs under
// its own SAVEPOINT, so its failure, or its keepTx, concerns it alone, exactly as if it had its
// own transaction; every operation is answered only after the commit that makes it durable.
type committer struct {
	w     *sql.DB
	prep  prepared
	ops   chan *writeOp // unbuffered: an operation is either taken by the loop or never was
	quit  chan struct{}
	ended chan struct{}

	pending atomic.Int64 // operations submitted and not yet answered
	batches atomic.Int64 // transactions run
	done    atomic.Int64 // operations run in them
}

func newCommitter(w *sql.DB, prep prepared) *committer {
	c := &committer{w: w, prep: prep, ops: make(chan *writeOp), quit: make(chan struct{}), ended: make(chan struct{})}
	go c.loop()
	return c
}

// do runs fn in a batch and returns its result once the batch has committed. single is
// writeOp.single.
func (c *committer) do(ctx context.Context, single bool, fn func(ctx context.Context, tx *sql.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	op := &writeOp{ctx: ctx, fn: fn, done: make(chan error, 1), single: single}
	c.pending.Add(1)
	defer c.pending.Add(-1)
	select {
	case c.ops <- op:
	case <-c.quit:
		return errClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	// Taken: the answer always comes, and must be awaited even if ctx ends, since the operation
	// may commit.
	return <-op.done
}

// close stops the loop after the batch in progress, if any.
func (c *committer) close() {
	close(c.quit)
	<-c.ended
}

func (c *committer) loop() {
	defer close(c.ended)
	batch := make([]*writeOp, 0, maxBatch)
	for {
		select {
		case op := <-c.ops:
			batch = append(batch[:0], op)
		case <-c.quit:
			return
		}
		// Only the operations already waiting join: an idle store never delays a write. One
		// yield lets the requests that are already running (and about to write) submit first;
		// when nothing else is runnable it returns at once.
		yielded := false
	fill:
		for len(batch) < maxBatch {
			select {
			case op := <-c.ops:
				batch = append(batch, op)
			default:
				if yielded {
					break fill
				}
				yielded = true
				runtime.Gosched()
			}
		}
		c.run(batch)
		clear(batch)
	}
}

// run executes one batch in one transaction and answers every operation of it.
func (c *committer) run(batch []*writeOp) {
	// Operations first, batches second, and WriteStats reads them the other way round: a batch it
	// counts has its operations counted too, so a reading never shows more transactions than
	// operations.
	c.done.Add(int64(len(batch)))
	c.batches.Add(1)
	errs := make([]error, len(batch))
	answer := func(common error) {
		for i, op := range batch {
			if common != nil {
				errs[i] = common
			}
			op.done <- errs[i]
		}
	}
	// Not any caller's context: one cancelled request must not roll back the others' writes.
	tx, err := c.w.BeginTx(context.Background(), nil)
	if err != nil {
		answer(fmt.Errorf("begin: %w", err))
		return
	}
	if len(batch) == 1 {
		// Alone in its transaction, an operation needs no savepoint: its failure rolls back
		// everything there is.
		errs[0] = c.runAlone(tx, batch[0])
		answer(nil)
		return
	}
	for i, op := range batch {
		if err := op.ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		if err := c.runOp(tx, op); err != nil {
			if errors.Is(err, errBatchBroken) {
				tx.Rollback()
				answer(err)
				return
			}
			errs[i] = err
		}
	}
	if err := tx.Commit(); err != nil {
		answer(fmt.Errorf("commit: %w", err))
		return
	}
	answer(nil)
}

// runAlone runs the only operation of a transaction and ends the transaction: committed when fn
// returns nil or a *keepTx, rolled back otherwise.
func (c *committer) runAlone(tx *sql.Tx, op *writeOp) error {
	if err := op.ctx.Err(); err != nil {
		tx.Rollback()
		return err
	}
	err := op.fn(context.WithoutCancel(op.ctx), tx)
	var keep *keepTx
	if err != nil && !errors.As(err, &keep) {
		tx.Rollback()
		return err
	}
	if cerr := tx.Commit(); cerr != nil {
		return fmt.Errorf("commit: %w", cerr)
	}
	if keep != nil {
		return keep.err
	}
	return nil
}

// errBatchBroken marks a failure that leaves the shared transaction unusable.
var errBatchBroken = errors.New("write batch aborted")

// runOp runs one operation under a savepoint (whose undo journal the writer keeps in memory,
// temp_store=MEMORY, rather than in a temporary file): released when fn returns nil or a *keepTx, rolled
// back to otherwise. The operation's own error (or keepTx's) is returned.
func (c *committer) runOp(tx *sql.Tx, op *writeOp) error {
	// Once started, an operation runs to its end: SQLite answers an interrupted write by
	// rolling back the whole transaction, the other operations of the batch with it.
	ctx := context.WithoutCancel(op.ctx)
	if op.single {
		err := op.fn(ctx, tx)
		// A domain error (a constraint, a missing row) leaves the transaction as it was; any
		// other failure may have ended it, and the batch with it.
		if err != nil && keyward.ErrorCode(err) == keyward.EINTERNAL {
			return fmt.Errorf("%w: %w", errBatchBroken, err)
		}
		return err
	}
	if _, err := c.prep.txExec(ctx, tx, qSavepoint); err != nil {
		return fmt.Errorf("%w: savepoint: %w", errBatchBroken, err)
	}
	err := op.fn(ctx, tx)
	var keep *keepTx
	if err != nil && !errors.As(err, &keep) {
		if _, rerr := c.prep.txExec(ctx, tx, qRollbackTo); rerr != nil {
			return fmt.Errorf("%w: rollback to savepoint: %w (after %w)", errBatchBroken, rerr, err)
		}
	}
	if _, rerr := c.prep.txExec(ctx, tx, qRelease); rerr != nil {
		return fmt.Errorf("%w: release savepoint: %w", errBatchBroken, rerr)
	}
	if keep != nil {
		return keep.err
	}
	return err
}

// WriteStats returns how many write operations the SQLite store has run and in how many
// transactions: their ratio is the group commit's average batch. Both are 0 on PostgreSQL, where
// every operation has its own transaction.
func (db *DB) WriteStats() (ops, transactions int64) {
	if db.commit == nil {
		return 0, 0
	}
	transactions = db.commit.batches.Load()
	return db.commit.done.Load(), transactions
}

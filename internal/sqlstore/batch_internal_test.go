package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/keyward/keyward"
)

func openTestSQLite(t *testing.T) *DB {
	t.Helper()
	db, err := Open(t.Context(), "sqlite:"+filepath.Join(t.TempDir(), "keyward.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func insertProject(ctx context.Context, tx *sql.Tx, id string) error {
	_, err := tx.ExecContext(ctx, "INSERT INTO projects (id, name, created_at) VALUES ($1, $1, 0)", id)
	return err
}

func projectExists(t *testing.T, db *DB, id string) bool {
	t.Helper()
	var n int
	if err := db.r.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM projects WHERE id = $1", id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

// TestGroupCommitKeepsOperationsApart runs writes that share one transaction and checks that each
// one's outcome is its own: a failed operation leaves nothing behind and does not take the others
// with it, a keepTx commits and still reports its error.
func TestGroupCommitKeepsOperationsApart(t *testing.T) {
	db := openTestSQLite(t)
	ctx := t.Context()

	// The first operation holds the committer until every other one is queued behind it, so
	// that they all run in the second transaction.
	const n = 30
	started, release := make(chan struct{}), make(chan struct{})
	first := make(chan error, 1)
	go func() {
		first <- db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			close(started)
			<-release
			return insertProject(ctx, tx, "prj_first")
		})
	}()
	<-started
	errOwn := errors.New("own failure")
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
				id := fmt.Sprintf("prj_%02d", i)
				if err := insertProject(ctx, tx, id); err != nil {
					return err
				}
				switch i % 3 {
				case 1: // fails after writing: its row must go
					return errOwn
				case 2: // a keepTx: its row stays, its error comes back
					return &keepTx{keyward.Errorf(keyward.EREFRESHREUSED, "kept")}
				}
				return nil
			})
		})
	}
	for db.commit.pending.Load() < n+1 {
		runtime.Gosched()
	}
	close(release)
	wg.Wait()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	// Two transactions, normally; a caller still on its way to the queue when the second batch
	// formed would make a third, so the bound is loose, but far below one per operation.
	if got := db.commit.batches.Load(); got > n/2 {
		t.Errorf("%d operations ran in %d transactions, want them batched (2)", n+1, got)
	}
	for i := range n {
		id := fmt.Sprintf("prj_%02d", i)
		switch i % 3 {
		case 0:
			if errs[i] != nil || !projectExists(t, db, id) {
				t.Errorf("op %d: err %v, row present %v; want success", i, errs[i], projectExists(t, db, id))
			}
		case 1:
			if !errors.Is(errs[i], errOwn) || projectExists(t, db, id) {
				t.Errorf("op %d: err %v, row present %v; want its own error and no row", i, errs[i], projectExists(t, db, id))
			}
		case 2:
			if keyward.ErrorCode(errs[i]) != keyward.EREFRESHREUSED || !projectExists(t, db, id) {
				t.Errorf("op %d: err %v, row present %v; want the kept error and the row", i, errs[i], projectExists(t, db, id))
			}
		}
	}
}

// TestGroupCommitLaterOperationSeesEarlier: operations of one batch run in order, each seeing
// what the ones before it wrote, as if serialized.
func TestGroupCommitLaterOperationSeesEarlier(t *testing.T) {
	db := openTestSQLite(t)
	ctx := t.Context()
	started, release := make(chan struct{}), make(chan struct{})
	go db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error { close(started); <-release; return nil })
	<-started
	var wg sync.WaitGroup
	var errs [2]error
	for i := range 2 {
		wg.Go(func() {
			errs[i] = db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
				err := insertProject(ctx, tx, "prj_same")
				if isUnique(err) {
					return keyward.Errorf(keyward.ECONFLICT, "taken")
				}
				return err
			})
		})
	}
	for db.commit.pending.Load() < 3 {
		runtime.Gosched()
	}
	close(release)
	wg.Wait()
	ok, conflict := 0, 0
	for _, err := range errs {
		switch keyward.ErrorCode(err) {
		case "":
			ok++
		case keyward.ECONFLICT:
			conflict++
		}
	}
	if ok != 1 || conflict != 1 {
		t.Errorf("errors %v; want one success and one conflict", errs)
	}
}

func TestGroupCommitCancelledBeforeStart(t *testing.T) {
	db := openTestSQLite(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	ran := false
	err := db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error { ran = true; return insertProject(ctx, tx, "prj_x") })
	if !errors.Is(err, context.Canceled) || ran || projectExists(t, db, "prj_x") {
		t.Errorf("err %v, ran %v; want context.Canceled and nothing run", err, ran)
	}
}

// TestGroupCommitCancelledWhileRunning: once started, an operation finishes and commits even if
// its caller goes away, and does not disturb the operations around it.
func TestGroupCommitCancelledWhileRunning(t *testing.T) {
	db := openTestSQLite(t)
	ctx, cancel := context.WithCancel(t.Context())
	err := db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		cancel()
		return insertProject(ctx, tx, "prj_y")
	})
	if err != nil || !projectExists(t, db, "prj_y") {
		t.Errorf("err %v, row present %v; want the write committed", err, projectExists(t, db, "prj_y"))
	}
}

func TestGroupCommitAfterClose(t *testing.T) {
	db := openTestSQLite(t)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	err := db.inTx(t.Context(), func(ctx context.Context, tx *sql.Tx) error { return nil })
	if !errors.Is(err, errClosed) {
		t.Errorf("err %v, want %v", err, errClosed)
	}
}

// TestCheckpoint: the background checkpoint copies the whole WAL into the database file.
func TestCheckpoint(t *testing.T) {
	db := openTestSQLite(t)
	ctx := t.Context()
	for i := range 50 {
		if err := db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			return insertProject(ctx, tx, fmt.Sprintf("prj_%d", i))
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	var busy, logFrames, done int
	if err := db.ck.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &logFrames, &done); err != nil {
		t.Fatal(err)
	}
	if logFrames == 0 || done != logFrames {
		t.Errorf("after Checkpoint: %d of %d WAL frames in the database file, want all (and some)", done, logFrames)
	}
}

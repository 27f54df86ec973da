package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"modernc.org/sqlite"

	"github.com/keyward/keyward"
)

// Dialect names, as returned by (*DB).Dialect.
const (
	DialectSQLite   = "sqlite"
	DialectPostgres = "postgres"
)

//go:embed migrations
var migrations embed.FS

// busyTimeout bounds how long an SQLite connection waits for a lock held by another process
// sharing the file; inside one process the single writer connection queues writes instead.
const busyTimeout = 10 * time.Second

// migrationLockID is the PostgreSQL advisory lock that serializes migrations of instances
// starting at once ("keyward" in ASCII), distinct from goose's default so that another goose
// user of the same database does not wait on keyward.
const migrationLockID int64 = 0x6b657977617264

// DB is keyward's store over database/sql; it implements keyward.Store.
//
// SQLite has one writer connection whose transactions begin IMMEDIATE, plus a read-only pool:
// writes queue in the process instead of failing with "database is locked", and WAL lets reads
// run beside them.
//
// PostgreSQL runs at READ COMMITTED. Single use of refresh tokens and the signing-key version
// are compare-and-swap updates, which that level serializes row by row. CreateSession and
// ConsumeRefreshToken take a share lock (FOR SHARE) on the credential or session they rely on,
// and every revoking operation (DeleteAPIKey, SetUserDisabled, RemoveMember, RevokeSession)
// changes that row first, so no session is created or refreshed after its revocation committed.
//
// Revocation feed: a transaction that appends to the feed first takes an EXCLUSIVE lock on the
// feed table (SQLite's single writer gives the same order), so sequence numbers are drawn and
// committed in one order: once a reader sees entry n, every entry below n that will ever exist is
// visible too. Numbers may have gaps (rolled-back transactions) and are never reused.
type DB struct {
	dialect string
	w       *sql.DB // writes and transactions
	r       *sql.DB // reads outside transactions; the same pool as w on PostgreSQL
	ck      *sql.DB // SQLite only: background WAL checkpoints
	q       queries
	commit  *committer // SQLite only: group commit of inTx
	prep    prepared   // SQLite only: the hot statements
	timeout time.Duration
	health  writeHealth
	rand    io.Reader // the ids of webhook messages

	closeOnce sync.Once
	closeErr  error
}

var _ keyward.Store = (*DB)(nil)

// queries holds the few statements whose text differs between engines.
type queries struct {
	forShare  string // suffix that share-locks the selected rows until commit
	forUpdate string // suffix that locks the selected rows for writing until commit
	lockFeed  string // serializes appends to the revocation feed; empty where writes already are
}

// Option configures Open.
type Option func(*config)

type config struct {
	logger       *slog.Logger
	maxOpenConns int
	callTimeout  time.Duration
	rand         io.Reader
}

// DefaultCallTimeout bounds every call of the store, from waiting for a free connection to the
// commit: a database that stops answering without closing its connections (a frozen host, a
// network that drops packets) costs a request this long, and then an error, never a hang.
const DefaultCallTimeout = 5 * time.Second

// WithCallTimeout replaces DefaultCallTimeout.
func WithCallTimeout(d time.Duration) Option {
	return func(c *config) { c.callTimeout = d }
}

// deadline bounds one call of the store (see DefaultCallTimeout); a caller's earlier deadline
// stays. Every exported method that talks to the database starts with it.
func (db *DB) deadline(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, db.timeout)
}

// WithRandom sets the source of the random ids the store draws itself (webhook messages'),
// crypto/rand by default.
func WithRandom(r io.Reader) Option {
	return func(c *config) { c.rand = r }
}

// WithLogger sends migration progress to l. Without it, migrations run silently.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.logger = l }
}

// WithMaxOpenConns sets the size of the PostgreSQL pool, or of the SQLite reader pool (SQLite
// always has exactly one writer connection).
func WithMaxOpenConns(n int) Option {
	return func(c *config) { c.maxOpenConns = n }
}

var schemeRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]{0,19}:`)

// Open connects to the database named by dsn and migrates its schema to the newest version.
// Accepted forms: "sqlite:PATH" (relative or absolute; the parent folder is created with mode
// 0700 and a new database file gets mode 0600) and "postgres://…" or "postgresql://…".
func Open(ctx context.Context, dsn string, opts ...Option) (*DB, error) {
	c := config{callTimeout: DefaultCallTimeout, rand: rand.Reader}
	for _, o := range opts {
		o(&c)
	}
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		return openSQLite(ctx, strings.TrimPrefix(dsn, "sqlite:"), c)
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return openPostgres(ctx, dsn, c)
	}
	// The DSN may hold a password: name at most its scheme.
	what := "this database address"
	if m := schemeRE.FindString(dsn); m != "" {
		what = fmt.Sprintf("the scheme %q", m)
	}
	return nil, keyward.Errorf(keyward.EINVALID,
		"Unsupported database: %s. Use sqlite:PATH (for example sqlite:./keyward-data/keyward.db) or postgres://USER@HOST/DB (postgresql:// works too).", what)
}

func openSQLite(ctx context.Context, path string, c config) (*DB, error) {
	if path == "" || strings.HasPrefix(path, ":memory:") || strings.HasPrefix(path, "file:") {
		return nil, keyward.Errorf(keyward.EINVALID,
			"Unsupported SQLite address: use sqlite:PATH with the path of the database file, for example sqlite:./keyward-data/keyward.db.")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite path: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, fmt.Errorf("create database folder: %w", err)
	}
	// SQLite would create the file with the umask's mode; creating it first keeps tokens'
	// hashes and signing keys private. SQLite gives the -wal and -shm files the same mode.
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		err = f.Close()
	} else if errors.Is(err, fs.ErrExist) {
		err = nil
	}
	if err != nil {
		return nil, fmt.Errorf("create database file: %w", err)
	}

	// A file: URI, so that any character in the path (even '?' or '#') is taken literally.
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs), OmitHost: true}
	pragmas := fmt.Sprintf("_pragma=busy_timeout(%d)&_pragma=foreign_keys(1)", busyTimeout.Milliseconds())
	w, err := sql.Open("sqlite", u.String()+"?"+pragmas+
		"&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate&_pragma=temp_store(MEMORY)&_pragma=cache_size(-32768)"+
		fmt.Sprintf("&_pragma=wal_autocheckpoint(%d)&_pragma=journal_size_limit(%d)", walBackstopPages, walSizeLimit))
	if err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)

	r, err := sql.Open("sqlite", u.String()+"?"+pragmas+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	n := c.maxOpenConns
	if n <= 0 {
		n = max(4, runtime.GOMAXPROCS(0))
	}
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)

	// Checkpoints get a connection of their own, so that copying the WAL into the database file
	// neither holds the writer nor waits for it.
	ck, err := sql.Open("sqlite", u.String()+"?"+pragmas)
	if err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	ck.SetMaxOpenConns(1)
	ck.SetMaxIdleConns(1)

	db := &DB{dialect: DialectSQLite, w: w, r: r, ck: ck, timeout: c.callTimeout, rand: c.rand}
	// The writer opens first: its pragmas turn the file into WAL mode before a reader looks at it.
	if err := db.migrate(ctx, goose.DialectSQLite3, "migrations/sqlite", nil, c); err != nil {
		db.Close()
		return nil, err
	}
	if db.prep, err = prepareSQLite(ctx, w, r); err != nil {
		db.Close()
		return nil, err
	}
	db.commit = newCommitter(w, db.prep)
	return db, nil
}

func openPostgres(ctx context.Context, dsn string, c config) (*DB, error) {
	// pgx masks the password in its errors.
	pc, err := pgx.ParseConfig(withConnectTimeout(dsn))
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	pc.DialFunc = dialPostgres
	p := stdlib.OpenDB(*pc)
	n := c.maxOpenConns
	if n <= 0 {
		n = 20
	}
	p.SetMaxOpenConns(n)
	p.SetMaxIdleConns(max(2, n/2))
	p.SetConnMaxIdleTime(5 * time.Minute)
	// Recycled now and then so that a failover or a pooler's rebalancing reaches every instance.
	p.SetConnMaxLifetime(time.Hour)
	if err := p.PingContext(ctx); err != nil {
		p.Close()
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	// Instances starting at once wait their turn; each of them finds nothing left to do.
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(migrationLockID), lock.WithLockTimeout(1, 300))
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("migration lock: %w", err)
	}
	db := &DB{
		dialect: DialectPostgres, w: p, r: p, timeout: c.callTimeout, rand: c.rand,
		q: queries{forShare: " FOR SHARE", forUpdate: " FOR UPDATE", lockFeed: "LOCK TABLE revocations IN EXCLUSIVE MODE"},
	}
	if err := db.migrate(ctx, goose.DialectPostgres, "migrations/postgres", locker, c); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func (db *DB) migrate(ctx context.Context, d goose.Dialect, dir string, locker lock.SessionLocker, c config) error {
	fsys, err := fs.Sub(migrations, dir)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	opts := []goose.ProviderOption{goose.WithDisableGlobalRegistry(true), goose.WithGoMigrations(nameKeyMigration(d))}
	if locker != nil {
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	if c.logger != nil {
		opts = append(opts, goose.WithSlog(c.logger), goose.WithVerbose(true))
	}
	p, err := goose.NewProvider(d, db.w, fsys, opts...)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate %s schema: %w", db.dialect, err)
	}
	return nil
}

// Dialect returns DialectSQLite or DialectPostgres.
func (db *DB) Dialect() string { return db.dialect }

// Close closes every connection; later calls return the first call's result.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		if db.commit != nil {
			db.commit.close()
		}
		if db.r != db.w {
			db.closeErr = db.r.Close()
		}
		db.prep.close()
		if db.ck != nil {
			db.closeErr = errors.Join(db.closeErr, db.ck.Close())
		}
		// Closing the writer last lets SQLite checkpoint the WAL into the database file.
		db.closeErr = errors.Join(db.closeErr, db.w.Close())
	})
	return db.closeErr
}

// The WAL is checkpointed in the background (Checkpoint); SQLite's own automatic checkpoint,
// which runs inside whichever commit crosses its threshold, stays only as a backstop for when the
// background checkpoint falls behind, so that the WAL stays bounded all the same.
const (
	walBackstopPages = 10000    // about 40 MB of WAL at the default page size
	walSizeLimit     = 64 << 20 // bytes the WAL file keeps on disk once it restarts
)

// Checkpoint copies the WAL into the database file without waiting for readers or the writer
// (SQLite's PASSIVE checkpoint), so that commits in requests do not have to. The server runs it
// ten times a second. On PostgreSQL it does nothing.
func (db *DB) Checkpoint(ctx context.Context) error {
	if db.ck == nil {
		return nil
	}
	var busy, logFrames, done int
	if err := db.ck.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &logFrames, &done); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}

// IntegrityCheck runs SQLite's PRAGMA integrity_check and returns an error listing the problems
// it reports. On PostgreSQL, which checks its own pages, it does nothing.
func (db *DB) IntegrityCheck(ctx context.Context) error {
	if db.dialect != DialectSQLite {
		return nil
	}
	rows, err := db.r.QueryContext(ctx, "PRAGMA integrity_check")
	if err != nil {
		return fmt.Errorf("integrity check: %w", err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return fmt.Errorf("integrity check: %w", err)
		}
		if s != "ok" {
			problems = append(problems, s)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("integrity check: %w", err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("integrity check: %s", strings.Join(problems, "; "))
	}
	return nil
}

// keepTx carries an error out of a transaction that must be committed anyway, such as the
// revocation that answers a refresh-token reuse.
type keepTx struct{ err error }

func (k *keepTx) Error() string { return k.err.Error() }

// inTx runs fn in a write transaction, committed when fn returns nil or a *keepTx; fn's effects
// are undone otherwise. On SQLite, concurrent calls share one transaction (see committer), and fn
// gets a context that is not cancelled once it has started. It returns only after the commit.
func (db *DB) inTx(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	return db.runTx(ctx, false, fn)
}

// inTxSingle is inTx for an fn whose only write is one statement, its last: on SQLite it runs
// without a savepoint of its own (see writeOp.single).
func (db *DB) inTxSingle(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	return db.runTx(ctx, true, fn)
}

func (db *DB) runTx(ctx context.Context, single bool, fn func(ctx context.Context, tx *sql.Tx) error) error {
	err := db.runTxOnce(ctx, single, fn)
	db.health.record(err)
	return err
}

func (db *DB) runTxOnce(ctx context.Context, single bool, fn func(ctx context.Context, tx *sql.Tx) error) error {
	if err := db.health.faulty(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if db.commit != nil {
		return db.commit.do(ctx, single, fn)
	}
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	err = fn(ctx, tx)
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

// isUnique reports whether err is a unique or primary-key violation, on either engine.
func isUnique(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqliteConstraintUnique || se.Code() == sqliteConstraintPrimaryKey
	}
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// isForeignKey reports whether err is a foreign-key violation, on either engine.
func isForeignKey(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqliteConstraintForeignKey
	}
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23503"
}

// SQLite extended result codes (modernc.org/sqlite enables them on every connection).
const (
	sqliteConstraintForeignKey = 787
	sqliteConstraintPrimaryKey = 1555
	sqliteConstraintUnique     = 2067
)

// scanner is the part of *sql.Row and *sql.Rows that scan functions need.
type scanner interface {
	Scan(dest ...any) error
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

func nullMicros(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMicro(), Valid: true}
}

func timePtr(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}

// joinList encodes a list as space-separated text, refusing items that would not survive the
// round trip.
func joinList(what string, items []string) (string, error) {
	for _, s := range items {
		if s == "" || strings.ContainsFunc(s, unicode.IsSpace) {
			return "", keyward.Errorf(keyward.EINVALID, "Invalid %s %q: empty or containing white space.", what, s)
		}
	}
	return strings.Join(items, " "), nil
}

// splitList decodes joinList's text; the empty list comes back nil.
func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, " ")
}

// rowsAffected returns how many rows res changed.
func rowsAffected(res sql.Result) (int64, error) {
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("rows affected: %w", err)
	}
	return n, nil
}

func checkLimit(limit int) error {
	if limit <= 0 {
		return keyward.Errorf(keyward.EINVALID, "The limit must be positive.")
	}
	return nil
}

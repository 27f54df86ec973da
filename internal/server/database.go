package server

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"modernc.org/sqlite"
)

// database is what the start-up logs say about the database: where it is, and whether this start
// created it.
type database struct {
	location string // SQLite: the absolute file path; PostgreSQL: postgres://HOST:PORT/NAME
	sqlite   bool
	created  bool // SQLite: the file did not exist before this start
}

// locateDatabase describes dsn without opening it. For SQLite it refuses a path whose folder does
// not exist, unless it is the default path (whose folder keyward creates): a missing folder in a
// path the operator gave is far more often a typo than a wish for a new, empty instance.
func locateDatabase(dsn string) (database, error) {
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		path := strings.TrimPrefix(dsn, "sqlite:")
		abs, err := filepath.Abs(path)
		if err != nil || path == "" {
			return database{sqlite: true, location: path}, nil // the store explains what is wrong
		}
		db := database{location: abs, sqlite: true}
		dir := filepath.Dir(abs)
		if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) && !isDefaultDB(abs) {
			return db, fmt.Errorf("--db %s: the folder %s does not exist; create it (mkdir -p %s) or correct the path", dsn, dir, dir)
		}
		fi, err := os.Stat(abs)
		if err == nil && fi.IsDir() {
			return db, fmt.Errorf("--db %s: %s is a folder; give the path of the database file inside it, for example sqlite:%s", dsn, abs, filepath.Join(path, "keyward.db"))
		}
		db.created = errors.Is(err, fs.ErrNotExist)
		return db, nil
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		// Host, port and database name only: never the user's password.
		u, err := url.Parse(dsn)
		if err != nil {
			return database{location: "postgres (an address that cannot be parsed)"}, nil
		}
		return database{location: "postgres://" + u.Host + "/" + strings.TrimPrefix(u.Path, "/")}, nil
	}
	return database{location: dsn}, nil
}

// isDefaultDB reports whether abs is the default SQLite database of DefaultConfig.
func isDefaultDB(abs string) bool {
	def, err := filepath.Abs(strings.TrimPrefix(DefaultConfig().DB, "sqlite:"))
	return err == nil && def == abs
}

// sqliteNotADatabase is SQLite's SQLITE_NOTADB result code.
const sqliteNotADatabase = 26

// sqliteOpenError says in one line why the SQLite database at path could not be opened. Such a
// failure is never worth waiting for: the file is local, and a wrong permission, a folder that
// is missing or a file that is not a database stays so until someone changes it.
func sqliteOpenError(path string, err error) error {
	cause := err.Error()
	var pe *fs.PathError
	var se *sqlite.Error
	switch {
	case errors.Is(err, fs.ErrPermission):
		cause = "permission denied (keyward must be able to read and write the file and its folder)"
	case errors.As(err, &se) && se.Code()&0xff == sqliteNotADatabase:
		cause = "the file is not a SQLite database"
	case errors.As(err, &se):
		cause = se.Error()
	case errors.As(err, &pe):
		cause = pe.Err.Error()
	}
	return fmt.Errorf("cannot open the SQLite database %s: %s", path, cause)
}

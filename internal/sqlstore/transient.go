package sqlstore

import (
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
)

// Transient reports whether err says the database could not be reached or is not accepting
// connections yet: a refused, reset or timed-out connection, an unresolvable host, or a server
// starting up, shutting down or out of connection slots. Waiting may cure these; it cannot cure
// a wrong password, a missing database, a malformed address or a failed migration, which are
// not transient.
func Transient(err error) bool {
	if err == nil {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "57P01", "57P02", "57P03", // admin shutdown, crash shutdown, cannot connect now
			"53300": // too many connections
			return true
		}
		return strings.HasPrefix(pe.Code, "08") // connection exception
	}
	var ne net.Error
	return errors.As(err, &ne) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE)
}

// defaultConnectTimeout bounds each attempt to open a PostgreSQL connection, in seconds, unless
// the address or PGCONNECT_TIMEOUT says otherwise. Without it a database host that drops packets
// holds every request that needs a new connection for the operating system's TCP timeout
// (minutes); with it such requests fail fast, and the token endpoint answers 503.
const defaultConnectTimeout = "5"

// withConnectTimeout adds connect_timeout to a postgres:// address that has none.
func withConnectTimeout(dsn string) string {
	if os.Getenv("PGCONNECT_TIMEOUT") != "" {
		return dsn
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return dsn // pgx reports the malformed address, with the password masked
	}
	q := u.Query()
	if q.Has("connect_timeout") {
		return dsn
	}
	q.Set("connect_timeout", defaultConnectTimeout)
	u.RawQuery = q.Encode()
	return u.String()
}

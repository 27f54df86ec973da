package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/keyward/keyward"
)

func TestTransient(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"connection refused, wrapped", fmt.Errorf("connect to postgres: %w", refused), true},
		{"unknown host", &net.DNSError{Err: "no such host", Name: "db.invalid", IsNotFound: true}, true},
		{"connection reset", fmt.Errorf("query: %w", syscall.ECONNRESET), true},
		{"connection closed mid-answer", fmt.Errorf("receive: %w", io.ErrUnexpectedEOF), true},
		{"server starting up", &pgconn.PgError{Code: "57P03"}, true},
		{"server shutting down", &pgconn.PgError{Code: "57P01"}, true},
		{"too many connections", &pgconn.PgError{Code: "53300"}, true},
		{"connection exception", &pgconn.PgError{Code: "08006"}, true},
		{"wrong password", fmt.Errorf("connect: %w", &pgconn.PgError{Code: "28P01"}), false},
		{"missing database", &pgconn.PgError{Code: "3D000"}, false},
		{"syntax error in a migration", &pgconn.PgError{Code: "42601"}, false},
		{"unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"domain error", keyward.Errorf(keyward.EINVALID, "Unsupported database."), false},
		{"cancelled by the caller", context.Canceled, false},
		{"anything else", errors.New("boom"), false},
	} {
		if got := Transient(tc.err); got != tc.want {
			t.Errorf("%s: Transient(%v) = %t, want %t", tc.name, tc.err, got, tc.want)
		}
	}
}

func TestWithConnectTimeout(t *testing.T) {
	t.Setenv("PGCONNECT_TIMEOUT", "")
	for _, tc := range []struct{ in, want string }{
		{"postgres://postgres@127.0.0.1:5432/kw?sslmode=disable", "5"},
		{"postgres://u:p%40ss@h1:5432,h2:5433/kw", "5"},
		{"postgresql://db/kw?connect_timeout=30", "30"},
	} {
		out := withConnectTimeout(tc.in)
		u, err := url.Parse(out)
		if err != nil {
			t.Fatalf("%s became %q: %v", tc.in, out, err)
		}
		if got := u.Query().Get("connect_timeout"); got != tc.want {
			t.Errorf("%s: connect_timeout %q, want %q", tc.in, got, tc.want)
		}
		in, _ := url.Parse(tc.in)
		if u.User.String() != in.User.String() || u.Host != in.Host || u.Path != in.Path {
			t.Errorf("%s became %s: more than connect_timeout changed", tc.in, out)
		}
	}
	t.Setenv("PGCONNECT_TIMEOUT", "9")
	if out := withConnectTimeout("postgres://db/kw"); out != "postgres://db/kw" {
		t.Errorf("with PGCONNECT_TIMEOUT set the address changed to %s", out)
	}
}

package server

import (
	"strings"
	"testing"
)

// TestPostgresLocationHidesThePassword: the start log names PostgreSQL's host, port and database,
// never the user's password or the address's options.
func TestPostgresLocationHidesThePassword(t *testing.T) {
	for _, dsn := range []string{
		"postgres://keyward:s3cret@db.internal:5432/keyward?sslmode=require",
		"postgresql://keyward:s3cret@db.internal:5432/keyward",
	} {
		db, err := locateDatabase(dsn)
		if err != nil || db.location != "postgres://db.internal:5432/keyward" || db.sqlite || db.created || strings.Contains(db.location, "s3cret") {
			t.Errorf("locateDatabase(%s) = %+v, %v", dsn, db, err)
		}
	}
}

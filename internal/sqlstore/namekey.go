package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/pressly/goose/v3"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/names"
)

// nameKeyVersion is migration 00009: a name_key column on api_keys and projects, unique per
// project and globally, holding names.Key of the name so that look-alike names conflict as exact
// duplicates do. It is a Go migration because the key is computed in Go for the existing rows.
//
// Existing rows whose names already share a key are kept as they are: the oldest holds the key,
// the younger ones keep a NULL key (NULLs never conflict), and no new name may take that key
// while the oldest exists. Nothing is renamed behind its owner's back.
const nameKeyVersion = 9

func nameKeyMigration(d goose.Dialect) *goose.Migration {
	collate := ""
	if d == goose.DialectPostgres {
		collate = ` COLLATE "C"`
	}
	up := func(ctx context.Context, tx *sql.Tx) error {
		for _, q := range []string{
			"ALTER TABLE api_keys ADD COLUMN name_key TEXT" + collate,
			"ALTER TABLE projects ADD COLUMN name_key TEXT" + collate,
		} {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("%s: %w", q, err)
			}
		}
		if err := backfillNameKeys(ctx, tx, "api_keys", "project_id"); err != nil {
			return err
		}
		if err := backfillNameKeys(ctx, tx, "projects", "''"); err != nil {
			return err
		}
		for _, q := range []string{
			"CREATE UNIQUE INDEX api_keys_project_name_key_unique ON api_keys (project_id, name_key)",
			"CREATE UNIQUE INDEX projects_name_key_unique ON projects (name_key)",
		} {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("%s: %w", q, err)
			}
		}
		return nil
	}
	down := func(ctx context.Context, tx *sql.Tx) error {
		for _, q := range []string{
			"DROP INDEX projects_name_key_unique",
			"DROP INDEX api_keys_project_name_key_unique",
			"ALTER TABLE projects DROP COLUMN name_key",
			"ALTER TABLE api_keys DROP COLUMN name_key",
		} {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("%s: %w", q, err)
			}
		}
		return nil
	}
	return goose.NewGoMigration(nameKeyVersion, &goose.GoFunc{RunTx: up}, &goose.GoFunc{RunTx: down})
}

// backfillNameKeys gives each row of table the key of its name, oldest first within each scope;
// a row whose key an older row of its scope holds keeps NULL. Names stored before invisible
// characters were refused are keyed without them (names.Lenient).
func backfillNameKeys(ctx context.Context, tx *sql.Tx, table, scope string) error {
	rows, err := tx.QueryContext(ctx, "SELECT id, "+scope+", name FROM "+table+" ORDER BY created_at, id")
	if err != nil {
		return fmt.Errorf("backfill %s name keys: %w", table, err)
	}
	type row struct{ id, key string }
	var todo []row
	held := map[[2]string]bool{}
	for rows.Next() {
		var id, sc, name string
		if err := rows.Scan(&id, &sc, &name); err != nil {
			rows.Close()
			return fmt.Errorf("backfill %s name keys: %w", table, err)
		}
		k := names.Lenient(name)
		if held[[2]string{sc, k}] {
			continue
		}
		held[[2]string{sc, k}] = true
		todo = append(todo, row{id, k})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("backfill %s name keys: %w", table, err)
	}
	for _, r := range todo {
		if _, err := tx.ExecContext(ctx, "UPDATE "+table+" SET name_key = $1 WHERE id = $2", r.key, r.id); err != nil {
			return fmt.Errorf("backfill %s name keys: %w", table, err)
		}
	}
	return nil
}

// nameKey is names.Key for a name about to be stored: EINVALID when the name holds a character
// that names refuses.
func nameKey(name string) (string, error) {
	k, err := names.Key(name)
	if err != nil {
		return "", keyward.Errorf(keyward.EINVALID, "%s", err)
	}
	return k, nil
}

package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/keyward/keyward"
)

// SetProjectRequireDPoP sets the project's require_dpop setting and raises the revision of its
// keys, in one transaction: a copy of a key read before (the token endpoint's cache, an exchange
// in flight) then fails to start a session and is read again, with the setting.
func (db *DB) SetProjectRequireDPoP(ctx context.Context, id string, require bool) (*keyward.Project, error) {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	var p *keyward.Project
	err := db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		p, err = scanProject(tx.QueryRowContext(ctx,
			"UPDATE projects SET require_dpop = $1 WHERE id = $2 RETURNING "+projectCols, require, id))
		if errors.Is(err, sql.ErrNoRows) {
			return keyward.Errorf(keyward.ENOTFOUND, "Project not found.")
		} else if err != nil {
			return fmt.Errorf("set project require_dpop: %w", err)
		}
		if _, err := tx.ExecContext(ctx, "UPDATE api_keys SET revision = revision + 1 WHERE project_id = $1", id); err != nil {
			return fmt.Errorf("set project require_dpop: keys: %w", err)
		}
		return nil
	})
	return p, err
}

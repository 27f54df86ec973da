package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/keyward/keyward"
)

// SetProjectRequireDPoP sets the project's require_dpop setting and raises the revision of its
// keys, in one transaction: a copy of a key read before (the token endpoint's cache, an exchange
// in flight) then fails to start a session and is read again, with the setting.
func (db *DB) SetProjectRequireDPoP(ctx context.Context, id string, require bool) (*keyward.Project, error) {
	return db.setProjectSetting(ctx, id, "require_dpop", require, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "UPDATE api_keys SET revision = revision + 1 WHERE project_id = $1", id); err != nil {
			return fmt.Errorf("set project require_dpop: keys: %w", err)
		}
		return nil
	})
}

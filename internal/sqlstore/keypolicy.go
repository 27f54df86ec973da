package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/keyward/keyward"
)

// SetProjectKeyPolicy replaces the project's key policy. Keys are not touched: the policy is
// checked when a key changes, and a key that no longer conforms keeps working until then.
func (db *DB) SetProjectKeyPolicy(ctx context.Context, id string, kp keyward.KeyPolicy) (*keyward.Project, error) {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	p, err := scanProject(db.w.QueryRowContext(ctx,
		"UPDATE projects SET key_require_expiry = $1, key_max_lifetime = $2, key_require_ips = $3 WHERE id = $4 RETURNING "+projectCols,
		kp.RequireExpiry, int64(kp.MaxLifetime), kp.RequireIPs, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, keyward.Errorf(keyward.ENOTFOUND, "Project not found.")
	} else if err != nil {
		return nil, fmt.Errorf("set project key policy: %w", err)
	}
	return p, nil
}

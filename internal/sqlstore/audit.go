package sqlstore

import (
	"context"
	"fmt"
	"math"

	"github.com/keyward/keyward"
)

// AppendAudit stores e and sets e.ID, which grows with every event.
func (db *DB) AppendAudit(ctx context.Context, e *keyward.AuditEvent) error {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	err := db.health.faulty()
	if err == nil {
		err = db.w.QueryRowContext(ctx,
			"INSERT INTO audit_events (project_id, at, actor, action, target, ip, detail) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
			e.ProjectID, micros(e.At), e.Actor, e.Action, e.Target, e.IP, e.Detail).Scan(&e.ID)
	}
	db.health.record(err)
	if err != nil {
		return fmt.Errorf("append audit event: %w", err)
	}
	return nil
}

// AuditEvents returns up to limit events of a project with ID < before (0: from the newest),
// newest first. The empty project id lists instance-level events.
func (db *DB) AuditEvents(ctx context.Context, projectID string, before int64, limit int) ([]*keyward.AuditEvent, error) {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	if err := checkLimit(limit); err != nil {
		return nil, err
	}
	if before <= 0 {
		before = math.MaxInt64
	}
	rows, err := db.r.QueryContext(ctx,
		"SELECT id, project_id, at, actor, action, target, ip, detail FROM audit_events"+
			" WHERE project_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
		projectID, before, limit)
	if err != nil {
		return nil, fmt.Errorf("audit events: %w", err)
	}
	defer rows.Close()
	var out []*keyward.AuditEvent
	for rows.Next() {
		var e keyward.AuditEvent
		var at int64
		if err := rows.Scan(&e.ID, &e.ProjectID, &at, &e.Actor, &e.Action, &e.Target, &e.IP, &e.Detail); err != nil {
			return nil, fmt.Errorf("audit events: %w", err)
		}
		e.At = fromMicros(at)
		out = append(out, &e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit events: %w", err)
	}
	return out, nil
}

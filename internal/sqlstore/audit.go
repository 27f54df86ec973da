package sqlstore

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/apikey"
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

const auditCols = "id, project_id, at, actor, action, target, ip, detail"

// AuditPage returns one page of a project's audit events, newest first, and the next page's
// cursor ("" on the last). A search keeps the events it names (see auditSearch). The log without
// a search also takes, as its cursor, the decimal event id that served as one before cursors
// were bound to a search; with a search, that is a cursor of another search.
func (db *DB) AuditPage(ctx context.Context, projectID string, p keyward.Page) ([]*keyward.AuditEvent, string, error) {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	if err := checkLimit(p.Limit); err != nil {
		return nil, "", err
	}
	search := strings.TrimSpace(p.Search)
	before := int64(math.MaxInt64)
	if id, err := strconv.ParseInt(p.Cursor, 10, 64); err == nil && id > 0 && strconv.FormatInt(id, 10) == p.Cursor {
		if search != "" {
			return nil, "", keyward.Errorf(keyward.EINVALID, "The cursor belongs to another search; start again without it.")
		}
		before = id
	} else if c, after, err := decodeCursor(p, "audit", search); err != nil {
		return nil, "", err
	} else if after {
		before = c.At
	}
	// One more than asked tells whether an older page exists.
	args := []any{projectID, before, p.Limit + 1}
	var q string
	if search == "" {
		q = "SELECT " + auditCols + " FROM audit_events WHERE project_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3"
	} else {
		terms, err := db.auditSearch(ctx, projectID, search)
		if err != nil {
			return nil, "", err
		}
		q = auditSearchQuery(terms)
		for _, t := range terms {
			args = append(args, t.value)
		}
	}
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, "", fmt.Errorf("audit page: %w", err)
	}
	defer rows.Close()
	out := []*keyward.AuditEvent{}
	for rows.Next() {
		if len(out) == p.Limit {
			next := pageCursor{List: "audit", Search: search, At: out[len(out)-1].ID}
			return out, next.encode(), rows.Close()
		}
		var e keyward.AuditEvent
		var at int64
		if err := rows.Scan(&e.ID, &e.ProjectID, &at, &e.Actor, &e.Action, &e.Target, &e.IP, &e.Detail); err != nil {
			return nil, "", fmt.Errorf("audit page: %w", err)
		}
		e.At = fromMicros(at)
		out = append(out, &e)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("audit page: %w", err)
	}
	return out, "", nil
}

// auditSearchQuery is the query of a page of a search made of terms, whose values are $4 onwards
// ($1 the project, $2 the cursor's event id, $3 the limit). Each term is a range of its own
// index, newest first from the cursor; the union of their first pages holds the page. UNION
// drops an event that two terms both found.
func auditSearchQuery(terms []auditTerm) string {
	parts := make([]string, len(terms))
	for i, t := range terms {
		parts[i] = fmt.Sprintf("SELECT * FROM (SELECT %s FROM audit_events WHERE project_id = $1 AND %s = $%d AND id < $2 ORDER BY id DESC LIMIT $3) AS t%d",
			auditCols, t.column, i+4, i)
	}
	return "SELECT " + auditCols + " FROM (" + strings.Join(parts, " UNION ") + ") AS u ORDER BY id DESC LIMIT $3"
}

// auditActionsQuery lists the distinct actions of project $1's log, one seek of the action index
// each (a loose index scan, which neither engine does by itself).
const auditActionsQuery = "WITH RECURSIVE a(action) AS (" +
	" SELECT (SELECT MIN(action) FROM audit_events WHERE project_id = $1)" +
	" UNION ALL" +
	" SELECT (SELECT MIN(e.action) FROM audit_events e WHERE e.project_id = $1 AND e.action > a.action) FROM a WHERE a.action IS NOT NULL" +
	") SELECT action FROM a WHERE action IS NOT NULL"

// auditTerm is one equality of a search: the events whose column holds value.
type auditTerm struct{ column, value string }

// auditSearch returns the equalities that make up search: an event matches when its target or
// actor is search (a subject such as key:ID, user:ID, or an email address), or, for a bare key
// or user id, that id's subject; or when its action is search or begins with search and a dot.
// The actions that begin so are read from the action index, one seek per distinct action of
// the project's log, so that each becomes an equality an index serves in id order.
func (db *DB) auditSearch(ctx context.Context, projectID, search string) ([]auditTerm, error) {
	subjects := []string{search}
	if apikey.ValidID(search) {
		subjects = append(subjects, "key:"+search)
	}
	if id, ok := strings.CutPrefix(search, keyward.PrefixUser); ok && len(id) == keyward.IDLength && keyward.IsBase62(id) {
		subjects = append(subjects, "user:"+search)
	}
	var terms []auditTerm
	for _, s := range subjects {
		terms = append(terms, auditTerm{"target", s}, auditTerm{"actor", s})
	}
	terms = append(terms, auditTerm{"action", search})
	rows, err := db.r.QueryContext(ctx, auditActionsQuery, projectID)
	if err != nil {
		return nil, fmt.Errorf("audit actions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var action string
		if err := rows.Scan(&action); err != nil {
			return nil, fmt.Errorf("audit actions: %w", err)
		}
		if strings.HasPrefix(action, search+".") {
			terms = append(terms, auditTerm{"action", action})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit actions: %w", err)
	}
	return terms, nil
}

package api

import (
	"net/http"
	"strconv"

	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/internal/manage"
)

func (s *Server) listAudit(w http.ResponseWriter, r *http.Request, a *manage.Access) error {
	q, err := query(r, "limit", "cursor", "before")
	if err != nil {
		return err
	}
	// cursor is the name every paged list uses; before, the earlier one, means the same.
	if v, ok := q["cursor"]; ok {
		if _, both := q["before"]; both {
			return invalid("Send the cursor as \"cursor\" or \"before\", not both.")
		}
		q["before"] = v
	}
	limit := manage.AuditDefaultLimit
	if v, ok := q["limit"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > manage.AuditMaxLimit || !digits(v) {
			return invalid("Query parameter \"limit\" must be an integer from 1 to %d.", manage.AuditMaxLimit)
		}
		limit = n
	}
	var before int64
	if v, ok := q["before"]; ok {
		if before, err = parseCursor(v); err != nil || before == 0 {
			return invalid("Query parameter \"cursor\" must be the \"next\" of a previous page.")
		}
	}
	events, next, err := a.Audit(r.Context(), before, limit)
	if err != nil {
		return err
	}
	page := client.AuditPage{Data: make([]client.AuditEvent, 0, len(events))}
	if next != 0 {
		cursor := strconv.FormatInt(next, 10)
		page.Next = &cursor
	}
	for _, e := range events {
		page.Data = append(page.Data, client.AuditEvent{
			ID: e.ID, Project: e.ProjectID, At: e.At.UTC(), Actor: e.Actor, Action: e.Action, Target: e.Target, IP: e.IP, Detail: e.Detail,
		})
	}
	return writeJSON(w, http.StatusOK, page)
}

// parseCursor reads a feed or page cursor: a decimal sequence number, without sign or padding.
func parseCursor(v string) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || !digits(v) || (len(v) > 1 && v[0] == '0') {
		return 0, invalid("The cursor %q is not valid.", v)
	}
	return n, nil
}

func digits(v string) bool {
	for _, c := range []byte(v) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return v != ""
}

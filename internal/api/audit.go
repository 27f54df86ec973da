package api

import (
	"net/http"
	"strconv"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/internal/manage"
)

func (s *Server) listAudit(w http.ResponseWriter, r *http.Request, a *manage.Access) error {
	p, err := auditQuery(r)
	if err != nil {
		return err
	}
	events, next, err := a.Audit(r.Context(), p)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, auditPageOut(events, next))
}

// auditQuery reads ?limit=&cursor=&q= of an audit log, and before, the earlier name of cursor.
func auditQuery(r *http.Request) (keyward.Page, error) {
	p, q, err := readPage(r, manage.AuditDefaultLimit, manage.AuditMaxLimit, "before")
	if err != nil {
		return p, err
	}
	// cursor is the name every paged list uses; before, the earlier one, means the same.
	if v, ok := q["before"]; ok {
		if _, both := q["cursor"]; both {
			return p, invalid("Send the cursor as \"cursor\" or \"before\", not both.")
		}
		if err := checkCursor("before", v); err != nil {
			return p, err
		}
		p.Cursor = v
	}
	return p, nil
}

func auditPageOut(events []*keyward.AuditEvent, next string) client.AuditPage {
	page := client.AuditPage{Data: make([]client.AuditEvent, 0, len(events)), Next: nextCursor(next)}
	for _, e := range events {
		page.Data = append(page.Data, client.AuditEvent{
			ID: e.ID, Project: e.ProjectID, At: e.At.UTC(), Actor: e.Actor, Action: e.Action, Target: e.Target, IP: e.IP, Detail: e.Detail,
		})
	}
	return page
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

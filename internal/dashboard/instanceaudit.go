package dashboard

import (
	"net/http"

	"github.com/keyward/keyward"
)

// instanceAuditPage is the instance administrator's view of the events of no project.
type instanceAuditPage struct {
	pageBase
	Events  []auditRow
	Search  string // the search box's text
	Action  string // the action chosen, when the search box is empty
	Actions []auditAction
	Older   string
	Newest  string
}

type auditAction struct{ Value, Label string }

// AuditTable is the instance's log, each event with its target.
func (p *instanceAuditPage) AuditTable() auditTable {
	return auditTable{Rows: p.Events, WithTarget: true}
}

// instanceActions are the action filters the page offers, each a search the store serves by its
// action index ("login" finds sign-ins and failed ones).
var instanceActions = []auditAction{
	{keyward.AuditLogin, "Sign-ins and failed sign-ins"},
	{keyward.AuditLoginFailed, "Failed sign-ins"},
	{"user", "Users"},
	{"invite", "Invitations"},
	{"two_factor", "Second factors"},
}

// instanceAudit serves /audit: the typed search wins over the action chosen, since the store
// takes one search.
func (s *Server) instanceAudit(w http.ResponseWriter, r *http.Request, v *visit) error {
	query := r.URL.Query()
	page := &instanceAuditPage{pageBase: pageBase{Title: "Audit", Visit: v}, Actions: instanceActions,
		Search: query.Get("q"), Action: query.Get("action")}
	p := keyward.Page{Limit: auditPageSize, Search: page.Search, Cursor: query.Get("cursor")}
	if p.Search == "" {
		p.Search = page.Action
	}
	events, next, err := s.Manage.InstanceAudit(r.Context(), v.Caller, p)
	if err != nil {
		return err
	}
	page.Newest, page.Older = pageLinks("/audit", p, next)
	if page.Events, err = s.auditRows(r.Context(), nil, events); err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "instance-audit", page)
	return nil
}

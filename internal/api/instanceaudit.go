package api

import (
	"net/http"

	"github.com/keyward/keyward/internal/authn"
)

// listInstanceAudit serves the instance's own audit log: the events of no project.
func (s *Server) listInstanceAudit(w http.ResponseWriter, r *http.Request, p *authn.Principal) error {
	page, err := auditQuery(r)
	if err != nil {
		return err
	}
	events, next, err := s.mgr.InstanceAudit(r.Context(), s.caller(r, p), page)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, auditPageOut(events, next))
}

package api

import (
	"net/http"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/manage"
)

type memberJSON struct {
	User        string    `json:"user"`
	Email       string    `json:"email"`
	Permissions []string  `json:"permissions"`
	CreatedAt   time.Time `json:"created_at"`
}

func (s *Server) memberJSON(m *keyward.Member) memberJSON {
	return memberJSON{User: m.UserID, Email: m.Email, Permissions: s.Catalog.Filter(m.Permissions), CreatedAt: m.CreatedAt.UTC()}
}

func (s *Server) listMembers(w http.ResponseWriter, r *http.Request, a *manage.Access) error {
	if _, err := query(r); err != nil {
		return err
	}
	members, err := a.Members(r.Context())
	if err != nil {
		return err
	}
	data := make([]memberJSON, 0, len(members))
	for _, m := range members {
		data = append(data, s.memberJSON(m))
	}
	return writeJSON(w, http.StatusOK, list[memberJSON]{Data: data})
}

type putMemberRequest struct {
	Permissions []string `json:"permissions"`
}

// putMember adds a user to the project (201) or replaces their permissions (200).
func (s *Server) putMember(w http.ResponseWriter, r *http.Request, a *manage.Access) error {
	var req putMemberRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	m, created, err := a.PutMember(r.Context(), r.PathValue("user"), req.Permissions)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	return writeJSON(w, status, s.memberJSON(m))
}

func (s *Server) deleteMember(w http.ResponseWriter, r *http.Request, a *manage.Access) error {
	if err := a.RemoveMember(r.Context(), r.PathValue("user")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

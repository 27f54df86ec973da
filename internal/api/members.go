package api

import (
	"net/http"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/internal/manage"
)

func (s *Server) memberOut(m *keyward.Member) client.Member {
	return client.Member{
		User: m.UserID, Email: m.Email, Permissions: nonNil(s.Catalog.Filter(m.Permissions)), Role: roleName(m.Role),
		EffectivePermissions: nonNil(s.Catalog.Filter(m.Held())), CreatedAt: m.CreatedAt.UTC(),
	}
}

func (s *Server) listMembers(w http.ResponseWriter, r *http.Request, a *manage.Access) error {
	p, err := pageQuery(r)
	if err != nil {
		return err
	}
	members, next, err := a.MemberPage(r.Context(), p)
	if err != nil {
		return err
	}
	data := make([]client.Member, 0, len(members))
	for _, m := range members {
		data = append(data, s.memberOut(m))
	}
	return writeJSON(w, http.StatusOK, client.Page[client.Member]{Data: data, Next: nextCursor(next)})
}

// putMember adds a user to the project (201) or replaces their permissions and role (200).
func (s *Server) putMember(w http.ResponseWriter, r *http.Request, a *manage.Access) error {
	var req client.PutMemberRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	m, created, err := a.PutMember(r.Context(), r.PathValue("user"), manage.MemberInput{Permissions: req.Permissions, Role: req.Role})
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	return writeJSON(w, status, s.memberOut(m))
}

func (s *Server) deleteMember(w http.ResponseWriter, r *http.Request, a *manage.Access) error {
	if err := a.RemoveMember(r.Context(), r.PathValue("user")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

package api

import (
	"net/http"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/internal/manage"
)

func (s *Server) roleOut(r *keyward.Role) client.Role {
	return client.Role{
		ID: r.ID, Name: r.Name, Description: r.Description, Permissions: nonNil(s.Catalog.Filter(r.Permissions)), Owner: r.Owner,
		RequireDPoP: r.RequireDPoP, Members: r.Members, Keys: r.Keys, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
}

// roleName is the role a member or a key holds, on the wire: its name, or null.
func roleName(r *keyward.Role) *string {
	if r == nil {
		return nil
	}
	return &r.Name
}

func (s *Server) listRoles(w http.ResponseWriter, r *http.Request, a *manage.Access) error {
	p, err := pageQuery(r)
	if err != nil {
		return err
	}
	roles, next, err := a.RolePage(r.Context(), p)
	if err != nil {
		return err
	}
	data := make([]client.Role, 0, len(roles))
	for _, role := range roles {
		data = append(data, s.roleOut(role))
	}
	return writeJSON(w, http.StatusOK, client.Page[client.Role]{Data: data, Next: nextCursor(next)})
}

func (s *Server) getRole(w http.ResponseWriter, r *http.Request, a *manage.Access) error {
	role, err := a.Role(r.Context(), r.PathValue("role"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, s.roleOut(role))
}

func (s *Server) createRole(w http.ResponseWriter, r *http.Request, a *manage.Access) error {
	var req client.CreateRoleRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	role, err := a.CreateRole(r.Context(), manage.RoleInput{Name: req.Name, Description: req.Description, Permissions: req.Permissions})
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/projects/"+a.Project.ID+"/roles/"+role.ID)
	return writeJSON(w, http.StatusCreated, s.roleOut(role))
}

func (s *Server) updateRole(w http.ResponseWriter, r *http.Request, a *manage.Access) error {
	var req client.UpdateRoleRequest
	fields, err := decodePatch(w, r, &req)
	if err != nil {
		return err
	}
	if err := refuseNull(fields, "name", "description", "permissions", "require_dpop"); err != nil {
		return err
	}
	role, err := a.UpdateRole(r.Context(), r.PathValue("role"), manage.RoleChange{
		Name: req.Name, Description: req.Description, Permissions: req.Permissions, RequireDPoP: req.RequireDPoP,
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, s.roleOut(role))
}

func (s *Server) deleteRole(w http.ResponseWriter, r *http.Request, a *manage.Access) error {
	if _, err := a.DeleteRole(r.Context(), r.PathValue("role")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

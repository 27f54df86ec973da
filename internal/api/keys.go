package api

import (
	"net/http"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/clientip"
	"github.com/keyward/keyward/internal/manage"
)

// keyOut is k on the wire. The secret is set only in the creation response, by the caller.
func (s *Server) keyOut(k *keyward.APIKey) client.Key {
	out := client.Key{
		ID: k.ID, Project: k.ProjectID, Name: k.Name,
		IPs:         nonNil(clientip.FormatNetworks(k.IPs)),
		Permissions: nonNil(s.Catalog.Filter(k.Permissions)), Role: roleName(k.Role),
		Hint: k.Hint, CreatedBy: k.CreatedBy, Owner: k.Owner, CreatedAt: k.CreatedAt.UTC(),
		ExpiresAt: utc(k.ExpiresAt), DisabledAt: utc(k.DisabledAt), LastUsedAt: utc(k.LastUsedAt),
		PreviousExpiresAt: utc(k.PreviousExpiresAt), RequireDPoP: k.RequireDPoP,
		State: k.State(s.Now()), DisabledReason: k.DisabledReason,
	}
	if k.LastUsedIP != "" {
		out.LastUsedIP = &k.LastUsedIP
	}
	return out
}

// createKeyRequest is client.CreateKeyRequest as the server reads it: expires_at as a string, so
// that a malformed time is refused with a message about that field rather than about the JSON.
type createKeyRequest struct {
	Name        string   `json:"name"`
	IPs         []string `json:"ips"`
	Permissions []string `json:"permissions"`
	Role        string   `json:"role"`
	ExpiresAt   *string  `json:"expires_at"`
}

func (s *Server) createKey(w http.ResponseWriter, r *http.Request, a *manage.Access) error {
	var req createKeyRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	in := manage.KeyInput{Name: req.Name, IPs: req.IPs, Permissions: req.Permissions, Role: req.Role}
	if req.ExpiresAt != nil {
		t, err := time.Parse(time.RFC3339, *req.ExpiresAt)
		if err != nil {
			return invalid("Field \"expires_at\" must be an RFC 3339 time such as 2030-01-31T12:00:00Z.")
		}
		in.ExpiresAt = &t
	}
	k, secret, err := a.CreateKey(r.Context(), in)
	if err != nil {
		return err
	}
	out := s.keyOut(k)
	out.Secret = secret
	w.Header().Set("Location", "/v1/projects/"+a.Project.ID+"/api-keys/"+k.ID)
	return writeJSON(w, http.StatusCreated, out)
}

// updateKeyRequest is client.UpdateKeyRequest as the server reads it. A field left out keeps its
// value; expires_at null clears the expiry.
type updateKeyRequest struct {
	Name        *string   `json:"name"`
	IPs         *[]string `json:"ips"`
	Permissions *[]string `json:"permissions"`
	ExpiresAt   *string   `json:"expires_at"`
	Owner       *string   `json:"owner"`
	Role        *string   `json:"role"` // null takes the role away
	RequireDPoP *bool     `json:"require_dpop"`
	Disabled    *bool     `json:"disabled"`
}

func (s *Server) updateKey(w http.ResponseWriter, r *http.Request, a *manage.Access) error {
	var req updateKeyRequest
	fields, err := decodePatch(w, r, &req)
	if err != nil {
		return err
	}
	if err := refuseNull(fields, "name", "ips", "permissions", "owner", "require_dpop", "disabled"); err != nil {
		return err
	}
	in := manage.KeyChange{Name: req.Name, IPs: req.IPs, Permissions: req.Permissions, Owner: req.Owner, RequireDPoP: req.RequireDPoP,
		Disabled: req.Disabled}
	if null, ok := fields["role"]; ok {
		none := ""
		in.Role = &none
		if !null {
			if *req.Role == "" {
				return invalid("Field \"role\" must name a role; send null to take the key's role away.")
			}
			in.Role = req.Role
		}
	}
	if null, ok := fields["expires_at"]; ok {
		in.SetExpiresAt = true
		if !null {
			t, err := time.Parse(time.RFC3339, *req.ExpiresAt)
			if err != nil {
				return invalid("Field \"expires_at\" must be an RFC 3339 time such as 2030-01-31T12:00:00Z, or null for no expiry.")
			}
			in.ExpiresAt = &t
		}
	}
	k, err := a.UpdateKey(r.Context(), r.PathValue("id"), in)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, s.keyOut(k))
}

func (s *Server) rollKey(w http.ResponseWriter, r *http.Request, a *manage.Access) error {
	var req client.RollKeyRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	grace := manage.DefaultRollGrace
	if req.Grace != "" {
		d, err := time.ParseDuration(req.Grace)
		if err != nil || d < 0 || d > manage.MaxRollGrace {
			return invalid("Field \"grace\" must be a duration from 0s to %s, such as 1h or 90m.", manage.MaxRollGrace)
		}
		grace = d
	}
	k, secret, err := a.RollKey(r.Context(), r.PathValue("id"), grace)
	if err != nil {
		return err
	}
	out := s.keyOut(k)
	out.Secret = secret
	return writeJSON(w, http.StatusCreated, out)
}

func (s *Server) listKeys(w http.ResponseWriter, r *http.Request, a *manage.Access) error {
	p, err := pageQuery(r)
	if err != nil {
		return err
	}
	keys, next, err := a.KeyPage(r.Context(), p)
	if err != nil {
		return err
	}
	data := make([]client.Key, 0, len(keys))
	for _, k := range keys {
		data = append(data, s.keyOut(k))
	}
	return writeJSON(w, http.StatusOK, client.Page[client.Key]{Data: data, Next: nextCursor(next)})
}

func (s *Server) getKey(w http.ResponseWriter, r *http.Request, a *manage.Access) error {
	k, err := a.Key(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, s.keyOut(k))
}

func (s *Server) deleteKey(w http.ResponseWriter, r *http.Request, a *manage.Access) error {
	if _, err := a.DeleteKey(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

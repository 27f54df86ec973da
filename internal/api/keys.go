package api

import (
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/apikey"
	"github.com/keyward/keyward/internal/clientip"
)

// keyJSON is an API key on the wire. Key, the secret, is set only in the creation response.
type keyJSON struct {
	ID          string     `json:"id"`
	Project     string     `json:"project"`
	Name        string     `json:"name"`
	IPs         []string   `json:"ips"`
	Permissions []string   `json:"permissions"`
	Hint        string     `json:"hint"`
	CreatedBy   string     `json:"created_by"`
	CreatedAt   time.Time  `json:"created_at"`
	ExpiresAt   *time.Time `json:"expires_at"`
	LastUsedAt  *time.Time `json:"last_used_at"`
	LastUsedIP  *string    `json:"last_used_ip"`
	Key         string     `json:"key,omitempty"`
}

func (s *Server) keyJSON(k *keyward.APIKey) keyJSON {
	out := keyJSON{
		ID: k.ID, Project: k.ProjectID, Name: k.Name,
		IPs:         nonNil(clientip.FormatNetworks(k.IPs)),
		Permissions: s.Catalog.Filter(k.Permissions),
		Hint:        k.Hint, CreatedBy: k.CreatedBy, CreatedAt: k.CreatedAt.UTC(),
		ExpiresAt: utc(k.ExpiresAt), LastUsedAt: utc(k.LastUsedAt),
	}
	if k.LastUsedIP != "" {
		out.LastUsedIP = &k.LastUsedIP
	}
	return out
}

type createKeyRequest struct {
	Name        string   `json:"name"`
	IPs         []string `json:"ips"`
	Permissions []string `json:"permissions"`
	ExpiresAt   *string  `json:"expires_at"`
}

func (s *Server) createKey(w http.ResponseWriter, r *http.Request, c *call) error {
	var req createKeyRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if err := checkKeyName(req.Name); err != nil {
		return err
	}
	ips, err := clientip.ParseNetworks(req.IPs)
	if err != nil {
		return err
	}
	perms, err := s.grantable(c, req.Permissions, "an API key")
	if err != nil {
		return err
	}
	now := s.Now()
	var expires *time.Time
	if req.ExpiresAt != nil {
		t, err := time.Parse(time.RFC3339, *req.ExpiresAt)
		if err != nil {
			return invalid("Field \"expires_at\" must be an RFC 3339 time such as 2030-01-31T12:00:00Z.")
		}
		if !t.After(now) {
			return invalid("Field \"expires_at\" must be in the future.")
		}
		t = t.UTC()
		expires = &t
	}
	secret, id, err := apikey.New(s.Rand)
	if err != nil {
		return err
	}
	k := &keyward.APIKey{
		ID: id, ProjectID: c.Project.ID, Name: req.Name, IPs: ips, Permissions: perms,
		SecretHash: apikey.Hash(secret), Hint: apikey.Hint(secret),
		CreatedBy: c.P.Subject, CreatedAt: now, ExpiresAt: expires,
	}
	if err := s.Store.CreateAPIKey(r.Context(), k); err != nil {
		if keyward.ErrorCode(err) == keyward.ECONFLICT {
			return keyward.Errorf(keyward.ECONFLICT, "An API key named %q already exists in this project.", req.Name)
		}
		return err
	}
	s.audit(r.Context(), r, &keyward.AuditEvent{
		ProjectID: c.Project.ID, At: now, Actor: c.P.Subject, Action: keyward.AuditKeyCreated,
		Target: "key:" + id, Detail: fmt.Sprintf("name=%q permissions=%s", req.Name, strings.Join(perms, ",")),
	})
	out := s.keyJSON(k)
	out.Key = secret
	w.Header().Set("Location", "/v1/projects/"+c.Project.ID+"/api-keys/"+id)
	return writeJSON(w, http.StatusCreated, out)
}

// grantable checks permissions that the caller wants to give to a key or a member: not empty,
// all in the catalog (400), all held by the caller in this project (403: nobody hands out more
// than they have). It returns them normalized.
func (s *Server) grantable(c *call, names []string, to string) ([]string, error) {
	if len(names) == 0 {
		return nil, invalid("Field \"permissions\" must list at least one permission.")
	}
	perms, err := s.Catalog.Normalize(names)
	if err != nil {
		return nil, err
	}
	for _, p := range perms {
		if !c.Has(p) {
			return nil, keyward.Errorf(keyward.EFORBIDDEN, "You cannot give %s the %q permission: you do not hold it in this project.", to, p)
		}
	}
	return perms, nil
}

// checkKeyName enforces 1–100 characters with nothing that hides or reorders text on screen, so
// that two keys listed one above the other can never look alike yet differ.
func checkKeyName(name string) error {
	n := utf8.RuneCountInString(name)
	if n < 1 || n > 100 {
		return invalid("Field \"name\" must be 1 to 100 characters long.")
	}
	if strings.TrimSpace(name) != name {
		return invalid("Field \"name\" must not start or end with white space.")
	}
	for _, r := range name {
		if unicode.IsControl(r) || unicode.In(r, unicode.Zl, unicode.Zp, unicode.Bidi_Control) || r == utf8.RuneError {
			return invalid("Field \"name\" must not contain control characters (found U+%04X).", r)
		}
	}
	return nil
}

func (s *Server) listKeys(w http.ResponseWriter, r *http.Request, c *call) error {
	if _, err := query(r); err != nil {
		return err
	}
	keys, err := s.Store.APIKeys(r.Context(), c.Project.ID)
	if err != nil {
		return err
	}
	data := make([]keyJSON, 0, len(keys))
	for _, k := range keys {
		data = append(data, s.keyJSON(k))
	}
	return writeJSON(w, http.StatusOK, list[keyJSON]{Data: data})
}

func (s *Server) getKey(w http.ResponseWriter, r *http.Request, c *call) error {
	id := r.PathValue("id")
	notFound := keyward.Errorf(keyward.ENOTFOUND, "API key %q was not found in this project.", id)
	if !apikey.ValidID(id) {
		return notFound
	}
	k, err := s.Store.APIKey(r.Context(), id)
	if keyward.ErrorCode(err) == keyward.ENOTFOUND || (err == nil && k.ProjectID != c.Project.ID) {
		return notFound
	} else if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, s.keyJSON(k))
}

func (s *Server) deleteKey(w http.ResponseWriter, r *http.Request, c *call) error {
	id := r.PathValue("id")
	notFound := keyward.Errorf(keyward.ENOTFOUND, "API key %q was not found in this project.", id)
	if !apikey.ValidID(id) {
		return notFound
	}
	now := s.Now()
	if err := s.Store.DeleteAPIKey(r.Context(), c.Project.ID, id, now); keyward.ErrorCode(err) == keyward.ENOTFOUND {
		return notFound
	} else if err != nil {
		return err
	}
	s.audit(r.Context(), r, &keyward.AuditEvent{
		ProjectID: c.Project.ID, At: now, Actor: c.P.Subject, Action: keyward.AuditKeyDeleted, Target: "key:" + id,
	})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// list is the envelope of every collection, leaving room for paging fields.
type list[T any] struct {
	Data []T `json:"data"`
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

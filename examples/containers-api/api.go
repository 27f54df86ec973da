package main

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/keyward/keyward/middleware"
)

// container is what the API manages. An in-memory list per project is enough for an example;
// a real platform keeps its own state in its own database.
type container struct {
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"` // the token's subject: key:<id> or user:<id>
}

type store struct {
	mu       sync.RWMutex
	projects map[string][]container
	now      func() time.Time
}

func newStore(now func() time.Time) *store {
	return &store{projects: map[string][]container{}, now: now}
}

// routes returns the API's routes, each guarded by the permission it needs. The caller must come
// from middleware.Verifier.Handler. RequirePermission also refuses a token of another project,
// or of none (a user's token not narrowed to a project), because the patterns name {project}.
// Tokens carry the project's id, not its name, so paths take the id (prj_…): resolving a name
// would need a call to keyward on every request, and the point of the token is that the API
// never needs one.
func routes(s *store) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /v1/projects/{project}/containers",
		middleware.RequirePermission("containers-view")(http.HandlerFunc(s.list)))
	mux.Handle("POST /v1/projects/{project}/containers",
		middleware.RequirePermission("containers-manage")(http.HandlerFunc(s.create)))
	return mux
}

func (s *store) list(w http.ResponseWriter, r *http.Request) {
	s.mu.RLock()
	list := append([]container{}, s.projects[r.PathValue("project")]...)
	s.mu.RUnlock()
	writeJSON(w, http.StatusOK, map[string]any{"data": list})
}

// maxBody bounds a request body; {"name": …} needs far less.
const maxBody = 4 << 10

func (s *store) create(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name string `json:"name"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || dec.Decode(&struct{}{}) != io.EOF {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeError(w, http.StatusRequestEntityTooLarge, "The body is too large.")
			return
		}
		writeError(w, http.StatusBadRequest, `Send one JSON object: {"name": "web-1"}.`)
		return
	}
	if !validName(req.Name) {
		writeError(w, http.StatusBadRequest, "A container name is 1 to 63 lower-case letters, digits and inner hyphens.")
		return
	}
	c, _ := middleware.FromContext(r.Context())
	project := r.PathValue("project")
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, existing := range s.projects[project] {
		if existing.Name == req.Name {
			writeError(w, http.StatusConflict, "A container with this name exists in the project.")
			return
		}
	}
	created := container{Name: req.Name, CreatedAt: s.now().UTC(), CreatedBy: c.Subject}
	s.projects[project] = append(s.projects[project], created)
	writeJSON(w, http.StatusCreated, created)
}

func validName(n string) bool {
	if len(n) < 1 || len(n) > 63 || n[0] == '-' || n[len(n)-1] == '-' {
		return false
	}
	for i := 0; i < len(n); i++ {
		if c := n[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

package api

import (
	"net/http"
	"net/mail"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/authn"
	"github.com/keyward/keyward/internal/password"
)

type projectJSON struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	CreatedAt   time.Time `json:"created_at"`
	Permissions []string  `json:"permissions"` // the caller's, in this project
}

func projectOut(p *keyward.Project, perms []string) projectJSON {
	return projectJSON{ID: p.ID, Name: p.Name, CreatedAt: p.CreatedAt.UTC(), Permissions: nonNil(perms)}
}

type userJSON struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Admin     bool      `json:"admin"`
	Disabled  bool      `json:"disabled"`
	CreatedAt time.Time `json:"created_at"`
}

func userOut(u *keyward.User) *userJSON {
	return &userJSON{ID: u.ID, Email: u.Email, Admin: u.Admin, Disabled: u.Disabled, CreatedAt: u.CreatedAt.UTC()}
}

type meJSON struct {
	Subject  string        `json:"subject"`
	Kind     string        `json:"kind"` // "user" or "key"
	User     *userJSON     `json:"user"`
	Key      *keyJSON      `json:"key"`
	Session  sessionJSON   `json:"session"`
	Projects []projectJSON `json:"projects"`
}

type sessionJSON struct {
	ID        string    `json:"id"`
	Project   *string   `json:"project"` // the project the token is narrowed to
	Scope     []string  `json:"scope"`   // null: not narrowed by scope
	ExpiresAt time.Time `json:"expires_at"`
}

func (s *Server) me(w http.ResponseWriter, r *http.Request, p *authn.Principal) error {
	if _, err := query(r); err != nil {
		return err
	}
	out := meJSON{Subject: p.Subject, Session: sessionJSON{
		ID: p.Session.ID, Scope: p.Session.Scope, ExpiresAt: p.Session.ExpiresAt.UTC(),
	}}
	if p.Session.ProjectID != "" {
		out.Session.Project = &p.Session.ProjectID
	}
	if p.Key != nil {
		k := s.keyJSON(p.Key)
		out.Kind, out.Key = keyward.SessionKey, &k
	} else {
		out.Kind, out.User = keyward.SessionUser, userOut(p.User)
	}
	projects, err := s.visibleProjects(r, p)
	if err != nil {
		return err
	}
	out.Projects = projects
	return writeJSON(w, http.StatusOK, out)
}

// visibleProjects lists the caller's projects with the caller's permissions in each.
func (s *Server) visibleProjects(r *http.Request, p *authn.Principal) ([]projectJSON, error) {
	projects, err := s.Auth.Projects(r.Context(), p)
	if err != nil {
		return nil, err
	}
	out := make([]projectJSON, 0, len(projects))
	for _, project := range projects {
		perms, err := s.Auth.Permissions(r.Context(), p, project)
		if keyward.ErrorCode(err) == keyward.ENOTFOUND {
			continue // the membership ended between the two reads
		} else if err != nil {
			return nil, err
		}
		out = append(out, projectOut(project, perms))
	}
	return out, nil
}

func (s *Server) listPermissions(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, list[keyward.Permission]{Data: s.Catalog.All()})
}

func (s *Server) listProjects(w http.ResponseWriter, r *http.Request, p *authn.Principal) error {
	if _, err := query(r); err != nil {
		return err
	}
	projects, err := s.visibleProjects(r, p)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, list[projectJSON]{Data: projects})
}

func (s *Server) getProject(w http.ResponseWriter, r *http.Request, c *call) error {
	if _, err := query(r); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, projectOut(c.Project, c.Perms))
}

// requireFullUser admits only a user's token that was not narrowed to a project. Narrowed tokens
// are the ones handed to the platform's API, so one leaked from there cannot act on the instance.
func requireFullUser(p *authn.Principal, action string) error {
	if p.User == nil {
		return keyward.Errorf(keyward.EFORBIDDEN, "An API key cannot %s; sign in as a user.", action)
	}
	if p.Narrowed() {
		return keyward.Errorf(keyward.EFORBIDDEN, "A token narrowed to one project cannot %s; sign in without the project parameter.", action)
	}
	return nil
}

type createProjectRequest struct {
	Name string `json:"name"`
}

func (s *Server) createProject(w http.ResponseWriter, r *http.Request, p *authn.Principal) error {
	if err := requireFullUser(p, "create projects"); err != nil {
		return err
	}
	var req createProjectRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if !authn.ValidProjectName(req.Name) {
		return invalid("Field \"name\" must be 1 to 63 lower-case letters, digits and inner hyphens, such as \"web-shop\".")
	}
	now := s.Now()
	id, err := keyward.NewID(s.Rand, keyward.PrefixProject)
	if err != nil {
		return err
	}
	project := &keyward.Project{ID: id, Name: req.Name, CreatedAt: now}
	creator := &keyward.Member{ProjectID: id, UserID: p.User.ID, Email: p.User.Email, Permissions: s.Catalog.Names(), CreatedAt: now, UpdatedAt: now}
	if err := s.Store.CreateProject(r.Context(), project, creator); err != nil {
		if keyward.ErrorCode(err) == keyward.ECONFLICT {
			return keyward.Errorf(keyward.ECONFLICT, "A project named %q already exists.", req.Name)
		}
		return err
	}
	s.audit(r.Context(), r, &keyward.AuditEvent{
		ProjectID: id, At: now, Actor: p.Subject, Action: keyward.AuditProjectCreated, Target: "project:" + id, Detail: "name=" + req.Name,
	})
	w.Header().Set("Location", "/v1/projects/"+id)
	return writeJSON(w, http.StatusCreated, projectOut(project, s.Catalog.Filter(creator.Permissions)))
}

type createUserRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Admin    bool   `json:"admin"`
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request, p *authn.Principal) error {
	if err := requireFullUser(p, "create users"); err != nil {
		return err
	}
	if !p.User.Admin {
		return keyward.Errorf(keyward.EFORBIDDEN, "Only an instance administrator can create users.")
	}
	var req createUserRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	email, err := normalizeEmail(req.Email)
	if err != nil {
		return err
	}
	if err := password.Validate(req.Password); err != nil {
		return err
	}
	hash, err := s.Passwords.Hash(r.Context(), req.Password, s.Rand)
	if err != nil {
		return err
	}
	id, err := keyward.NewID(s.Rand, keyward.PrefixUser)
	if err != nil {
		return err
	}
	now := s.Now()
	u := &keyward.User{ID: id, Email: email, PasswordHash: hash, Admin: req.Admin, CreatedAt: now}
	if err := s.Store.CreateUser(r.Context(), u); err != nil {
		if keyward.ErrorCode(err) == keyward.ECONFLICT {
			return keyward.Errorf(keyward.ECONFLICT, "A user with the email address %q already exists.", email)
		}
		return err
	}
	detail := ""
	if u.Admin {
		detail = "admin"
	}
	s.audit(r.Context(), r, &keyward.AuditEvent{At: now, Actor: p.Subject, Action: keyward.AuditUserCreated, Target: "user:" + id, Detail: detail})
	return writeJSON(w, http.StatusCreated, userOut(u))
}

// normalizeEmail accepts a bare address (no display name, no comments) of at most 254 bytes and
// returns it lower-cased, as the store compares emails.
func normalizeEmail(raw string) (string, error) {
	bad := invalid("Field \"email\" must be a plain email address such as ada@example.com.")
	if raw == "" || len(raw) > 254 {
		return "", bad
	}
	addr, err := mail.ParseAddress(raw)
	if err != nil || addr.Name != "" || addr.Address != raw || strings.ContainsAny(raw, " \t\r\n<>\"") {
		return "", bad
	}
	return strings.ToLower(raw), nil
}

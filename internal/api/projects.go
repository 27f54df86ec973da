package api

import (
	"maps"
	"net/http"
	"slices"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/internal/authn"
	"github.com/keyward/keyward/internal/manage"
)

func projectOut(p *keyward.Project, perms []string) client.Project {
	return client.Project{ID: p.ID, Name: p.Name, CreatedAt: p.CreatedAt.UTC(), Permissions: nonNil(perms), Require2FA: p.Require2FA, RequireDPoP: p.RequireDPoP,
		KeyPolicy: client.KeyPolicy{RequireExpiry: p.KeyPolicy.RequireExpiry, MaxLifetime: keyward.FormatLifetime(p.KeyPolicy.MaxLifetime), RequireIPs: p.KeyPolicy.RequireIPs}}
}

func userOut(u *keyward.User) *client.User {
	return &client.User{ID: u.ID, Email: u.Email, Admin: u.Admin, Disabled: u.Disabled, CreatedAt: u.CreatedAt.UTC()}
}

func (s *Server) me(w http.ResponseWriter, r *http.Request, p *authn.Principal) error {
	if _, err := query(r); err != nil {
		return err
	}
	out := client.Me{Subject: p.Subject, Session: client.Session{
		ID: p.Session.ID, Scope: p.Session.Scope, ExpiresAt: p.Session.ExpiresAt.UTC(),
	}}
	if p.Session.ProjectID != "" {
		out.Session.Project = &p.Session.ProjectID
	}
	if p.Key != nil {
		k := s.keyOut(p.Key)
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
func (s *Server) visibleProjects(r *http.Request, p *authn.Principal) ([]client.Project, error) {
	projects, err := s.mgr.Projects(r.Context(), s.caller(r, p))
	if err != nil {
		return nil, err
	}
	out := make([]client.Project, 0, len(projects))
	for _, a := range projects {
		out = append(out, projectOut(a.Project, a.Perms))
	}
	return out, nil
}

func (s *Server) listPermissions(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, client.List[client.Permission]{Data: s.Catalog.All()})
}

func (s *Server) listProjects(w http.ResponseWriter, r *http.Request, p *authn.Principal) error {
	if _, err := query(r); err != nil {
		return err
	}
	projects, err := s.visibleProjects(r, p)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, client.List[client.Project]{Data: projects})
}

func (s *Server) getProject(w http.ResponseWriter, r *http.Request, a *manage.Access) error {
	if _, err := query(r); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, projectOut(a.Project, a.Perms))
}

func (s *Server) renameProject(w http.ResponseWriter, r *http.Request, a *manage.Access) error {
	// Refused before the body is read, as the routes that name their permission are.
	if err := a.MayRename(); err != nil {
		return err
	}
	var req client.RenameProjectRequest
	fields, err := decodePatch(w, r, &req)
	if err != nil {
		return err
	}
	if err := refuseNull(fields, slices.Sorted(maps.Keys(fields))...); err != nil {
		return err
	}
	_, rename := fields["name"]
	if !rename && req.Require2FA == nil && req.RequireDPoP == nil && req.KeyPolicy == nil {
		return invalid("Send \"name\" to rename the project, \"require_2fa\" to set whether it requires two-factor sign-in, \"require_dpop\" to set whether its keys require DPoP, or \"key_policy\" to set what it requires of its keys.")
	}
	if req.KeyPolicy != nil {
		// Checked before anything is applied, so that a bad policy changes no other setting.
		if _, err := manage.ParseMaxLifetime(req.KeyPolicy.MaxLifetime); err != nil {
			return err
		}
	}
	p := a.Project
	if rename {
		if p, err = a.Rename(r.Context(), req.Name); err != nil {
			return err
		}
	}
	if req.Require2FA != nil {
		if p, err = a.SetRequire2FA(r.Context(), *req.Require2FA); err != nil {
			return err
		}
	}
	if req.RequireDPoP != nil {
		if p, err = a.SetRequireDPoP(r.Context(), *req.RequireDPoP); err != nil {
			return err
		}
	}
	if req.KeyPolicy != nil {
		kp := req.KeyPolicy
		if p, err = a.SetKeyPolicy(r.Context(), manage.KeyPolicyInput{RequireExpiry: kp.RequireExpiry, MaxLifetime: kp.MaxLifetime, RequireIPs: kp.RequireIPs}); err != nil {
			return err
		}
	}
	return writeJSON(w, http.StatusOK, projectOut(p, a.Perms))
}

func (s *Server) deleteProject(w http.ResponseWriter, r *http.Request, a *manage.Access) error {
	if _, err := query(r); err != nil {
		return err
	}
	if err := a.Delete(r.Context()); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listAllProjects(w http.ResponseWriter, r *http.Request, p *authn.Principal) error {
	projects, err := s.mgr.AllProjects(r.Context(), s.caller(r, p))
	if err != nil {
		return err
	}
	if _, err := query(r); err != nil {
		return err
	}
	out := make([]client.Project, 0, len(projects))
	for _, a := range projects {
		out = append(out, projectOut(a.Project, a.Perms))
	}
	return writeJSON(w, http.StatusOK, client.List[client.Project]{Data: out})
}

func (s *Server) recoverProject(w http.ResponseWriter, r *http.Request, p *authn.Principal) error {
	if _, err := query(r); err != nil {
		return err
	}
	a, err := s.mgr.RecoverProject(r.Context(), s.caller(r, p), r.PathValue("project"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, projectOut(a.Project, a.Perms))
}

func (s *Server) createProject(w http.ResponseWriter, r *http.Request, p *authn.Principal) error {
	// Refused before the body is read, so a key learns it may not create projects whatever it sends.
	if err := manage.RequireFullUser(p, "create projects"); err != nil {
		return err
	}
	var req client.CreateProjectRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	a, err := s.mgr.CreateProject(r.Context(), s.caller(r, p), req.Name)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/projects/"+a.Project.ID)
	return writeJSON(w, http.StatusCreated, projectOut(a.Project, a.Perms))
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request, p *authn.Principal) error {
	if err := manage.RequireAdmin(p, "create users"); err != nil {
		return err
	}
	var req client.CreateUserRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	u, err := s.mgr.CreateUser(r.Context(), s.caller(r, p), manage.UserInput{Email: req.Email, Password: req.Password, Admin: req.Admin})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, userOut(u))
}

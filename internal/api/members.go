package api

import (
	"net/http"
	"strings"
	"time"

	"github.com/keyward/keyward"
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

func (s *Server) listMembers(w http.ResponseWriter, r *http.Request, c *call) error {
	if _, err := query(r); err != nil {
		return err
	}
	members, err := s.Store.Members(r.Context(), c.Project.ID)
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

// putMember adds a user to the project or replaces their permissions. The caller may grant only
// what they hold, and may change only a member who holds nothing the caller lacks: otherwise a
// member could strip a more powerful one of permissions they could never give back.
func (s *Server) putMember(w http.ResponseWriter, r *http.Request, c *call) error {
	var req putMemberRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	u, err := s.userRef(r)
	if err != nil {
		return err
	}
	perms, err := s.grantable(c, req.Permissions, "a member")
	if err != nil {
		return err
	}
	now := s.Now()
	m := &keyward.Member{ProjectID: c.Project.ID, UserID: u.ID, Email: u.Email, Permissions: perms, CreatedAt: now, UpdatedAt: now}
	status := http.StatusCreated
	old, err := s.Store.Member(r.Context(), c.Project.ID, u.ID)
	switch {
	case err == nil:
		if err := outranks(c, s.Catalog.Filter(old.Permissions)); err != nil {
			return err
		}
		m.CreatedAt, status = old.CreatedAt, http.StatusOK
	case keyward.ErrorCode(err) != keyward.ENOTFOUND:
		return err
	}
	if err := s.Store.PutMember(r.Context(), m); err != nil {
		return err
	}
	s.audit(r.Context(), r, &keyward.AuditEvent{
		ProjectID: c.Project.ID, At: now, Actor: c.P.Subject, Action: keyward.AuditMemberChanged,
		Target: "user:" + u.ID, Detail: "permissions=" + strings.Join(perms, ","),
	})
	return writeJSON(w, status, s.memberJSON(m))
}

func (s *Server) deleteMember(w http.ResponseWriter, r *http.Request, c *call) error {
	u, err := s.userRef(r)
	if err != nil {
		return err
	}
	old, err := s.Store.Member(r.Context(), c.Project.ID, u.ID)
	if keyward.ErrorCode(err) == keyward.ENOTFOUND {
		return keyward.Errorf(keyward.ENOTFOUND, "%s is not a member of this project.", r.PathValue("user"))
	} else if err != nil {
		return err
	}
	if err := outranks(c, s.Catalog.Filter(old.Permissions)); err != nil {
		return err
	}
	now := s.Now()
	if err := s.Store.RemoveMember(r.Context(), c.Project.ID, u.ID, now); err != nil {
		return err
	}
	s.audit(r.Context(), r, &keyward.AuditEvent{
		ProjectID: c.Project.ID, At: now, Actor: c.P.Subject, Action: keyward.AuditMemberRemoved, Target: "user:" + u.ID,
	})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// outranks is nil when the caller holds every one of a member's permissions.
func outranks(c *call, held []string) error {
	for _, p := range held {
		if !c.Has(p) {
			return keyward.Errorf(keyward.EFORBIDDEN, "You cannot change this member: they hold the %q permission, which you do not.", p)
		}
	}
	return nil
}

// userRef resolves the {user} path segment: a user id, or an email address.
func (s *Server) userRef(r *http.Request) (*keyward.User, error) {
	ref := r.PathValue("user")
	var (
		u   *keyward.User
		err error
	)
	switch {
	case strings.HasPrefix(ref, keyward.PrefixUser):
		u, err = s.Store.UserByID(r.Context(), ref)
	case strings.Contains(ref, "@"):
		u, err = s.Store.UserByEmail(r.Context(), ref)
	default:
		return nil, keyward.Errorf(keyward.ENOTFOUND, "User %q was not found; name a user by id (usr_…) or email address.", ref)
	}
	if keyward.ErrorCode(err) == keyward.ENOTFOUND {
		return nil, keyward.Errorf(keyward.ENOTFOUND, "User %q was not found.", ref)
	}
	return u, err
}

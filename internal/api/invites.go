package api

import (
	"net/http"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/internal/manage"
)

func inviteOut(inv *keyward.Invite) client.Invite {
	return client.Invite{ID: inv.ID, Email: inv.Email, Role: inv.Role.Name, CreatedAt: inv.CreatedAt.UTC(), ExpiresAt: inv.ExpiresAt.UTC()}
}

// createInvite answers 201 alike whether or not the address has an account.
func (s *Server) createInvite(w http.ResponseWriter, r *http.Request, a *manage.Access) error {
	var req client.CreateInviteRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	c, err := a.CreateInvite(r.Context(), manage.InviteInput{Email: req.Email, Role: req.Role})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, client.CreatedInvite{
		Invite: inviteOut(c.Invite), URL: c.URL, Mailed: c.Mailed, MailError: c.MailError,
	})
}

// listInvites is bounded (manage.MaxPendingInvites), so it has a single page.
func (s *Server) listInvites(w http.ResponseWriter, r *http.Request, a *manage.Access) error {
	invs, err := a.Invites(r.Context())
	if err != nil {
		return err
	}
	data := make([]client.Invite, 0, len(invs))
	for _, inv := range invs {
		data = append(data, inviteOut(inv))
	}
	return writeJSON(w, http.StatusOK, client.Page[client.Invite]{Data: data})
}

func (s *Server) revokeInvite(w http.ResponseWriter, r *http.Request, a *manage.Access) error {
	if err := a.RevokeInvite(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

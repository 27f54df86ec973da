package client

import (
	"context"
	"net/http"
	"net/url"
)

// CreateInvite invites the person with an email address to a project with a role. The link is
// mailed when the server has a mail server configured; otherwise it is in the answer, once.
func (c *Client) CreateInvite(ctx context.Context, project string, body CreateInviteRequest) (*CreatedInvite, error) {
	var out CreatedInvite
	if err := c.do(ctx, http.MethodPost, projectPath(project)+"/invites", nil, body, &out, http.StatusCreated); err != nil {
		return nil, err
	}
	return &out, nil
}

// Invites lists a project's pending invitations, oldest first (at most 100: a project holds no
// more).
func (c *Client) Invites(ctx context.Context, project string) ([]Invite, error) {
	var out Page[Invite]
	if err := c.do(ctx, http.MethodGet, projectPath(project)+"/invites", nil, nil, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return out.Data, nil
}

// RevokeInvite withdraws a pending invitation: its link stops working.
func (c *Client) RevokeInvite(ctx context.Context, project, id string) error {
	return c.do(ctx, http.MethodDelete, projectPath(project)+"/invites/"+url.PathEscape(id), nil, nil, nil, http.StatusNoContent)
}

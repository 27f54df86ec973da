package client

import (
	"context"
	"net/http"
	"net/url"
)

// Users lists every user of the instance, by email; instance administrators only.
func (c *Client) Users(ctx context.Context, search string) ([]User, error) {
	return all(ctx, func(ctx context.Context, opts ListOptions) (*Page[User], error) {
		opts.Search = search
		return c.UsersPage(ctx, opts)
	})
}

// UsersPage returns one page of the instance's users, by email; the search is a user id or the
// beginning of an email address.
func (c *Client) UsersPage(ctx context.Context, opts ListOptions) (*Page[User], error) {
	var out Page[User]
	if err := c.do(ctx, http.MethodGet, "/v1/users", opts.query(), nil, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

// UpdateUser disables or enables a user, or grants or revokes instance administration.
func (c *Client) UpdateUser(ctx context.Context, id string, req UpdateUserRequest) (*User, error) {
	var out User
	if err := c.do(ctx, http.MethodPatch, "/v1/users/"+url.PathEscape(id), nil, req, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteUser deletes a user.
func (c *Client) DeleteUser(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/v1/users/"+url.PathEscape(id), nil, nil, nil, http.StatusNoContent)
}

// IssuePasswordReset makes a single-use link that lets the user set a new password.
func (c *Client) IssuePasswordReset(ctx context.Context, id string) (*PasswordResetLink, error) {
	var out PasswordResetLink
	if err := c.do(ctx, http.MethodPost, "/v1/users/"+url.PathEscape(id)+"/password-reset", nil, struct{}{}, &out, http.StatusCreated); err != nil {
		return nil, err
	}
	return &out, nil
}

// ChangePassword changes the caller's own password; the caller's other sessions end.
func (c *Client) ChangePassword(ctx context.Context, current, next string) error {
	return c.do(ctx, http.MethodPut, "/v1/me/password", nil, ChangePasswordRequest{CurrentPassword: current, NewPassword: next}, nil, http.StatusNoContent)
}

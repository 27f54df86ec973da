package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"time"
)

// Webhook is an HTTPS endpoint that receives a project's events, signed per the Standard
// Webhooks specification. Secret is set only in the answers to CreateWebhook and
// RollWebhookSecret: it is never shown again.
type Webhook struct {
	ID     string   `json:"id"`
	URL    string   `json:"url"`
	Events []string `json:"events"` // sorted
	// Owner is the member (a user id) who last set the webhook up: it delivers only what they
	// may see in the project.
	Owner     string    `json:"owner"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// PreviousSecretExpiresAt is, after a roll, until when the previous secret signs each
	// message too; nil when there is none.
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at,omitempty"`
	// Secret is the signing secret ("whsec_…"), as the standardwebhooks libraries take it.
	Secret string `json:"secret,omitempty"`
}

// CreateWebhookRequest is the body of CreateWebhook.
type CreateWebhookRequest struct {
	URL    string   `json:"url"`    // https, and not at a private or loopback address unless the server allows it
	Events []string `json:"events"` // at least one; member events need members-view
}

// UpdateWebhookRequest is the body of UpdateWebhook: set fields change, the others stay.
type UpdateWebhookRequest struct {
	URL    *string   `json:"url,omitempty"`
	Events *[]string `json:"events,omitempty"`
}

// RollWebhookSecretRequest is the body of RollWebhookSecret.
type RollWebhookSecretRequest struct {
	// Grace is how long the previous secret signs each message too, a Go duration from "0s" to
	// "72h"; empty means 24 hours.
	Grace string `json:"grace,omitempty"`
}

// WebhookMessage is one event queued for one webhook. Every attempt sends it with its ID as the
// webhook-id header, so that a receiver drops repeats.
type WebhookMessage struct {
	ID        string    `json:"id"` // "msg_…"
	WebhookID string    `json:"webhook_id"`
	Type      string    `json:"type"`  // the event type, such as "api_key.created"
	State     string    `json:"state"` // "pending", "delivered", "failed" or "skipped"
	Attempts  int       `json:"attempts"`
	CreatedAt time.Time `json:"created_at"`
	// NextAttemptAt is when a pending message is tried next.
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
	DeliveredAt   *time.Time `json:"delivered_at,omitempty"`
	// LastStatus is the HTTP status of the last answer (0: none came); LastError says why the
	// last attempt got no answer.
	LastStatus int    `json:"last_status,omitempty"`
	LastError  string `json:"last_error,omitempty"`
}

// WebhookMessageDetail is a message with its body and its newest attempts.
type WebhookMessageDetail struct {
	WebhookMessage
	// Body is the JSON body as sent ({"type", "timestamp", "data"}); JSON null when the caller
	// may not see it (a member event, without members-view).
	Body json.RawMessage `json:"body"`
	// History lists the newest attempts, newest first.
	History []WebhookAttempt `json:"history"`
}

// WebhookAttempt is one try of a message and what the receiver answered.
type WebhookAttempt struct {
	At         time.Time `json:"at"`
	Status     int       `json:"status,omitempty"` // the HTTP status; 0 when no answer came
	Response   string    `json:"response"`         // the start of the answer's body
	Error      string    `json:"error"`            // why no answer came, or why the message was not sent
	DurationMS int64     `json:"duration_ms"`
}

func webhookPath(project, id string) string {
	return projectPath(project) + "/webhooks/" + url.PathEscape(id)
}

// Webhooks lists a project's webhooks, oldest first; it needs api-keys-manage.
func (c *Client) Webhooks(ctx context.Context, project string) ([]Webhook, error) {
	var out Page[Webhook]
	if err := c.do(ctx, http.MethodGet, projectPath(project)+"/webhooks", nil, nil, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return out.Data, nil
}

// Webhook returns one webhook of a project, without its secret.
func (c *Client) Webhook(ctx context.Context, project, id string) (*Webhook, error) {
	var out Webhook
	if err := c.do(ctx, http.MethodGet, webhookPath(project, id), nil, nil, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

// CreateWebhook adds a webhook to a project. The answer's Secret verifies its signatures and is
// shown this once.
func (c *Client) CreateWebhook(ctx context.Context, project string, req CreateWebhookRequest) (*Webhook, error) {
	var out Webhook
	if err := c.do(ctx, http.MethodPost, projectPath(project)+"/webhooks", nil, req, &out, http.StatusCreated); err != nil {
		return nil, err
	}
	return &out, nil
}

// UpdateWebhook changes a webhook's URL or events and returns it as it now is; the webhook then
// acts for the caller.
func (c *Client) UpdateWebhook(ctx context.Context, project, id string, req UpdateWebhookRequest) (*Webhook, error) {
	var out Webhook
	if err := c.do(ctx, http.MethodPatch, webhookPath(project, id), nil, req, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteWebhook deletes a webhook and its messages, sent or not.
func (c *Client) DeleteWebhook(ctx context.Context, project, id string) error {
	return c.do(ctx, http.MethodDelete, webhookPath(project, id), nil, nil, nil, http.StatusNoContent)
}

// RollWebhookSecret gives a webhook a new signing secret and returns the webhook with it (Secret,
// shown this once). Messages are signed with the previous secret too for grace (0 to 72 hours),
// so that the receiver can take the new one without refusing a message meanwhile.
func (c *Client) RollWebhookSecret(ctx context.Context, project, id string, grace time.Duration) (*Webhook, error) {
	var out Webhook
	if err := c.do(ctx, http.MethodPost, webhookPath(project, id)+"/roll-secret", nil, RollWebhookSecretRequest{Grace: grace.String()}, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

// TestWebhook queues a webhook.test message for the webhook and returns it.
func (c *Client) TestWebhook(ctx context.Context, project, id string) (*WebhookMessage, error) {
	var out WebhookMessage
	if err := c.do(ctx, http.MethodPost, webhookPath(project, id)+"/test", nil, nil, &out, http.StatusAccepted); err != nil {
		return nil, err
	}
	return &out, nil
}

// WebhookMessagesPage returns one page of a webhook's messages, newest first; a Search keeps
// the messages of that event type or state ("failed").
func (c *Client) WebhookMessagesPage(ctx context.Context, project, id string, opts ListOptions) (*Page[WebhookMessage], error) {
	var out Page[WebhookMessage]
	if err := c.do(ctx, http.MethodGet, webhookPath(project, id)+"/messages", opts.query(), nil, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

// WebhookMessage returns one message of a webhook with its body and its newest attempts.
func (c *Client) WebhookMessage(ctx context.Context, project, webhookID, msgID string) (*WebhookMessageDetail, error) {
	var out WebhookMessageDetail
	path := webhookPath(project, webhookID) + "/messages/" + url.PathEscape(msgID)
	if err := c.do(ctx, http.MethodGet, path, nil, nil, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

// RedeliverWebhookMessage sends a message again, with the same id and body, retried for another
// 24 hours, and returns it.
func (c *Client) RedeliverWebhookMessage(ctx context.Context, project, webhookID, msgID string) (*WebhookMessage, error) {
	var out WebhookMessage
	path := webhookPath(project, webhookID) + "/messages/" + url.PathEscape(msgID) + "/redeliver"
	if err := c.do(ctx, http.MethodPost, path, nil, nil, &out, http.StatusAccepted); err != nil {
		return nil, err
	}
	return &out, nil
}

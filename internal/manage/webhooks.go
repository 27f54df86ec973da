package manage

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/webhook"
)

// Audit actions of webhooks (Target "webhook:<id>").
const (
	AuditWebhookCreated     = "webhook.created"
	AuditWebhookUpdated     = "webhook.updated"
	AuditWebhookDeleted     = "webhook.deleted"
	AuditWebhookSecretKeyed = "webhook.secret_rolled"
	AuditWebhookRedelivered = "webhook.redelivered"
)

// Rolling a webhook's secret: the previous one signs too for the grace, so that a receiver can
// take the new one without refusing a message meanwhile.
const (
	DefaultWebhookGrace = 24 * time.Hour
	MaxWebhookGrace     = 72 * time.Hour
)

// WebhookStore is the part of the store webhooks use.
type WebhookStore interface {
	CreateWebhook(ctx context.Context, w *keyward.Webhook) error
	Webhook(ctx context.Context, projectID, id string) (*keyward.Webhook, error)
	Webhooks(ctx context.Context, projectID string) ([]*keyward.Webhook, error)
	UpdateWebhook(ctx context.Context, projectID, id string, change keyward.WebhookChange, at time.Time) (*keyward.Webhook, error)
	DeleteWebhook(ctx context.Context, projectID, id string) error
	WebhookMessagePage(ctx context.Context, projectID, webhookID string, p keyward.Page) ([]*keyward.WebhookMessage, string, error)
	WebhookMessage(ctx context.Context, projectID, id string) (*keyward.WebhookMessage, []*keyward.WebhookAttempt, error)
	RedeliverWebhookMessage(ctx context.Context, projectID, id string, now time.Time) (*keyward.WebhookMessage, error)
	EnqueueWebhookEvent(ctx context.Context, e keyward.WebhookEvent, webhookID string) ([]*keyward.WebhookMessage, error)
}

// WebhookInput is a new webhook: where it delivers and which events.
type WebhookInput struct {
	URL    string
	Events []string
}

// WebhookChange is an edit of a webhook; nil fields stay.
type WebhookChange struct {
	URL    *string
	Events *[]string
}

// mayManageWebhooks is the permission every webhook operation needs: a webhook sends the
// project's key events out, so it is a key setting.
func (a *Access) mayManageWebhooks() error { return a.Require(PermKeysManage) }

// checkWebhook checks a webhook's URL and events for the caller, and returns them normalized:
// events known, without repeats, sorted; member events only for those who may see the members.
func (a *Access) checkWebhook(in WebhookInput) (WebhookInput, error) {
	u, err := webhook.CheckURL(in.URL, a.svc.WebhookAllowPrivate)
	if err != nil {
		return in, onField("url", err)
	}
	if len(in.Events) == 0 {
		return in, fieldErr("events", keyward.EINVALID, "Choose at least one event: %s.", strings.Join(keyward.WebhookEvents(), ", "))
	}
	events := slices.Clone(in.Events)
	slices.Sort(events)
	events = slices.Compact(events)
	for _, e := range events {
		if !slices.Contains(keyward.WebhookEvents(), e) {
			return in, fieldErr("events", keyward.EINVALID, "Unknown event %q; the events are %s.", e, strings.Join(keyward.WebhookEvents(), ", "))
		}
		if keyward.IsMemberEvent(e) && !a.Has(PermMembersView) {
			return in, fieldErr("events", keyward.EFORBIDDEN, "The %q event tells about members; it needs the %q permission in this project.", e, PermMembersView)
		}
	}
	return WebhookInput{URL: u, Events: events}, nil
}

// newWebhookSecret draws a signing secret for webhook id: sealed as the store keeps it, and as
// text, shown once.
func (s *Service) newWebhookSecret(id string) (sealed []byte, text string, err error) {
	key, text, err := webhook.NewSecret(s.Rand)
	if err != nil {
		return nil, "", err
	}
	if sealed, err = webhook.Seal(s.MasterKey, id, key, s.Rand); err != nil {
		return nil, "", err
	}
	return sealed, text, nil
}

// auditURL is a webhook's URL as the audit log shows it: without its query, which often holds
// the receiver's own token, since the log is read by people who may not manage webhooks.
func auditURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	if u.RawQuery != "" {
		u.RawQuery = "…"
	}
	return u.String()
}

// Webhooks lists the project's webhooks. It needs api-keys-manage.
func (a *Access) Webhooks(ctx context.Context) ([]*keyward.Webhook, error) {
	if err := a.mayManageWebhooks(); err != nil {
		return nil, err
	}
	return a.svc.Store.Webhooks(ctx, a.Project.ID)
}

// Webhook returns one of the project's webhooks. It needs api-keys-manage.
func (a *Access) Webhook(ctx context.Context, id string) (*keyward.Webhook, error) {
	if err := a.mayManageWebhooks(); err != nil {
		return nil, err
	}
	return a.webhook(ctx, id)
}

func (a *Access) webhook(ctx context.Context, id string) (*keyward.Webhook, error) {
	w, err := a.svc.Store.Webhook(ctx, a.Project.ID, id)
	if keyward.ErrorCode(err) == keyward.ENOTFOUND {
		return nil, keyward.Errorf(keyward.ENOTFOUND, "The webhook was not found in this project.")
	}
	return w, err
}

// CreateWebhook adds a webhook and returns it with its signing secret, shown this once. It
// needs api-keys-manage, and members-view for member events. The webhook acts for the caller
// (for a key, its owner): it delivers only what they may see when it delivers.
func (a *Access) CreateWebhook(ctx context.Context, in WebhookInput) (*keyward.Webhook, string, error) {
	if err := a.mayManageWebhooks(); err != nil {
		return nil, "", err
	}
	in, err := a.checkWebhook(in)
	if err != nil {
		return nil, "", err
	}
	s := a.svc
	id, err := keyward.NewID(s.Rand, keyward.PrefixWebhook)
	if err != nil {
		return nil, "", err
	}
	sealed, text, err := s.newWebhookSecret(id)
	if err != nil {
		return nil, "", err
	}
	now := s.Now()
	w := &keyward.Webhook{ID: id, ProjectID: a.Project.ID, URL: in.URL, Events: in.Events, Owner: owner(a.caller.Principal),
		Secret: sealed, CreatedAt: now, UpdatedAt: now}
	if err := s.Store.CreateWebhook(ctx, w); err != nil {
		return nil, "", err
	}
	s.audit(ctx, a.caller, &keyward.AuditEvent{ProjectID: a.Project.ID, At: now, Action: AuditWebhookCreated, Target: "webhook:" + id,
		Detail: fmt.Sprintf("url=%q events=%s", auditURL(w.URL), strings.Join(w.Events, ","))})
	return w, text, nil
}

// UpdateWebhook changes a webhook's URL or events. It needs what CreateWebhook needs; the
// webhook then acts for the caller.
func (a *Access) UpdateWebhook(ctx context.Context, id string, c WebhookChange) (*keyward.Webhook, error) {
	if err := a.mayManageWebhooks(); err != nil {
		return nil, err
	}
	if c.URL == nil && c.Events == nil {
		return nil, keyward.Errorf(keyward.EINVALID, "Nothing to change: give url, events or both.")
	}
	w, err := a.webhook(ctx, id)
	if err != nil {
		return nil, err
	}
	in := WebhookInput{URL: w.URL, Events: w.Events}
	if c.URL != nil {
		in.URL = *c.URL
	}
	if c.Events != nil {
		in.Events = *c.Events
	}
	if in, err = a.checkWebhook(in); err != nil {
		return nil, err
	}
	s := a.svc
	now := s.Now()
	w, err = s.Store.UpdateWebhook(ctx, a.Project.ID, id, keyward.WebhookChange{URL: &in.URL, Events: &in.Events, Owner: owner(a.caller.Principal)}, now)
	if err != nil {
		return nil, err
	}
	s.audit(ctx, a.caller, &keyward.AuditEvent{ProjectID: a.Project.ID, At: now, Action: AuditWebhookUpdated, Target: "webhook:" + id,
		Detail: fmt.Sprintf("url=%q events=%s", auditURL(w.URL), strings.Join(w.Events, ","))})
	return w, nil
}

// DeleteWebhook deletes a webhook and its messages, sent or not. It needs api-keys-manage.
func (a *Access) DeleteWebhook(ctx context.Context, id string) error {
	if err := a.mayManageWebhooks(); err != nil {
		return err
	}
	w, err := a.webhook(ctx, id)
	if err != nil {
		return err
	}
	s := a.svc
	if err := s.Store.DeleteWebhook(ctx, a.Project.ID, id); err != nil {
		return err
	}
	s.audit(ctx, a.caller, &keyward.AuditEvent{ProjectID: a.Project.ID, At: s.Now(), Action: AuditWebhookDeleted, Target: "webhook:" + id,
		Detail: fmt.Sprintf("url=%q", auditURL(w.URL))})
	return nil
}

// RollWebhookSecret gives a webhook a new signing secret, returned this once; the previous one
// signs every message too for grace (0 to MaxWebhookGrace). It needs what UpdateWebhook needs
// (the caller must be able to subscribe to the webhook's events), and the webhook then acts for
// the caller.
func (a *Access) RollWebhookSecret(ctx context.Context, id string, grace time.Duration) (*keyward.Webhook, string, error) {
	if err := a.mayManageWebhooks(); err != nil {
		return nil, "", err
	}
	if grace < 0 || grace > MaxWebhookGrace {
		return nil, "", fieldErr("grace", keyward.EINVALID, "The grace must be from 0s to %s.", MaxWebhookGrace)
	}
	w, err := a.webhook(ctx, id)
	if err != nil {
		return nil, "", err
	}
	if _, err := a.checkWebhook(WebhookInput{URL: w.URL, Events: w.Events}); err != nil {
		return nil, "", err
	}
	s := a.svc
	sealed, text, err := s.newWebhookSecret(id)
	if err != nil {
		return nil, "", err
	}
	now := s.Now()
	until := now.Add(grace)
	w, err = s.Store.UpdateWebhook(ctx, a.Project.ID, id, keyward.WebhookChange{Secret: sealed, PreviousExpiry: &until, Owner: owner(a.caller.Principal)}, now)
	if err != nil {
		return nil, "", err
	}
	s.audit(ctx, a.caller, &keyward.AuditEvent{ProjectID: a.Project.ID, At: now, Action: AuditWebhookSecretKeyed, Target: "webhook:" + id,
		Detail: "grace=" + grace.String()})
	return w, text, nil
}

// WebhookMessages returns one page of a webhook's messages, newest first, without their bodies.
// It needs api-keys-manage.
func (a *Access) WebhookMessages(ctx context.Context, id string, p keyward.Page) ([]*keyward.WebhookMessage, string, error) {
	if err := a.mayManageWebhooks(); err != nil {
		return nil, "", err
	}
	if _, err := a.webhook(ctx, id); err != nil {
		return nil, "", err
	}
	return a.svc.Store.WebhookMessagePage(ctx, a.Project.ID, id, p) // without bodies
}

// redact drops the body of a member event from m when the caller may not see the members.
func (a *Access) redact(m *keyward.WebhookMessage) {
	if keyward.IsMemberEvent(m.Type) && !a.Has(PermMembersView) {
		m.Body = nil
	}
}

// WebhookMessage returns a message of the webhook with its newest attempts and what the
// receiver answered. It needs api-keys-manage.
func (a *Access) WebhookMessage(ctx context.Context, webhookID, id string) (*keyward.WebhookMessage, []*keyward.WebhookAttempt, error) {
	if err := a.mayManageWebhooks(); err != nil {
		return nil, nil, err
	}
	m, attempts, err := a.svc.Store.WebhookMessage(ctx, a.Project.ID, id)
	if keyward.ErrorCode(err) == keyward.ENOTFOUND || err == nil && m.WebhookID != webhookID {
		return nil, nil, keyward.Errorf(keyward.ENOTFOUND, "The message was not found for this webhook.")
	} else if err != nil {
		return nil, nil, err
	}
	a.redact(m)
	return m, attempts, nil
}

// RedeliverWebhookMessage sends a message again, with the same id and body, as soon as the
// sender gets to it, retried for another 24 hours. It needs api-keys-manage.
func (a *Access) RedeliverWebhookMessage(ctx context.Context, webhookID, id string) (*keyward.WebhookMessage, error) {
	if _, _, err := a.WebhookMessage(ctx, webhookID, id); err != nil {
		return nil, err
	}
	s := a.svc
	now := s.Now()
	m, err := s.Store.RedeliverWebhookMessage(ctx, a.Project.ID, id, now)
	if err != nil {
		return nil, err
	}
	a.redact(m)
	s.audit(ctx, a.caller, &keyward.AuditEvent{ProjectID: a.Project.ID, At: now, Action: AuditWebhookRedelivered, Target: "webhook:" + webhookID,
		Detail: "message=" + id})
	return m, nil
}

// maxPendingTests bounds the test events of a webhook waiting to be delivered.
const maxPendingTests = 5

// TestWebhook queues a webhook.test event for the webhook alone, and returns its message. It
// needs api-keys-manage.
func (a *Access) TestWebhook(ctx context.Context, id string) (*keyward.WebhookMessage, error) {
	if err := a.mayManageWebhooks(); err != nil {
		return nil, err
	}
	if _, err := a.webhook(ctx, id); err != nil {
		return nil, err
	}
	s := a.svc
	// Each test is a message kept for 30 days: a receiver that is down would otherwise let
	// anyone pressing the button fill the outbox.
	recent, _, err := s.Store.WebhookMessagePage(ctx, a.Project.ID, id, keyward.Page{Limit: maxPendingTests, Search: keyward.EventWebhookTest})
	if err != nil {
		return nil, err
	}
	pending := 0
	for _, m := range recent {
		if m.State == keyward.MessagePending {
			pending++
		}
	}
	if pending >= maxPendingTests {
		return nil, keyward.Errorf(keyward.ECONFLICT, "%d test events of this webhook are still waiting to be delivered; redeliver one of them, or wait until they are.", pending)
	}
	msgs, err := s.Store.EnqueueWebhookEvent(ctx, keyward.WebhookEvent{Type: keyward.EventWebhookTest, At: s.Now(),
		Data: keyward.EventData{ProjectID: a.Project.ID, Actor: a.caller.Principal.Subject}}, id)
	if err != nil {
		return nil, err
	}
	if len(msgs) != 1 {
		return nil, keyward.Errorf(keyward.ENOTFOUND, "The webhook was not found in this project.")
	}
	return msgs[0], nil
}

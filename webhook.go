package keyward

import (
	"context"
	"slices"
	"strings"
	"time"
)

// PrefixWebhook starts a webhook's id.
const PrefixWebhook = "whk_"

// Webhook event types: what a project's webhooks may subscribe to. The store emits each in the
// transaction of the change it describes (see WebhookStore).
const (
	EventKeyCreated    = "api_key.created"
	EventKeyUpdated    = "api_key.updated"
	EventKeyRolled     = "api_key.rolled"
	EventKeyDeleted    = "api_key.deleted"
	EventKeyDisabled   = "api_key.disabled" // every reason but a leak: data.reason says which
	EventKeyLeaked     = "api_key.leaked"
	EventKeyExpiring   = "api_key.expiring" // 7 days and 1 day before a key expires
	EventSessionReuse  = "session.reuse_detected"
	EventMemberAdded   = "member.added"
	EventMemberChanged = "member.changed"
	EventMemberRemoved = "member.removed"
	EventWebhookTest   = "webhook.test" // sent on request only; no subscription needed
)

const (
	// WebhookMaxPerProject bounds a project's webhooks, and so the fan-out of one change.
	WebhookMaxPerProject = 20
	// WebhookResponseMaxLen is how much of a receiver's answer is kept with an attempt.
	WebhookResponseMaxLen = 2048
)

// WebhookEvents returns every event type a webhook may subscribe to, in a stable order.
func WebhookEvents() []string {
	return []string{
		EventKeyCreated, EventKeyUpdated, EventKeyRolled, EventKeyDeleted, EventKeyDisabled,
		EventKeyLeaked, EventKeyExpiring, EventSessionReuse,
		EventMemberAdded, EventMemberChanged, EventMemberRemoved,
	}
}

// IsMemberEvent reports whether an event type tells about the project's members, which only
// those who may see the members may receive.
func IsMemberEvent(t string) bool { return strings.HasPrefix(t, "member.") }

// Webhook is an HTTPS endpoint that receives a project's events, signed per the Standard
// Webhooks specification with a secret that only the endpoint and keyward know.
type Webhook struct {
	ID        string
	ProjectID string
	URL       string
	Events    []string // a subset of WebhookEvents, sorted
	// Owner is the member (a user id) who last set the webhook up: it delivers only what they
	// may see in the project at the time of delivery, and nothing once they lost the project.
	Owner string
	// Secret is the signing secret sealed with the instance's master key; the store never sees
	// it in the clear. PreviousSecret, sealed too, also signs until PreviousExpiresAt, so that
	// a receiver can take the rolled secret without missing a message.
	Secret            []byte
	PreviousSecret    []byte
	PreviousExpiresAt *time.Time
	CreatedAt         time.Time
	UpdatedAt         time.Time
}

// Subscribed reports whether the webhook receives events of type t.
func (w *Webhook) Subscribed(t string) bool { return slices.Contains(w.Events, t) }

// WebhookChange is an edit of a webhook: each non-nil field replaces the webhook's. Owner is
// who made the change.
type WebhookChange struct {
	URL            *string
	Events         *[]string
	Owner          string
	Secret         []byte     // a rolled secret, sealed; nil keeps the secret
	PreviousExpiry *time.Time // with Secret: until when the replaced secret signs too
}

// EventData is the data of a webhook event, as receivers get it in the body
// {"type", "timestamp", "data"}. Events are thin: they name what changed, and a receiver reads
// the rest through the API, so a delivery late or out of order never states something stale.
type EventData struct {
	ProjectID string `json:"project_id"`
	// Actor is the subject who made the change ("user:…", "key:…"); absent when keyward made
	// it (a reminder, an owner's departure, a secret scanner's report).
	Actor     string     `json:"actor,omitempty"`
	KeyID     string     `json:"key_id,omitempty"`
	KeyName   string     `json:"key_name,omitempty"`
	Reason    string     `json:"reason,omitempty"` // why a key was disabled or a member removed
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// GraceEndsAt is when a rolled key's previous secret stops exchanging.
	GraceEndsAt *time.Time `json:"grace_ends_at,omitempty"`
	URL         string     `json:"url,omitempty"` // where a leaked key was found
	UserID      string     `json:"user_id,omitempty"`
	Email       string     `json:"email,omitempty"`
	Role        string     `json:"role,omitempty"`
	SessionID   string     `json:"session_id,omitempty"`
	Subject     string     `json:"subject,omitempty"` // the session's subject
}

// WebhookEvent is one event as the store emits it.
type WebhookEvent struct {
	Type string
	At   time.Time
	Data EventData
}

// Webhook message states.
const (
	MessagePending   = "pending"   // waiting for its next attempt
	MessageDelivered = "delivered" // a 2xx answer
	MessageFailed    = "failed"    // no 2xx answer within WebhookRetryWindow
	MessageSkipped   = "skipped"   // the webhook's owner may not see it any more: never sent
)

// WebhookRetryWindow is how long a message is retried before it fails.
const WebhookRetryWindow = 24 * time.Hour

// WebhookMessage is one event for one webhook: its body is fixed when the change commits, and
// every attempt sends it with the same id (the webhook-id header), so that receivers can drop
// repeats.
type WebhookMessage struct {
	ID        string // "msg_…"
	WebhookID string
	ProjectID string
	Type      string
	Body      []byte // the JSON body, as sent
	CreatedAt time.Time
	State     string
	Attempts  int
	// NextAttemptAt is when a pending message is tried next.
	NextAttemptAt *time.Time
	// LastStatus is the HTTP status of the last attempt (0: none answered); LastError says why
	// an attempt got no answer.
	LastStatus  int
	LastError   string
	DeliveredAt *time.Time
	// RetryUntil is when a failing message stops being retried: WebhookRetryWindow after it was
	// queued, or after it was last redelivered. WindowAttempts counts the attempts since, which
	// set the backoff: a redelivery starts again from the shortest wait.
	RetryUntil     time.Time
	WindowAttempts int
}

// WebhookAttempt is one try of a message and what the receiver answered.
type WebhookAttempt struct {
	MessageID string
	At        time.Time
	Duration  time.Duration
	Status    int    // 0 when no answer came
	Response  string // the start of the answer's body, at most WebhookResponseMaxLen bytes
	Error     string // why no answer came, or why the message was not sent
}

// WebhookDelivery is a message claimed for sending, with the webhook it goes to.
type WebhookDelivery struct {
	Message *WebhookMessage
	Webhook *Webhook
}

// WebhookStore keeps webhooks and their outbox.
type WebhookStore interface {
	// CreateWebhook stores w; ENOTFOUND when the project does not exist, ECONFLICT when the
	// project has WebhookMaxPerProject webhooks already.
	CreateWebhook(ctx context.Context, w *Webhook) error
	// Webhook returns a webhook of the project; ENOTFOUND otherwise.
	Webhook(ctx context.Context, projectID, id string) (*Webhook, error)
	// Webhooks lists a project's webhooks, oldest first.
	Webhooks(ctx context.Context, projectID string) ([]*Webhook, error)
	// UpdateWebhook applies change and returns the webhook as it now is; ENOTFOUND when unknown.
	UpdateWebhook(ctx context.Context, projectID, id string, change WebhookChange, at time.Time) (*Webhook, error)
	// DeleteWebhook deletes the webhook and its messages; ENOTFOUND when unknown.
	DeleteWebhook(ctx context.Context, projectID, id string) error

	// ClaimWebhookMessages takes up to limit pending messages due at now, oldest first, for
	// lease: no other call claims them again before now+lease, so that instances sharing a
	// database do not send one message twice at once, and a message whose sender died is sent
	// again after the lease. Each claim counts as an attempt.
	ClaimWebhookMessages(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]WebhookDelivery, error)
	// RecordWebhookAttempt stores a's outcome: the message is delivered when a.Status is 2xx,
	// skipped when skip, pending again at next when next is not nil, failed otherwise.
	// ENOTFOUND when the message is gone (its webhook deleted).
	RecordWebhookAttempt(ctx context.Context, a *WebhookAttempt, next *time.Time, skip bool) error
	// WebhookMessagePage returns one page of a webhook's messages, newest first, without their
	// bodies (WebhookMessage has them), and the cursor of the next page.
	WebhookMessagePage(ctx context.Context, projectID, webhookID string, p Page) ([]*WebhookMessage, string, error)
	// WebhookMessage returns a message of the project with its attempts, newest first.
	WebhookMessage(ctx context.Context, projectID, id string) (*WebhookMessage, []*WebhookAttempt, error)
	// RedeliverWebhookMessage makes a message pending again, due at now, with a new retry
	// window; ENOTFOUND when unknown.
	RedeliverWebhookMessage(ctx context.Context, projectID, id string, now time.Time) (*WebhookMessage, error)
	// EnqueueWebhookEvent emits e to the webhooks of e.Data.ProjectID subscribed to its type (or
	// to the one webhook named, whatever it subscribes to, for EventWebhookTest) and returns
	// the messages queued.
	EnqueueWebhookEvent(ctx context.Context, e WebhookEvent, webhookID string) ([]*WebhookMessage, error)

	// RemindExpiringKeys emits api_key.expiring for at most limit keys that expire within
	// 7 days (or 1 day) of now and have not had that reminder, in one transaction each with
	// the reminder marked sent, and returns them. A key's reminders start over when its expiry
	// changes.
	RemindExpiringKeys(ctx context.Context, now time.Time, limit int) ([]*ExpiryReminder, error)
}

// ExpiryReminder is an api_key.expiring reminder, for the mail that goes with it.
type ExpiryReminder struct {
	Key  *APIKey
	Days int // 7 or 1
}

// actorKey carries the subject of the change a store call makes.
type actorKey struct{}

// WithActor returns ctx naming subject as the one who makes the changes done with it; the
// store puts it in the webhook events it emits, as the audit log names the actor.
func WithActor(ctx context.Context, subject string) context.Context {
	return context.WithValue(ctx, actorKey{}, subject)
}

// ActorOf returns the subject WithActor put in ctx, or "".
func ActorOf(ctx context.Context) string {
	s, _ := ctx.Value(actorKey{}).(string)
	return s
}

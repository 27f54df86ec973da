package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/keyward/keyward"
)

// PrefixMessage starts the id of a webhook message: the webhook-id header receivers
// de-duplicate by.
const PrefixMessage = "msg_"

const webhookCols = "id, project_id, url, events, owner_id, secret, previous_secret, previous_expires_at, created_at, updated_at"

func scanWebhook(row scanner) (*keyward.Webhook, error) {
	var w keyward.Webhook
	var events string
	var prevExp sql.NullInt64
	var created, updated int64
	if err := row.Scan(&w.ID, &w.ProjectID, &w.URL, &events, &w.Owner, &w.Secret, &w.PreviousSecret, &prevExp, &created, &updated); err != nil {
		return nil, err
	}
	w.Events = splitList(events)
	w.PreviousExpiresAt = timePtr(prevExp)
	w.CreatedAt, w.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &w, nil
}

func webhookEvents(events []string) (string, error) {
	events = slices.Clone(events)
	slices.Sort(events)
	return joinList("event", slices.Compact(events))
}

// CreateWebhook stores w; see keyward.WebhookStore.
func (db *DB) CreateWebhook(ctx context.Context, w *keyward.Webhook) error {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	events, err := webhookEvents(w.Events)
	if err != nil {
		return err
	}
	return db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		// The project row is locked so that two concurrent creations cannot both pass the count.
		var one int
		err := tx.QueryRowContext(ctx, "SELECT 1 FROM projects WHERE id = $1"+db.q.forUpdate, w.ProjectID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return keyward.Errorf(keyward.ENOTFOUND, "Project not found.")
		} else if err != nil {
			return fmt.Errorf("create webhook: %w", err)
		}
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM webhooks WHERE project_id = $1", w.ProjectID).Scan(&n); err != nil {
			return fmt.Errorf("create webhook: %w", err)
		}
		if n >= keyward.WebhookMaxPerProject {
			return keyward.Errorf(keyward.ECONFLICT, "A project has at most %d webhooks; delete one first.", keyward.WebhookMaxPerProject)
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO webhooks ("+webhookCols+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
			w.ID, w.ProjectID, w.URL, events, w.Owner, w.Secret, w.PreviousSecret, nullMicros(w.PreviousExpiresAt),
			micros(w.CreatedAt), micros(w.UpdatedAt))
		if err != nil {
			return fmt.Errorf("create webhook: %w", err)
		}
		return nil
	})
}

// Webhook returns a webhook of the project.
func (db *DB) Webhook(ctx context.Context, projectID, id string) (*keyward.Webhook, error) {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	return webhookByID(ctx, db.r, projectID, id, "")
}

func webhookByID(ctx context.Context, q rowQuerier, projectID, id, lock string) (*keyward.Webhook, error) {
	w, err := scanWebhook(q.QueryRowContext(ctx, "SELECT "+webhookCols+" FROM webhooks WHERE id = $1 AND project_id = $2"+lock, id, projectID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, keyward.Errorf(keyward.ENOTFOUND, "Webhook not found.")
	} else if err != nil {
		return nil, fmt.Errorf("webhook: %w", err)
	}
	return w, nil
}

// Webhooks lists a project's webhooks, oldest first.
func (db *DB) Webhooks(ctx context.Context, projectID string) ([]*keyward.Webhook, error) {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	rows, err := db.r.QueryContext(ctx, "SELECT "+webhookCols+" FROM webhooks WHERE project_id = $1 ORDER BY created_at, id", projectID)
	if err != nil {
		return nil, fmt.Errorf("webhooks: %w", err)
	}
	defer rows.Close()
	out := []*keyward.Webhook{}
	for rows.Next() {
		w, err := scanWebhook(rows)
		if err != nil {
			return nil, fmt.Errorf("webhooks: %w", err)
		}
		out = append(out, w)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("webhooks: %w", err)
	}
	return out, nil
}

// UpdateWebhook applies change; see keyward.WebhookStore.
func (db *DB) UpdateWebhook(ctx context.Context, projectID, id string, change keyward.WebhookChange, at time.Time) (*keyward.Webhook, error) {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	var w *keyward.Webhook
	err := db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		if w, err = webhookByID(ctx, tx, projectID, id, db.q.forUpdate); err != nil {
			return err
		}
		if change.URL != nil {
			w.URL = *change.URL
		}
		if change.Events != nil {
			w.Events = *change.Events
		}
		if change.Owner != "" {
			w.Owner = change.Owner
		}
		if change.Secret != nil {
			w.PreviousSecret, w.PreviousExpiresAt = w.Secret, change.PreviousExpiry
			w.Secret = change.Secret
			if w.PreviousExpiresAt == nil || !w.PreviousExpiresAt.After(at) {
				w.PreviousSecret, w.PreviousExpiresAt = nil, nil
			}
		}
		w.UpdatedAt = at
		events, err := webhookEvents(w.Events)
		if err != nil {
			return err
		}
		w.Events = splitList(events)
		_, err = tx.ExecContext(ctx, "UPDATE webhooks SET url = $1, events = $2, owner_id = $3, secret = $4, previous_secret = $5,"+
			" previous_expires_at = $6, updated_at = $7 WHERE id = $8",
			w.URL, events, w.Owner, w.Secret, w.PreviousSecret, nullMicros(w.PreviousExpiresAt), micros(at), id)
		if err != nil {
			return fmt.Errorf("update webhook: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return w, nil
}

// DeleteWebhook deletes the webhook with its messages and their attempts.
func (db *DB) DeleteWebhook(ctx context.Context, projectID, id string) error {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	return db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM webhooks WHERE id = $1 AND project_id = $2", id, projectID)
		if err != nil {
			return fmt.Errorf("delete webhook: %w", err)
		}
		if n, err := rowsAffected(res); err != nil {
			return err
		} else if n == 0 {
			return keyward.Errorf(keyward.ENOTFOUND, "Webhook not found.")
		}
		return nil
	})
}

// eventBody is the body of every message: the Standard Webhooks payload structure.
type eventBody struct {
	Type      string            `json:"type"`
	Timestamp string            `json:"timestamp"`
	Data      keyward.EventData `json:"data"`
}

// emit queues e, in tx, for every webhook of its project subscribed to its type (only the
// webhook only, whatever it subscribes to, when only is set). The actor is the one ctx names
// when e names none. It is how every change that has an event tells the outbox: committed with
// the change or not at all.
func (db *DB) emit(ctx context.Context, tx *sql.Tx, e keyward.WebhookEvent, only string) ([]*keyward.WebhookMessage, error) {
	if e.Data.ProjectID == "" {
		return nil, nil
	}
	q, args := "SELECT id, events FROM webhooks WHERE project_id = $1", []any{e.Data.ProjectID}
	if only != "" {
		q, args = q+" AND id = $2", append(args, only)
	}
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("webhook event %s: %w", e.Type, err)
	}
	var targets []string
	for rows.Next() {
		var id, events string
		if err := rows.Scan(&id, &events); err != nil {
			rows.Close()
			return nil, fmt.Errorf("webhook event %s: %w", e.Type, err)
		}
		if only != "" || slices.Contains(splitList(events), e.Type) {
			targets = append(targets, id)
		}
	}
	if err := rows.Close(); err != nil {
		return nil, fmt.Errorf("webhook event %s: %w", e.Type, err)
	}
	if len(targets) == 0 {
		return nil, nil
	}
	if e.Data.Actor == "" {
		e.Data.Actor = keyward.ActorOf(ctx)
	}
	body, err := json.Marshal(eventBody{Type: e.Type, Timestamp: e.At.UTC().Format(time.RFC3339Nano), Data: e.Data})
	if err != nil {
		return nil, fmt.Errorf("webhook event %s: %w", e.Type, err)
	}
	var out []*keyward.WebhookMessage
	for _, wh := range targets {
		id, err := keyward.NewID(db.rand, PrefixMessage)
		if err != nil {
			return nil, err
		}
		next := e.At
		m := &keyward.WebhookMessage{ID: id, WebhookID: wh, ProjectID: e.Data.ProjectID, Type: e.Type, Body: body,
			CreatedAt: e.At, State: keyward.MessagePending, NextAttemptAt: &next, RetryUntil: e.At.Add(keyward.WebhookRetryWindow)}
		if _, err := tx.ExecContext(ctx,
			"INSERT INTO webhook_messages (webhook_id, project_id, msg_id, event_type, body, created_at, state, next_attempt_at, window_ends_at)"+
				" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
			wh, m.ProjectID, id, e.Type, string(body), micros(e.At), keyward.MessagePending, micros(e.At),
			micros(m.RetryUntil)); err != nil {
			return nil, fmt.Errorf("webhook event %s: %w", e.Type, err)
		}
		out = append(out, m)
	}
	return out, nil
}

// EnqueueWebhookEvent emits e on its own; see keyward.WebhookStore.
func (db *DB) EnqueueWebhookEvent(ctx context.Context, e keyward.WebhookEvent, webhookID string) ([]*keyward.WebhookMessage, error) {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	var out []*keyward.WebhookMessage
	err := db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		out, err = db.emit(ctx, tx, e, webhookID)
		return err
	})
	return out, err
}

const messageCols = "msg_id, webhook_id, project_id, event_type, body, created_at, state, attempts, next_attempt_at, last_status, last_error, delivered_at, window_ends_at, window_attempts"

// messageListCols is messageCols without the bodies, which a list does not show: a page of
// them reads no more than it needs.
var messageListCols = strings.Replace(messageCols, "body", "'' AS body", 1)

// scanMessage reads a row of messageCols, after the columns first (such as a page's sort key)
// are scanned into first.
func scanMessage(row scanner, first ...any) (*keyward.WebhookMessage, error) {
	var m keyward.WebhookMessage
	var body string
	var created, until int64
	var next, delivered sql.NullInt64
	if err := row.Scan(append(first, &m.ID, &m.WebhookID, &m.ProjectID, &m.Type, &body, &created, &m.State, &m.Attempts, &next,
		&m.LastStatus, &m.LastError, &delivered, &until, &m.WindowAttempts)...); err != nil {
		return nil, err
	}
	m.CreatedAt, m.RetryUntil = fromMicros(created), fromMicros(until)
	if body != "" {
		m.Body = []byte(body)
	}
	m.NextAttemptAt, m.DeliveredAt = timePtr(next), timePtr(delivered)
	if m.State != keyward.MessagePending {
		m.NextAttemptAt = nil
	}
	return &m, nil
}

// ClaimWebhookMessages claims due messages for lease; see keyward.WebhookStore.
func (db *DB) ClaimWebhookMessages(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]keyward.WebhookDelivery, error) {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	if err := checkLimit(limit); err != nil {
		return nil, err
	}
	skip := ""
	if db.dialect == DialectPostgres {
		// Instances claiming at once take different rows instead of waiting for each other.
		skip = " FOR UPDATE SKIP LOCKED"
	}
	var out []keyward.WebhookDelivery
	err := db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		out = nil
		rows, err := tx.QueryContext(ctx,
			"UPDATE webhook_messages SET leased_until = $1, attempts = attempts + 1, window_attempts = window_attempts + 1 WHERE seq IN ("+
				"SELECT seq FROM webhook_messages WHERE state = 'pending' AND next_attempt_at <= $2 AND leased_until <= $2"+
				" ORDER BY next_attempt_at LIMIT $3"+skip+") RETURNING "+messageCols,
			micros(now.Add(lease)), micros(now), limit)
		if err != nil {
			return fmt.Errorf("claim webhook messages: %w", err)
		}
		var msgs []*keyward.WebhookMessage
		for rows.Next() {
			m, err := scanMessage(rows)
			if err != nil {
				rows.Close()
				return fmt.Errorf("claim webhook messages: %w", err)
			}
			msgs = append(msgs, m)
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("claim webhook messages: %w", err)
		}
		hooks := map[string]*keyward.Webhook{}
		for _, m := range msgs {
			w, ok := hooks[m.WebhookID]
			if !ok {
				if w, err = webhookByID(ctx, tx, m.ProjectID, m.WebhookID, ""); err != nil {
					return err
				}
				hooks[m.WebhookID] = w
			}
			out = append(out, keyward.WebhookDelivery{Message: m, Webhook: w})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b keyward.WebhookDelivery) int { return a.Message.CreatedAt.Compare(b.Message.CreatedAt) })
	return out, nil
}

// RecordWebhookAttempt stores an attempt's outcome; see keyward.WebhookStore.
func (db *DB) RecordWebhookAttempt(ctx context.Context, a *keyward.WebhookAttempt, next *time.Time, skip bool) error {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	state, delivered := keyward.MessageFailed, sql.NullInt64{}
	switch {
	case a.Status >= 200 && a.Status < 300:
		state, delivered, next = keyward.MessageDelivered, nullMicros(&a.At), nil
	case skip:
		state, next = keyward.MessageSkipped, nil
	case next != nil:
		state = keyward.MessagePending
	}
	response := truncateUTF8(a.Response, keyward.WebhookResponseMaxLen)
	errText := truncateUTF8(a.Error, 512)
	return db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE webhook_messages SET state = $1, next_attempt_at = $2, leased_until = 0,"+
			" last_status = $3, last_error = $4, delivered_at = $5 WHERE msg_id = $6",
			state, nullMicros(next), a.Status, errText, delivered, a.MessageID)
		if err != nil {
			return fmt.Errorf("record webhook attempt: %w", err)
		}
		if n, err := rowsAffected(res); err != nil {
			return err
		} else if n == 0 {
			return keyward.Errorf(keyward.ENOTFOUND, "Webhook message not found.")
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO webhook_attempts (msg_id, at, duration_us, status, response, error) VALUES ($1, $2, $3, $4, $5, $6)",
			a.MessageID, micros(a.At), a.Duration.Microseconds(), a.Status, response, errText); err != nil {
			return fmt.Errorf("record webhook attempt: %w", err)
		}
		return nil
	})
}

// truncateUTF8 cuts s to at most n bytes without splitting a character, and drops what no
// database keeps in text (NUL, invalid UTF-8): a receiver's answer is anything it likes.
func truncateUTF8(s string, n int) string {
	s = strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", ""), "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// WebhookMessagePage returns one page of a webhook's messages, newest first, without their
// bodies. A search keeps the
// messages whose event type or state it is.
func (db *DB) WebhookMessagePage(ctx context.Context, projectID, webhookID string, p keyward.Page) ([]*keyward.WebhookMessage, string, error) {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	if err := checkLimit(p.Limit); err != nil {
		return nil, "", err
	}
	search := strings.TrimSpace(p.Search)
	c, after, err := decodeCursor(p, "webhook-messages", search)
	if err != nil {
		return nil, "", err
	}
	before := int64(1<<63 - 1)
	if after {
		before = c.At
	}
	q := "SELECT seq, " + messageListCols + " FROM webhook_messages WHERE webhook_id = $1 AND project_id = $2 AND seq < $3"
	args := []any{webhookID, projectID, before, p.Limit + 1}
	if search != "" {
		q += " AND (event_type = $5 OR state = $5)"
		args = append(args, search)
	}
	rows, err := db.r.QueryContext(ctx, q+" ORDER BY seq DESC LIMIT $4", args...)
	if err != nil {
		return nil, "", fmt.Errorf("webhook messages: %w", err)
	}
	defer rows.Close()
	out := []*keyward.WebhookMessage{}
	var last int64
	for rows.Next() {
		if len(out) == p.Limit {
			next := pageCursor{List: "webhook-messages", Search: search, At: last}
			return out, next.encode(), rows.Close()
		}
		var seq int64
		m, err := scanMessage(rows, &seq)
		if err != nil {
			return nil, "", fmt.Errorf("webhook messages: %w", err)
		}
		last = seq
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("webhook messages: %w", err)
	}
	return out, "", nil
}

// webhookAttemptsShown bounds the attempts a message's page lists: the newest ones.
const webhookAttemptsShown = 50

// WebhookMessage returns a message of the project with its newest attempts.
func (db *DB) WebhookMessage(ctx context.Context, projectID, id string) (*keyward.WebhookMessage, []*keyward.WebhookAttempt, error) {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	m, err := scanMessage(db.r.QueryRowContext(ctx, "SELECT "+messageCols+" FROM webhook_messages WHERE msg_id = $1 AND project_id = $2", id, projectID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, keyward.Errorf(keyward.ENOTFOUND, "Webhook message not found.")
	} else if err != nil {
		return nil, nil, fmt.Errorf("webhook message: %w", err)
	}
	rows, err := db.r.QueryContext(ctx, "SELECT at, duration_us, status, response, error FROM webhook_attempts WHERE msg_id = $1 ORDER BY at DESC LIMIT $2",
		id, webhookAttemptsShown)
	if err != nil {
		return nil, nil, fmt.Errorf("webhook attempts: %w", err)
	}
	defer rows.Close()
	attempts := []*keyward.WebhookAttempt{}
	for rows.Next() {
		a := keyward.WebhookAttempt{MessageID: id}
		var at, dur int64
		if err := rows.Scan(&at, &dur, &a.Status, &a.Response, &a.Error); err != nil {
			return nil, nil, fmt.Errorf("webhook attempts: %w", err)
		}
		a.At, a.Duration = fromMicros(at), time.Duration(dur)*time.Microsecond
		attempts = append(attempts, &a)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("webhook attempts: %w", err)
	}
	return m, attempts, nil
}

// RedeliverWebhookMessage makes a message pending again, due now; a send in flight keeps its
// lease, so the message is not sent twice at once.
func (db *DB) RedeliverWebhookMessage(ctx context.Context, projectID, id string, now time.Time) (*keyward.WebhookMessage, error) {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	var m *keyward.WebhookMessage
	err := db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE webhook_messages SET state = $1, next_attempt_at = $2, window_ends_at = $3, window_attempts = 0"+
			" WHERE msg_id = $4 AND project_id = $5",
			keyward.MessagePending, micros(now), micros(now.Add(keyward.WebhookRetryWindow)), id, projectID)
		if err != nil {
			return fmt.Errorf("redeliver webhook message: %w", err)
		}
		if n, err := rowsAffected(res); err != nil {
			return err
		} else if n == 0 {
			return keyward.Errorf(keyward.ENOTFOUND, "Webhook message not found.")
		}
		m, err = scanMessage(tx.QueryRowContext(ctx, "SELECT "+messageCols+" FROM webhook_messages WHERE msg_id = $1", id))
		if err != nil {
			return fmt.Errorf("redeliver webhook message: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// Expiry reminders are due this long before a key expires.
const (
	remindWeek = 7 * 24 * time.Hour
	remindDay  = 24 * time.Hour
)

// RemindExpiringKeys emits the api_key.expiring reminders due at now; see keyward.WebhookStore.
func (db *DB) RemindExpiringKeys(ctx context.Context, now time.Time, limit int) ([]*keyward.ExpiryReminder, error) {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	if err := checkLimit(limit); err != nil {
		return nil, err
	}
	var out []*keyward.ExpiryReminder
	err := db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		out = nil
		rows, err := tx.QueryContext(ctx, "SELECT id, expiry_reminded FROM api_keys WHERE expires_at IS NOT NULL AND expiry_reminded <> 1"+
			" AND disabled_at IS NULL AND expires_at > $1 AND (expires_at <= $2 AND expiry_reminded = 0 OR expires_at <= $3)"+
			" ORDER BY expires_at LIMIT $4", micros(now), micros(now.Add(remindWeek)), micros(now.Add(remindDay)), limit)
		if err != nil {
			return fmt.Errorf("expiring keys: %w", err)
		}
		type due struct {
			id   string
			sent int
			k    *keyward.APIKey
		}
		var keys []*due
		for rows.Next() {
			var d due
			if err := rows.Scan(&d.id, &d.sent); err != nil {
				rows.Close()
				return fmt.Errorf("expiring keys: %w", err)
			}
			keys = append(keys, &d)
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("expiring keys: %w", err)
		}
		for _, d := range keys {
			if d.k, err = scanAPIKey(tx.QueryRowContext(ctx, "SELECT "+apiKeyRead+" FROM api_keys WHERE id = $1", d.id)); err != nil {
				return fmt.Errorf("expiring keys: %w", err)
			}
		}
		for _, d := range keys {
			days := 7
			if !d.k.ExpiresAt.After(now.Add(remindDay)) {
				days = 1
			}
			// Compared and set: of instances reminding at once, one sends each reminder.
			res, err := tx.ExecContext(ctx, "UPDATE api_keys SET expiry_reminded = $1 WHERE id = $2 AND expiry_reminded = $3",
				days, d.k.ID, d.sent)
			if err != nil {
				return fmt.Errorf("expiring keys: %w", err)
			}
			if n, err := rowsAffected(res); err != nil {
				return err
			} else if n == 0 {
				continue
			}
			if _, err := db.emit(ctx, tx, keyward.WebhookEvent{Type: keyward.EventKeyExpiring, At: now, Data: keyward.EventData{
				ProjectID: d.k.ProjectID, KeyID: d.k.ID, KeyName: d.k.Name, ExpiresAt: d.k.ExpiresAt,
			}}, ""); err != nil {
				return err
			}
			out = append(out, &keyward.ExpiryReminder{Key: d.k, Days: days})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// keyEvent is the event of a change to k.
func keyEvent(typ string, k *keyward.APIKey, at time.Time) keyward.WebhookEvent {
	return keyward.WebhookEvent{Type: typ, At: at, Data: keyward.EventData{ProjectID: k.ProjectID, KeyID: k.ID, KeyName: k.Name}}
}

package api

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/internal/manage"
)

// webhookOut is w on the wire. The secret is set only in the answers to creation and roll, by
// the caller; the stored (sealed) secrets never leave the server. A previous secret is shown
// while it still signs.
func (s *Server) webhookOut(w *keyward.Webhook) client.Webhook {
	out := client.Webhook{ID: w.ID, URL: w.URL, Events: nonNil(w.Events), Owner: w.Owner, CreatedAt: w.CreatedAt.UTC(), UpdatedAt: w.UpdatedAt.UTC()}
	if w.PreviousExpiresAt != nil && len(w.PreviousSecret) > 0 && w.PreviousExpiresAt.After(s.Now()) {
		out.PreviousSecretExpiresAt = utc(w.PreviousExpiresAt)
	}
	return out
}

func messageOut(m *keyward.WebhookMessage) client.WebhookMessage {
	return client.WebhookMessage{
		ID: m.ID, WebhookID: m.WebhookID, Type: m.Type, State: m.State, Attempts: m.Attempts, CreatedAt: m.CreatedAt.UTC(),
		NextAttemptAt: utc(m.NextAttemptAt), DeliveredAt: utc(m.DeliveredAt), LastStatus: m.LastStatus, LastError: m.LastError,
	}
}

func (s *Server) listWebhooks(w http.ResponseWriter, r *http.Request, a *manage.Access) error {
	if _, err := query(r); err != nil {
		return err
	}
	list, err := a.Webhooks(r.Context())
	if err != nil {
		return err
	}
	data := make([]client.Webhook, 0, len(list))
	for _, h := range list {
		data = append(data, s.webhookOut(h))
	}
	// One page holds them all (keyward.WebhookMaxPerProject); the envelope is every list's.
	return writeJSON(w, http.StatusOK, client.Page[client.Webhook]{Data: data})
}

func (s *Server) getWebhook(w http.ResponseWriter, r *http.Request, a *manage.Access) error {
	h, err := a.Webhook(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, s.webhookOut(h))
}

func (s *Server) createWebhook(w http.ResponseWriter, r *http.Request, a *manage.Access) error {
	var req client.CreateWebhookRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	h, secret, err := a.CreateWebhook(r.Context(), manage.WebhookInput{URL: req.URL, Events: req.Events})
	if err != nil {
		return err
	}
	out := s.webhookOut(h)
	out.Secret = secret
	w.Header().Set("Location", "/v1/projects/"+a.Project.ID+"/webhooks/"+h.ID)
	return writeJSON(w, http.StatusCreated, out)
}

func (s *Server) updateWebhook(w http.ResponseWriter, r *http.Request, a *manage.Access) error {
	var req client.UpdateWebhookRequest
	fields, err := decodePatch(w, r, &req)
	if err != nil {
		return err
	}
	if err := refuseNull(fields, "url", "events"); err != nil {
		return err
	}
	h, err := a.UpdateWebhook(r.Context(), r.PathValue("id"), manage.WebhookChange{URL: req.URL, Events: req.Events})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, s.webhookOut(h))
}

func (s *Server) deleteWebhook(w http.ResponseWriter, r *http.Request, a *manage.Access) error {
	if err := a.DeleteWebhook(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// rollWebhookSecret reads its body as rollKey does: {} (no grace) signs with the previous
// secret too for manage.DefaultWebhookGrace.
func (s *Server) rollWebhookSecret(w http.ResponseWriter, r *http.Request, a *manage.Access) error {
	if _, err := query(r); err != nil {
		return err
	}
	var req client.RollWebhookSecretRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	grace := manage.DefaultWebhookGrace
	if req.Grace != "" {
		d, err := time.ParseDuration(req.Grace)
		if err != nil {
			return invalid("Field \"grace\" must be a duration from 0s to %s, such as 24h or 90m.", manage.MaxWebhookGrace)
		}
		grace = d // its range is manage's rule
	}
	h, secret, err := a.RollWebhookSecret(r.Context(), r.PathValue("id"), grace)
	if err != nil {
		return err
	}
	out := s.webhookOut(h)
	out.Secret = secret
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) testWebhook(w http.ResponseWriter, r *http.Request, a *manage.Access) error {
	if _, err := query(r); err != nil {
		return err
	}
	m, err := a.TestWebhook(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusAccepted, messageOut(m))
}

func (s *Server) listWebhookMessages(w http.ResponseWriter, r *http.Request, a *manage.Access) error {
	p, err := pageQuery(r)
	if err != nil {
		return err
	}
	msgs, next, err := a.WebhookMessages(r.Context(), r.PathValue("id"), p)
	if err != nil {
		return err
	}
	data := make([]client.WebhookMessage, 0, len(msgs))
	for _, m := range msgs {
		data = append(data, messageOut(m))
	}
	return writeJSON(w, http.StatusOK, client.Page[client.WebhookMessage]{Data: data, Next: nextCursor(next)})
}

func (s *Server) getWebhookMessage(w http.ResponseWriter, r *http.Request, a *manage.Access) error {
	m, attempts, err := a.WebhookMessage(r.Context(), r.PathValue("id"), r.PathValue("msg"))
	if err != nil {
		return err
	}
	out := client.WebhookMessageDetail{WebhookMessage: messageOut(m), Body: json.RawMessage("null"), History: make([]client.WebhookAttempt, 0, len(attempts))}
	if len(m.Body) > 0 {
		out.Body = m.Body
	}
	for _, at := range attempts {
		out.History = append(out.History, client.WebhookAttempt{At: at.At.UTC(), Status: at.Status, Response: at.Response, Error: at.Error,
			DurationMS: at.Duration.Milliseconds()})
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) redeliverWebhookMessage(w http.ResponseWriter, r *http.Request, a *manage.Access) error {
	if _, err := query(r); err != nil {
		return err
	}
	m, err := a.RedeliverWebhookMessage(r.Context(), r.PathValue("id"), r.PathValue("msg"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusAccepted, messageOut(m))
}

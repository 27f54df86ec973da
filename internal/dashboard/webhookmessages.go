package dashboard

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/manage"
)

// webhookMessagePage is one message of a webhook: its body as sent and every attempt with what
// the receiver answered.
type webhookMessagePage struct {
	projectBase
	Webhook  *keyward.Webhook
	Message  *keyward.WebhookMessage
	Body     string // pretty JSON; "" when withheld
	Attempts []*keyward.WebhookAttempt
	Back     string // the webhook's page
	Self     string
}

// prettyJSON indents a message body for reading; a body that is not JSON (it always is) is
// shown as it is.
func prettyJSON(body []byte) string {
	var buf bytes.Buffer
	if err := json.Indent(&buf, body, "", "  "); err != nil {
		return string(body)
	}
	return buf.String()
}

func (s *Server) webhookMessage(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access) error {
	h, err := a.Webhook(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	m, attempts, err := a.WebhookMessage(r.Context(), h.ID, r.PathValue("msg"))
	if err != nil {
		return err
	}
	back := webhookURL(a.Project, h.ID)
	page := &webhookMessagePage{projectBase: s.base(v, a, "webhooks", "Message "+m.ID), Webhook: h, Message: m, Attempts: attempts,
		Back: back, Self: back + "/messages/" + url.PathEscape(m.ID)}
	if r.URL.Query().Has("redelivered") {
		page.Notice = "The message will be sent again shortly, with the same id, and retried for another 24 hours."
	}
	if m.Body != nil {
		page.Body = prettyJSON(m.Body)
	}
	s.render(w, r, http.StatusOK, "webhook-message", page)
	return nil
}

// redeliverWebhookMessage queues a message again, with its id and body, for another retry
// window; the receiver de-duplicates by the id, so a message it had is not acted on twice.
func (s *Server) redeliverWebhookMessage(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access) error {
	if _, err := parseForm(r); err != nil {
		return err
	}
	m, err := a.RedeliverWebhookMessage(r.Context(), r.PathValue("id"), r.PathValue("msg"))
	if err != nil {
		return err
	}
	http.Redirect(w, r, webhookURL(a.Project, m.WebhookID)+"/messages/"+url.PathEscape(m.ID)+"?redelivered", http.StatusSeeOther)
	return nil
}

// duration shows an attempt's duration in milliseconds, as people read response times.
func duration(d time.Duration) string { return d.Round(time.Millisecond).String() }

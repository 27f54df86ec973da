package dashboard

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/manage"
	"github.com/keyward/keyward/internal/web"
)

// webhookGraces are the grace periods the secret's Roll form offers, within
// manage.MaxWebhookGrace (which manage checks); the default is manage.DefaultWebhookGrace.
var webhookGraces = []rollGrace{
	{Value: "0s", Label: "None: the current secret stops at once"},
	{Value: "1h", Label: "1 hour"},
	{Value: "24h", Label: "24 hours", Default: true},
	{Value: "72h", Label: "72 hours"},
}

// webhooksPage lists the project's webhooks, with the form that adds one.
type webhooksPage struct {
	projectBase
	Webhooks []webhookRow
	Form     webhookForm
}

// webhookRow is a webhook as listed, with its owner's name and its page.
type webhookRow struct {
	*keyward.Webhook
	Owner string
	Page  string
}

// webhookForm is the form that creates or edits a webhook, as typed.
type webhookForm struct {
	URL    string
	Events []eventChoice
	// MemberNote is shown when the person may not subscribe to member events: they need
	// members-view.
	MemberNote bool
	// Dropping is set on an edit of a webhook that has member events the person may not keep:
	// saving drops them.
	Dropping bool
	Errors   map[string]string
}

// eventChoice is one event's checkbox.
type eventChoice struct {
	Name     string
	Checked  bool
	Disabled bool // a member event, for someone who may not see the members
}

// newWebhookForm offers every event, with checked ticked; member events are disabled for those
// without members-view, as manage would refuse them.
func newWebhookForm(a *manage.Access, u string, checked []string) webhookForm {
	f := webhookForm{URL: u, Errors: map[string]string{}}
	blind := !a.Has(manage.PermMembersView)
	for _, e := range keyward.WebhookEvents() {
		off := blind && keyward.IsMemberEvent(e)
		f.Events = append(f.Events, eventChoice{Name: e, Checked: slices.Contains(checked, e), Disabled: off})
		if off {
			f.MemberNote = true
			f.Dropping = f.Dropping || slices.Contains(checked, e)
		}
	}
	return f
}

func webhooksURL(p *keyward.Project, rest string) string { return projectURL(p, "webhooks") + rest }

func webhookURL(p *keyward.Project, id string) string {
	return webhooksURL(p, "/"+url.PathEscape(id))
}

func (s *Server) webhooks(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access) error {
	page := &webhooksPage{Form: newWebhookForm(a, "", nil)}
	if r.URL.Query().Has("deleted") {
		page.Notice = "The webhook was deleted, with its deliveries."
	}
	return s.showWebhooks(w, r, v, a, http.StatusOK, page)
}

func (s *Server) showWebhooks(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access, status int, page *webhooksPage) error {
	notice := page.Notice // the caller's, kept over the base
	page.projectBase = s.base(v, a, "webhooks", "Webhooks")
	page.Notice = notice
	list, err := a.Webhooks(r.Context())
	if err != nil {
		return err
	}
	names := &subjectNames{store: s.Store, cache: map[string]string{}}
	for _, h := range list {
		page.Webhooks = append(page.Webhooks, webhookRow{Webhook: h, Owner: names.name(r.Context(), "user:"+h.Owner), Page: webhookURL(a.Project, h.ID)})
	}
	s.render(w, r, status, "webhooks", page)
	return nil
}

// createWebhook adds a webhook and redirects (POST-redirect-GET) to the page that shows its
// signing secret once, carried in the sealed flash as a new key's secret is.
func (s *Server) createWebhook(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access) error {
	f, err := parseForm(r)
	if err != nil {
		return err
	}
	in := manage.WebhookInput{URL: f.get("url"), Events: f.list("events")}
	h, secret, err := a.CreateWebhook(r.Context(), in)
	if err != nil {
		page := &webhooksPage{Form: newWebhookForm(a, in.URL, in.Events)}
		if !fieldErrors(err, page.Form.Errors) {
			return err
		}
		return s.showWebhooks(w, r, v, a, web.Status(err), page)
	}
	if err := s.setFlash(r.Context(), v, &flash{ProjectID: a.Project.ID, Webhook: &webhookFlash{ID: h.ID, URL: h.URL, Secret: secret}}); err != nil {
		return err
	}
	http.Redirect(w, r, webhooksURL(a.Project, "/secret"), http.StatusSeeOther)
	return nil
}

// webhookSecretPage shows a webhook's new signing secret, once.
type webhookSecretPage struct {
	projectBase
	Shown    *webhookFlash // nil once shown
	Previous *time.Time    // after a roll: the previous secret signs too until then
	ListURL  string
	PageURL  string
}

func (s *Server) webhookSecret(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access) error {
	if err := a.Require(manage.PermKeysManage); err != nil {
		return err
	}
	f, err := s.takeFlash(r.Context(), v, a.Project.ID)
	if err != nil {
		return err
	}
	page := &webhookSecretPage{projectBase: s.base(v, a, "webhooks", "Webhook signing secret"), ListURL: webhooksURL(a.Project, "")}
	if f != nil && f.Webhook != nil {
		page.Shown = f.Webhook
		page.PageURL = webhookURL(a.Project, f.Webhook.ID)
		if p := f.Webhook.PreviousUntil; p != nil && p.After(f.At) {
			page.Previous = p
		}
	} else {
		page.Title = "Webhook signing secret already shown"
	}
	s.render(w, r, http.StatusOK, "webhook-secret", page)
	return nil
}

// webhookPage is one webhook: its settings, the forms that change it, and its deliveries.
type webhookPage struct {
	projectBase
	Webhook  *keyward.Webhook
	Owner    string
	Form     webhookForm
	Graces   []rollGrace
	Errors   map[string]string // of the roll form
	Messages []*keyward.WebhookMessage
	Now      time.Time
	Self     string
	First    string // the first page of deliveries, when this is not it
	Next     string // the next page of deliveries
}

// MessageURL is m's page.
func (p *webhookPage) MessageURL(m *keyward.WebhookMessage) string {
	return p.Self + "/messages/" + url.PathEscape(m.ID)
}

// PreviousSigns reports whether the webhook's previous secret still signs.
func (p *webhookPage) PreviousSigns() bool {
	e := p.Webhook.PreviousExpiresAt
	return len(p.Webhook.PreviousSecret) > 0 && e != nil && e.After(p.Now)
}

// webhookPage reads the webhook the path names and its deliveries' page; the form is filled in
// with the webhook's settings.
func (s *Server) webhookPage(r *http.Request, v *visit, a *manage.Access) (*webhookPage, error) {
	h, err := a.Webhook(r.Context(), r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	page := &webhookPage{projectBase: s.base(v, a, "webhooks", "Webhook"), Webhook: h, Form: newWebhookForm(a, h.URL, h.Events),
		Graces: webhookGraces, Errors: map[string]string{}, Now: s.Now(), Self: webhookURL(a.Project, h.ID)}
	names := &subjectNames{store: s.Store, cache: map[string]string{}}
	page.Owner = names.name(r.Context(), "user:"+h.Owner)
	q := r.URL.Query()
	p := keyward.Page{Limit: manage.PageDefaultLimit, Search: q.Get("q"), Cursor: q.Get("cursor")}
	msgs, next, err := a.WebhookMessages(r.Context(), h.ID, p)
	if err != nil {
		return nil, err
	}
	page.Messages = msgs
	page.First, page.Next = pageLinks(page.Self, p, next)
	return page, nil
}

func (s *Server) showWebhook(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access) error {
	page, err := s.webhookPage(r, v, a)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	switch {
	case q.Has("saved"):
		page.Notice = "The webhook was saved."
	case q.Has("test-sent"):
		page.Notice = "A webhook.test event was queued; it is listed below once sent."
	}
	s.render(w, r, http.StatusOK, "webhook", page)
	return nil
}

// updateWebhook saves the edit form: its URL and events, as ticked. A member event the person
// may not see is not offered, so saving drops it (the webhook then acts for them, and could not
// deliver it anyway).
func (s *Server) updateWebhook(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access) error {
	f, err := parseForm(r)
	if err != nil {
		return err
	}
	u, events := f.get("url"), f.list("events")
	_, err = a.UpdateWebhook(r.Context(), r.PathValue("id"), manage.WebhookChange{URL: &u, Events: &events})
	if err != nil {
		page, perr := s.webhookPage(r, v, a)
		if perr != nil {
			return perr
		}
		page.Form = newWebhookForm(a, u, events)
		if !fieldErrors(err, page.Form.Errors) {
			return err
		}
		s.render(w, r, web.Status(err), "webhook", page)
		return nil
	}
	http.Redirect(w, r, webhookURL(a.Project, r.PathValue("id"))+"?saved", http.StatusSeeOther)
	return nil
}

// rollWebhookSecret gives the webhook a new signing secret, shown once on the next page; the
// previous one signs too for the grace chosen, so that receivers can switch without refusing a
// message.
func (s *Server) rollWebhookSecret(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access) error {
	f, err := parseForm(r)
	if err != nil {
		return err
	}
	grace, gerr := time.ParseDuration(f.get("grace"))
	var h *keyward.Webhook
	var secret string
	if gerr != nil {
		err = &manage.FieldError{Field: "grace", Code: keyward.EINVALID, Message: "Choose how long the current secret keeps signing."}
	} else {
		h, secret, err = a.RollWebhookSecret(r.Context(), r.PathValue("id"), grace)
	}
	if err != nil {
		page, perr := s.webhookPage(r, v, a)
		if perr != nil {
			return perr
		}
		// A roll re-checks the webhook's URL and events (the flag that admitted a private
		// address may be off now): those errors go where they are mended, on the edit form.
		errs := page.Form.Errors
		if fe := (*manage.FieldError)(nil); errors.As(err, &fe) && fe.Field == "grace" {
			errs = page.Errors
		}
		if !fieldErrors(err, errs) {
			return err
		}
		s.render(w, r, web.Status(err), "webhook", page)
		return nil
	}
	shown := &webhookFlash{ID: h.ID, URL: h.URL, Secret: secret, Rolled: true, PreviousUntil: h.PreviousExpiresAt}
	if err := s.setFlash(r.Context(), v, &flash{ProjectID: a.Project.ID, Webhook: shown}); err != nil {
		return err
	}
	http.Redirect(w, r, webhooksURL(a.Project, "/secret"), http.StatusSeeOther)
	return nil
}

// testWebhook queues a webhook.test event for the webhook alone.
func (s *Server) testWebhook(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access) error {
	if _, err := parseForm(r); err != nil {
		return err
	}
	if _, err := a.TestWebhook(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	http.Redirect(w, r, webhookURL(a.Project, r.PathValue("id"))+"?test-sent", http.StatusSeeOther)
	return nil
}

// confirmDeleteWebhook asks before a webhook goes, with its deliveries.
func (s *Server) confirmDeleteWebhook(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access) error {
	h, err := a.Webhook(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	self := webhookURL(a.Project, h.ID)
	s.render(w, r, http.StatusOK, "confirm", &confirmPage{
		projectBase: s.base(v, a, "webhooks", "Delete webhook"),
		Heading:     "Delete the webhook to " + h.URL + "?",
		Text:        webhookDeleteText,
		Action:      self + "/delete",
		Button:      "Delete webhook", Cancel: self,
	})
	return nil
}

// webhookDeleteText is what deleting a webhook does, for the confirmation page and dialog.
const webhookDeleteText = "Its messages not yet delivered are never sent, and its delivery history is deleted. This cannot be undone."

func (s *Server) deleteWebhook(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access) error {
	if _, err := parseForm(r); err != nil {
		return err
	}
	if err := a.DeleteWebhook(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	http.Redirect(w, r, webhooksURL(a.Project, "?deleted"), http.StatusSeeOther)
	return nil
}

// DeleteText is what deleting the webhook does, for the confirmation dialog.
func (p *webhookPage) DeleteText() string { return webhookDeleteText }

// DeleteText is what deleting a webhook does, for the list's confirmation dialogs.
func (p *webhooksPage) DeleteText() string { return webhookDeleteText }

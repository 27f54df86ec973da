package dashboard

import (
	"net/http"
	"net/url"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/manage"
)

// keyAuditShown is how many of the key's newest events its page shows; the audit log, searched
// for the key, has the rest.
const keyAuditShown = 25

// rollGraces are the grace periods the Roll form offers, as manage.RollKey takes them (it checks
// the range); the one marked Default is chosen until the person picks another.
var rollGraces = []rollGrace{
	{Value: "0s", Label: "None: the current secret stops at once"},
	{Value: "5m", Label: "5 minutes"},
	{Value: "1h", Label: "1 hour", Default: true},
	{Value: "24h", Label: "24 hours"},
}

type rollGrace struct {
	Value, Label string
	Default      bool
}

type keyPage struct {
	projectBase
	Key      *keyward.APIKey
	Owner    string // the owner's email address, or their id when the account is gone
	Expired  bool
	Sessions int // live sessions at the time the page was made
	Events   []auditRow
	More     bool // whether the key has older events than the page shows
	Graces   []rollGrace
	KeysURL  string
	EditURL  string
	Delete   string
	RollURL  string
	AuditURL string // the audit log searched for the key
	Self     string // the key's page; Disable and Enable post below it
}

// DisableText is what disabling the key does, for its confirmation page and dialog.
func (p *keyPage) DisableText() string { return keyDisableText }

const keyDisableText = "Its tokens stop working at once and it can no longer be exchanged, until a member enables it again. " +
	"Its settings and secret stay as they are."

// keyPage shows one key: its settings, owner, last use and live sessions, the Roll, Edit and
// Delete buttons for those who may use them, and the newest audit events about it (its target or
// actor).
func (s *Server) keyPage(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access) error {
	k, err := a.Key(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	keys := projectURL(a.Project, "api-keys")
	self := keyURL(a.Project, k.ID)
	subject := "key:" + k.ID
	page := &keyPage{
		projectBase: s.base(v, a, "api-keys", "API key "+k.Name), Key: k, Expired: k.Expired(s.Now()), Graces: rollGraces,
		KeysURL: keys, EditURL: self + "/edit", Delete: self + "/delete", RollURL: self + "/roll", Self: self,
		AuditURL: projectURL(a.Project, "audit") + "?" + url.Values{"q": {subject}}.Encode(),
	}
	switch q := r.URL.Query(); {
	case q.Has("disabled"):
		page.Notice = "The key was disabled: its tokens were revoked, and it no longer exchanges."
	case q.Has("enabled"):
		page.Notice = "The key was enabled: it exchanges again."
	}
	if page.Sessions, err = a.KeySessions(r.Context(), k.ID); err != nil {
		return err
	}
	names := &subjectNames{store: s.Store, cache: map[string]string{}}
	page.Owner = names.name(r.Context(), "user:"+k.Owner)
	if a.Has(manage.PermAuditView) {
		events, next, err := a.Audit(r.Context(), keyward.Page{Limit: keyAuditShown, Search: subject})
		if err != nil {
			return err
		}
		page.More = next != ""
		if page.Events, err = s.auditRows(r.Context(), a, events); err != nil {
			return err
		}
	}
	s.render(w, r, http.StatusOK, "key", page)
	return nil
}

// AuditTable is the key's audit trail: events about the key, and those the key did, whose target
// may be something else.
func (p *keyPage) AuditTable() auditTable { return auditTable{Rows: p.Events, WithTarget: true} }

// rollKey gives the key a new secret and redirects (POST-redirect-GET) to the page that shows it
// once, as creation does; the previous secret keeps exchanging for the grace chosen.
func (s *Server) rollKey(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access) error {
	f, err := parseForm(r)
	if err != nil {
		return err
	}
	grace, err := time.ParseDuration(f.get("grace"))
	if err != nil {
		return keyward.Errorf(keyward.EINVALID, "Choose how long the current secret keeps working.")
	}
	k, secret, err := a.RollKey(r.Context(), r.PathValue("id"), grace)
	if err != nil {
		return err
	}
	rolled := &createdFlash{ID: k.ID, Name: k.Name, IPs: k.IPs, Permissions: k.Permissions, ExpiresAt: k.ExpiresAt, Secret: secret,
		Rolled: true, PreviousUntil: k.PreviousExpiresAt}
	if err := s.setFlash(r.Context(), v, &flash{ProjectID: a.Project.ID, Created: rolled}); err != nil {
		return err
	}
	http.Redirect(w, r, projectURL(a.Project, "api-keys")+"/created", http.StatusSeeOther)
	return nil
}

// confirmDisableKey asks before a key stops working; with script the key page asks in a
// dialog that posts to the same address.
func (s *Server) confirmDisableKey(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access) error {
	if err := a.Require(manage.PermKeysManage); err != nil {
		return err
	}
	k, err := a.Key(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	self := keyURL(a.Project, k.ID)
	s.render(w, r, http.StatusOK, "confirm", &confirmPage{
		projectBase: s.base(v, a, "api-keys", "Disable API key"),
		Heading:     "Disable API key “" + k.Name + "”?",
		Text:        keyDisableText,
		Action:      self + "/disable",
		Button:      "Disable API key", Cancel: self,
	})
	return nil
}

// setKeyDisabled disables a key (reason "member") or enables one a member disabled, through the
// rule the API's PATCH applies; a key disabled for another reason is refused with what enables
// it (a roll, a transfer) as an error page.
func (s *Server) setKeyDisabled(disabled bool) projectFunc {
	return func(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access) error {
		if _, err := parseForm(r); err != nil {
			return err
		}
		k, err := a.UpdateKey(r.Context(), r.PathValue("id"), manage.KeyChange{Disabled: &disabled})
		if err != nil {
			return err // a *manage.FieldError's message says what enables the key
		}
		done := "?enabled"
		if disabled {
			done = "?disabled"
		}
		http.Redirect(w, r, keyURL(a.Project, k.ID)+done, http.StatusSeeOther)
		return nil
	}
}

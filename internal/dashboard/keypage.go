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
}

// keyPage shows one key: its settings, owner, last use and live sessions, the Roll, Edit and
// Delete buttons for those who may use them, and the newest audit events about it (its target or
// actor).
func (s *Server) keyPage(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access) error {
	k, err := a.Key(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	keys := projectURL(a.Project, "api-keys")
	self := keys + "/" + url.PathEscape(k.ID)
	subject := "key:" + k.ID
	page := &keyPage{
		projectBase: s.base(v, a, "api-keys", "API key "+k.Name), Key: k, Expired: k.Expired(s.Now()), Graces: rollGraces,
		KeysURL: keys, EditURL: self + "/edit", Delete: self + "/delete", RollURL: self + "/roll",
		AuditURL: projectURL(a.Project, "audit") + "?" + url.Values{"q": {subject}}.Encode(),
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

package dashboard

import (
	"net/http"
	"net/url"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/manage"
)

// The key page's audit trail is picked from the project's newest events: keyAuditScan of them
// at most, read in pages of manage.AuditMaxLimit, of which it shows keyAuditShown.
const (
	keyAuditScan  = 1000
	keyAuditShown = 25
)

type keyPage struct {
	projectBase
	Key      *keyward.APIKey
	Owner    string // the owner's email address, or their id when the account is gone
	Expired  bool
	Events   []auditRow
	Scanned  int  // how many of the project's newest events the trail was picked from
	More     bool // whether the trail was cut at keyAuditShown or the scan stopped short
	KeysURL  string
	EditURL  string
	Delete   string
	AuditURL string
}

// keyPage shows one key: its settings, owner and last use, and the audit events that name it
// as their target.
func (s *Server) keyPage(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access) error {
	k, err := a.Key(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	keys := projectURL(a.Project, "api-keys")
	self := keys + "/" + url.PathEscape(k.ID)
	page := &keyPage{
		projectBase: s.base(v, a, "api-keys", "API key "+k.Name), Key: k, Expired: k.Expired(s.Now()),
		KeysURL: keys, EditURL: self + "/edit", Delete: self + "/delete", AuditURL: projectURL(a.Project, "audit"),
	}
	names := &subjectNames{store: s.Store, cache: map[string]string{}}
	page.Owner = names.name(r.Context(), "user:"+k.Owner)
	if a.Has(manage.PermAuditView) {
		var mine []*keyward.AuditEvent
		var before int64
		for page.Scanned < keyAuditScan {
			events, next, err := a.Audit(r.Context(), before, manage.AuditMaxLimit)
			if err != nil {
				return err
			}
			page.Scanned += len(events)
			for _, e := range events {
				if e.Target == "key:"+k.ID {
					mine = append(mine, e)
				}
			}
			if next == 0 {
				break
			}
			before = next
			page.More = page.Scanned >= keyAuditScan
		}
		if len(mine) > keyAuditShown {
			mine, page.More = mine[:keyAuditShown], true
		}
		if page.Events, err = s.auditRows(r.Context(), a, mine); err != nil {
			return err
		}
	}
	s.render(w, r, http.StatusOK, "key", page)
	return nil
}

// AuditTable is the key's audit trail; every event's target is the key itself.
func (p *keyPage) AuditTable() auditTable { return auditTable{Rows: p.Events} }

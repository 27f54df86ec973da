package dashboard

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/manage"
)

// auditPageSize is the number of events on one page of the audit tab.
const auditPageSize = 25

type auditPage struct {
	projectBase
	Events []auditRow
	Search string // the search box's text
	Older  string // the next page's URL, "" on the last page
	Newest string // the first page's URL (of the same search), "" on the first page
}

type auditRow struct {
	Event  *keyward.AuditEvent
	Who    string // an email address, "API key <id>", or "—"
	What   string // the action in words
	Target string
}

// auditTable is what the audit-table template shows: events, with their targets when they are
// not all the same one.
type auditTable struct {
	Rows       []auditRow
	WithTarget bool
}

// AuditTable is the project's audit log, each event with its target.
func (p *auditPage) AuditTable() auditTable { return auditTable{Rows: p.Events, WithTarget: true} }

// actions names audit actions for people.
var actions = map[string]string{
	keyward.AuditLogin:             "Signed in",
	keyward.AuditLoginFailed:       "Failed sign-in",
	keyward.AuditKeyCreated:        "Created API key",
	keyward.AuditKeyDeleted:        "Deleted API key",
	keyward.AuditKeyUpdated:        "Edited API key",
	keyward.AuditKeyRolled:         "Rolled API key",
	keyward.AuditKeyLeaked:         "Disabled leaked API key",
	keyward.AuditExchangeFailed:    "Failed key exchange",
	keyward.AuditRefreshReused:     "Refresh token reused; session revoked",
	keyward.AuditSessionRevoked:    "Revoked session",
	keyward.AuditProjectCreated:    "Created project",
	keyward.AuditMemberChanged:     "Set member permissions",
	keyward.AuditMemberRemoved:     "Removed member",
	keyward.AuditUserCreated:       "Created user",
	keyward.AuditInviteCreated:     "Invited",
	keyward.AuditInviteAccepted:    "Accepted invitation",
	keyward.AuditInviteRevoked:     "Revoked invitation",
	keyward.AuditSigningRotation:   "Rotated signing key",
	keyward.AuditKeyDisabled:       "Disabled API key",
	manage.AuditWebhookCreated:     "Created webhook",
	manage.AuditWebhookUpdated:     "Edited webhook",
	manage.AuditWebhookDeleted:     "Deleted webhook",
	manage.AuditWebhookSecretKeyed: "Rolled webhook signing secret",
	manage.AuditWebhookRedelivered: "Redelivered webhook message",
}

func (s *Server) audit(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access) error {
	page := &auditPage{projectBase: s.base(v, a, "audit", "Audit log")}
	if !a.Has(manage.PermAuditView) {
		s.render(w, r, http.StatusForbidden, "audit", page)
		return nil
	}
	query := r.URL.Query()
	p := keyward.Page{Limit: auditPageSize, Search: query.Get("q"), Cursor: query.Get("cursor")}
	if p.Cursor == "" {
		p.Cursor = query.Get("before") // the links of earlier releases, an event id
	}
	events, next, err := a.Audit(r.Context(), p)
	if err != nil {
		return err
	}
	page.Search = p.Search
	page.Newest, page.Older = pageLinks(projectURL(a.Project, "audit"), p, next)
	rows, err := s.auditRows(r.Context(), a, events)
	if err != nil {
		return err
	}
	page.Events = rows
	s.render(w, r, http.StatusOK, "audit", page)
	return nil
}

// auditRows puts events in words, naming people and keys (those of a's project; a is nil for the
// instance's log).
func (s *Server) auditRows(ctx context.Context, a *manage.Access, events []*keyward.AuditEvent) ([]auditRow, error) {
	names := &subjectNames{store: s.Store, cache: map[string]string{}, keys: map[string]string{}}
	if a != nil && a.Has(manage.PermKeysView) { // nil: the instance's log, of no project
		keys, err := a.Keys(ctx)
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			names.keys[k.ID] = k.Name
		}
	}
	for _, e := range events {
		names.learnKey(e)
	}
	var rows []auditRow
	for _, e := range events {
		what, ok := actions[e.Action]
		if !ok {
			what = e.Action
		}
		if e.Detail != "" {
			what += " (" + e.Detail + ")"
		}
		rows = append(rows, auditRow{
			Event: e, What: what, Who: names.name(ctx, e.Actor), Target: names.name(ctx, e.Target),
		})
	}
	return rows, nil
}

// subjectNames shows "user:<id>" as the user's email address and "key:<id>" as the key's name
// and id, reading each user once per page. Key names come from the project's keys (for a person
// who may list them) and from the creations and deletions on the page, which name their key: a
// key of another project is never named.
type subjectNames struct {
	store interface {
		UserByID(ctx context.Context, id string) (*keyward.User, error)
	}
	cache map[string]string
	keys  map[string]string // key id → name
}

// learnKey remembers the name a key's creation, deletion or renaming event records, unless the key
// is known already.
func (n *subjectNames) learnKey(e *keyward.AuditEvent) {
	if e.Action != keyward.AuditKeyCreated && e.Action != keyward.AuditKeyDeleted && e.Action != keyward.AuditKeyUpdated {
		return
	}
	id, ok := strings.CutPrefix(e.Target, "key:")
	if _, known := n.keys[id]; !ok || known {
		return
	}
	rest, ok := strings.CutPrefix(e.Detail, "name=")
	if !ok {
		return
	}
	quoted, err := strconv.QuotedPrefix(rest)
	if err != nil {
		return
	}
	if name, err := strconv.Unquote(quoted); err == nil {
		n.keys[id] = name
	}
}

func (n *subjectNames) name(ctx context.Context, subject string) string {
	kind, id, ok := strings.Cut(subject, ":")
	switch {
	case subject == "":
		return "—"
	case !ok:
		return subject
	case kind == "key":
		if name, ok := n.keys[id]; ok {
			return "API key " + name + " (" + id + ")"
		}
		return "API key " + id
	case kind == "project":
		return "this project"
	case kind != "user":
		return subject
	}
	if name, ok := n.cache[id]; ok {
		return name
	}
	name := id // a deleted user, or a database hiccup: the id still says who
	if u, err := n.store.UserByID(ctx, id); err == nil {
		name = u.Email
	}
	n.cache[id] = name
	return name
}

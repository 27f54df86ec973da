package dashboard

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/clientip"
	"github.com/keyward/keyward/internal/manage"
	"github.com/keyward/keyward/internal/web"
)

type keysPage struct {
	projectBase
	Keys   []*keyward.APIKey
	Now    time.Time
	Search string // the search box's text
	Next   string // the next page's URL, "" on the last page
	First  string // the first page's URL (of the same search), "" on the first page
}

// Expired reports whether k no longer exchanges because of its expiry.
func (p *keysPage) Expired(k *keyward.APIKey) bool { return k.Expired(p.Now) }

// keyURL is the page of key id of project p.
func keyURL(p *keyward.Project, id string) string {
	return projectURL(p, "api-keys") + "/" + url.PathEscape(id)
}

// KeyURL is k's own page.
func (p *keysPage) KeyURL(k *keyward.APIKey) string { return keyURL(p.Project(), k.ID) }

// EditURL is where the form that edits k lives (and where it is posted).
func (p *keysPage) EditURL(k *keyward.APIKey) string {
	return keyURL(p.Project(), k.ID) + "/edit"
}

// DeleteURL is where the confirmation of deleting k lives (and where it is posted).
func (p *keysPage) DeleteURL(k *keyward.APIKey) string {
	return keyURL(p.Project(), k.ID) + "/delete"
}

func (s *Server) listKeys(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access) error {
	page := &keysPage{projectBase: s.base(v, a, "api-keys", "API Keys"), Now: s.Now()}
	f, err := s.takeFlash(r.Context(), v, a.Project.ID)
	if err != nil {
		return err
	}
	switch {
	case f != nil && f.Deleted != nil:
		page.Notice = fmt.Sprintf("Deleted API key %s (%s). Tokens issued to it stop working at once.", f.Deleted.Name, f.Deleted.ID)
	case f != nil && f.Updated != nil && f.Updated.Narrowed:
		page.Notice = fmt.Sprintf("Updated API key %s (%s). Its tokens were revoked: programs using it exchange it again and get the new rights.", f.Updated.Name, f.Updated.ID)
	case f != nil && f.Updated != nil:
		page.Notice = fmt.Sprintf("Updated API key %s (%s). The change applies from its next exchange.", f.Updated.Name, f.Updated.ID)
	}
	if a.Has(manage.PermKeysView) {
		p := keyward.Page{Limit: manage.PageDefaultLimit, Search: r.URL.Query().Get("q"), Cursor: r.URL.Query().Get("cursor")}
		keys, next, err := a.KeyPage(r.Context(), p)
		if err != nil {
			return err
		}
		page.Keys, page.Search = keys, p.Search
		page.First, page.Next = pageLinks(projectURL(page.Project(), "api-keys"), p, next)
	}
	s.render(w, r, http.StatusOK, "keys", page)
	return nil
}

// pageLinks returns the URLs of the first page of the list at self with p's search, when p is
// not that page, and of the page after p, when there is one.
func pageLinks(self string, p keyward.Page, next string) (first, after string) {
	q := url.Values{}
	if p.Search != "" {
		q.Set("q", p.Search)
	}
	if p.Cursor != "" {
		first = self
		if len(q) > 0 {
			first += "?" + q.Encode()
		}
	}
	if next != "" {
		q.Set("cursor", next)
		after = self + "?" + q.Encode()
	}
	return first, after
}

type keyFormPage struct {
	projectBase
	Heading, Intro, Action, Submit string // what the form says and where it posts: creation or edit
	Editing                        bool
	Name, IPs, Expires             string
	roleField
	Groups   []permGroup
	Withheld int // catalog permissions not offered, because the person does not hold them
	Errors   map[string]string
	MinDate  string // the earliest expiry the date picker offers
	keyPolicyHints
}

func (s *Server) keyForm(v *visit, a *manage.Access) *keyFormPage {
	offer := a.Grantable()
	return &keyFormPage{
		projectBase:    s.base(v, a, "api-keys", "Create API Key"),
		Heading:        "Create API Key",
		Intro:          "The key is shown once, right after you create it. Give it only what the program using it needs.",
		Action:         projectURL(a.Project, "api-keys"),
		Submit:         "Create API Key",
		Groups:         choices(offer, nil),
		Withheld:       len(s.Catalog.Names()) - len(offer),
		Errors:         map[string]string{},
		MinDate:        s.Now().UTC().AddDate(0, 0, 1).Format(time.DateOnly),
		keyPolicyHints: policyHints(a.Project),
	}
}

func (s *Server) newKey(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access) error {
	if err := a.Require(manage.PermKeysManage); err != nil {
		return err
	}
	page := s.keyForm(v, a)
	var err error
	if page.roleField, err = s.roleField(r.Context(), a, nil, ""); err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "key-form", page)
	return nil
}

type keyCreatedPage struct {
	projectBase
	Key      *keyward.APIKey // nil once the key has been shown
	Secret   string
	TokenURL string
	Rolled   bool       // the key was rolled, not created
	Previous *time.Time // a rolled key's previous secret works until then; nil: it stopped at the roll
}

// createKey creates the key and redirects (POST-redirect-GET) to the page that shows its secret
// once, so that reloading that page never sends the form again. The secret travels in the web
// session's sealed flash, never in a URL, so it is in no history, log or Referer. Invalid input
// comes back as the form with what was typed and the message next to its field.
func (s *Server) createKey(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access) error {
	if err := a.Require(manage.PermKeysManage); err != nil {
		return err
	}
	f, err := parseForm(r)
	if err != nil {
		return err
	}
	page := s.keyForm(v, a)
	page.Name, page.IPs, page.Expires = f.get("name"), f.get("ips"), strings.TrimSpace(f.get("expires"))
	perms := f.list("permissions")
	page.Groups = choices(a.Grantable(), perms)
	if page.roleField, err = s.roleField(r.Context(), a, nil, f.get("role")); err != nil {
		return err
	}
	in := manage.KeyInput{Name: page.Name, IPs: splitNetworks(page.IPs), Permissions: perms, Role: page.Role}
	if page.Expires != "" {
		day, err := time.Parse(time.DateOnly, page.Expires)
		if err != nil {
			page.Errors["expires_at"] = "Enter a date such as 2031-01-31."
			s.render(w, r, http.StatusBadRequest, "key-form", page)
			return nil
		}
		in.ExpiresAt = &day
	}
	k, secret, err := a.CreateKey(r.Context(), in)
	if err != nil {
		if !fieldErrors(err, page.Errors) {
			return err
		}
		s.render(w, r, web.Status(err), "key-form", page)
		return nil
	}
	created := &createdFlash{ID: k.ID, Name: k.Name, IPs: k.IPs, Permissions: k.Permissions, ExpiresAt: k.ExpiresAt, Secret: secret}
	if err := s.setFlash(r.Context(), v, &flash{ProjectID: a.Project.ID, Created: created}); err != nil {
		return err
	}
	http.Redirect(w, r, projectURL(a.Project, "api-keys")+"/created", http.StatusSeeOther)
	return nil
}

// keyCreated shows the key just created or rolled, once: a reload finds the flash gone and says
// so.
func (s *Server) keyCreated(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access) error {
	f, err := s.takeFlash(r.Context(), v, a.Project.ID)
	if err != nil {
		return err
	}
	page := &keyCreatedPage{projectBase: s.base(v, a, "api-keys", "API key created"), TokenURL: s.tokenURL()}
	if f != nil && f.Created != nil {
		c := f.Created
		page.Key = &keyward.APIKey{ID: c.ID, ProjectID: a.Project.ID, Name: c.Name, IPs: c.IPs, Permissions: c.Permissions, ExpiresAt: c.ExpiresAt}
		page.Secret = c.Secret
		if c.Rolled {
			page.Rolled, page.Title = true, "API key rolled"
			if c.PreviousUntil != nil && c.PreviousUntil.After(f.At) {
				page.Previous = c.PreviousUntil
			}
		}
	} else {
		page.Title = "API key already shown"
	}
	s.render(w, r, http.StatusOK, "key-created", page)
	return nil
}

// editKeyForm is the creation form turned to editing k: filled in with k's settings, and offering
// k's permissions and role the person does not hold too, so that saving without touching them
// keeps them. checked and role (an id) are what the form shows chosen.
func (s *Server) editKeyForm(r *http.Request, v *visit, a *manage.Access, k *keyward.APIKey, checked []string, role string) (*keyFormPage, error) {
	page := s.keyForm(v, a)
	var err error
	if page.roleField, err = s.roleField(r.Context(), a, k.Role, role); err != nil {
		return nil, err
	}
	page.Title, page.Heading, page.Submit, page.Editing = "Edit API key", "Edit API key “"+k.Name+"”", "Save changes", true
	page.Intro = "The key and its secret stay the same. Taking something away from it (a permission, an address, " +
		"an earlier expiry) revokes its tokens at once; programs using it exchange it again."
	page.Action = keyURL(a.Project, k.ID) + "/edit"
	var offer []keyward.Permission
	for _, p := range s.Catalog.All() {
		if a.Has(p.Name) || slices.Contains(k.Permissions, p.Name) {
			offer = append(offer, p)
		}
	}
	page.Groups = choices(offer, checked)
	page.Withheld = len(s.Catalog.Names()) - len(offer)
	return page, nil
}

func (s *Server) editKey(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access) error {
	if err := a.Require(manage.PermKeysManage); err != nil {
		return err
	}
	k, err := a.Key(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	page, err := s.editKeyForm(r, v, a, k, k.Permissions, k.RoleID)
	if err != nil {
		return err
	}
	page.Name, page.IPs, page.Expires = k.Name, strings.Join(clientip.FormatNetworks(k.IPs), ", "), expiryDay(k.ExpiresAt)
	s.render(w, r, http.StatusOK, "key-form", page)
	return nil
}

// expiryDay is an expiry as the form's date field shows it; "" for none.
func expiryDay(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.DateOnly)
}

// updateKey applies what the form changed, and only that: a field left as it was is not sent,
// so that saving a form never trips over a setting the person did not touch.
func (s *Server) updateKey(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access) error {
	if err := a.Require(manage.PermKeysManage); err != nil {
		return err
	}
	f, err := parseForm(r)
	if err != nil {
		return err
	}
	k, err := a.Key(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	perms := f.list("permissions")
	page, err := s.editKeyForm(r, v, a, k, perms, f.get("role"))
	if err != nil {
		return err
	}
	page.Name, page.IPs, page.Expires = f.get("name"), f.get("ips"), strings.TrimSpace(f.get("expires"))
	var in manage.KeyChange
	if page.Name != k.Name {
		in.Name = &page.Name
	}
	ips := splitNetworks(page.IPs)
	if parsed, err := clientip.ParseNetworks(ips); err != nil || !slices.Equal(parsed, k.IPs) {
		in.IPs = &ips
	}
	if !sameSet(perms, k.Permissions) {
		in.Permissions = &perms
	}
	if page.Role != k.RoleID {
		in.Role = &page.Role
	}
	if page.Expires != expiryDay(k.ExpiresAt) {
		in.SetExpiresAt = true
		if page.Expires != "" {
			day, err := time.Parse(time.DateOnly, page.Expires)
			if err != nil {
				page.Errors["expires_at"] = "Enter a date such as 2031-01-31."
				s.render(w, r, http.StatusBadRequest, "key-form", page)
				return nil
			}
			in.ExpiresAt = &day
		}
	}
	list := projectURL(a.Project, "api-keys")
	if in == (manage.KeyChange{}) {
		http.Redirect(w, r, list, http.StatusSeeOther)
		return nil
	}
	updated, err := a.UpdateKey(r.Context(), k.ID, in)
	if err != nil {
		if !fieldErrors(err, page.Errors) {
			return err
		}
		s.render(w, r, web.Status(err), "key-form", page)
		return nil
	}
	done := &updatedFlash{ID: updated.ID, Name: updated.Name, Narrowed: keyward.Narrows(k, updated)}
	if err := s.setFlash(r.Context(), v, &flash{ProjectID: a.Project.ID, Updated: done}); err != nil {
		return err
	}
	http.Redirect(w, r, list, http.StatusSeeOther)
	return nil
}

// sameSet reports whether a and b hold the same names, in any order.
func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

type confirmPage struct {
	projectBase
	Heading, Text, Action, Button, Cancel string
	Error                                 string // why the last attempt failed, if it did
}

func (s *Server) confirmDeleteKey(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access) error {
	if err := a.Require(manage.PermKeysManage); err != nil {
		return err
	}
	k, err := a.Key(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	list := projectURL(a.Project, "api-keys")
	s.render(w, r, http.StatusOK, "confirm", &confirmPage{
		projectBase: s.base(v, a, "api-keys", "Delete API key"),
		Heading:     "Delete API key “" + k.Name + "”?",
		Text:        "Anything using this key stops working at once: it can no longer be exchanged, and every token issued to it is revoked. This cannot be undone.",
		Action:      list + "/" + url.PathEscape(k.ID) + "/delete",
		Button:      "Delete API key", Cancel: list,
	})
	return nil
}

func (s *Server) deleteKey(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access) error {
	if _, err := parseForm(r); err != nil {
		return err
	}
	k, err := a.DeleteKey(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := s.setFlash(r.Context(), v, &flash{ProjectID: a.Project.ID, Deleted: &deletedFlash{ID: k.ID, Name: k.Name}}); err != nil {
		return err
	}
	http.Redirect(w, r, projectURL(a.Project, "api-keys"), http.StatusSeeOther)
	return nil
}

// tokenURL is the token endpoint's address, for the example shown with a new key.
func (s *Server) tokenURL() string {
	if s.Issuer != "" {
		return s.Issuer + "/oauth/token"
	}
	return "/oauth/token"
}

package dashboard

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/manage"
	"github.com/keyward/keyward/internal/web"
)

type keysPage struct {
	projectBase
	Keys []*keyward.APIKey
	Now  time.Time
}

// Expired reports whether k no longer exchanges because of its expiry.
func (p *keysPage) Expired(k *keyward.APIKey) bool { return k.Expired(p.Now) }

// DeleteURL is where the confirmation of deleting k lives (and where it is posted).
func (p *keysPage) DeleteURL(k *keyward.APIKey) string {
	return projectURL(p.Project(), "api-keys") + "/" + url.PathEscape(k.ID) + "/delete"
}

func (s *Server) listKeys(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access) error {
	page := &keysPage{projectBase: s.base(v, a, "api-keys", "API Keys"), Now: s.Now()}
	f, err := s.takeFlash(r.Context(), v, a.Project.ID)
	if err != nil {
		return err
	}
	if f != nil && f.Deleted != nil {
		page.Notice = fmt.Sprintf("Deleted API key %s (%s). Tokens issued to it stop working at once.", f.Deleted.Name, f.Deleted.ID)
	}
	if a.Has(manage.PermKeysView) {
		keys, err := a.Keys(r.Context())
		if err != nil {
			return err
		}
		page.Keys = keys
	}
	s.render(w, r, http.StatusOK, "keys", page)
	return nil
}

type keyFormPage struct {
	projectBase
	Name, IPs, Expires string
	Groups             []permGroup
	Withheld           int // catalog permissions not offered, because the person does not hold them
	Errors             map[string]string
	MinDate            string // the earliest expiry the date picker offers
}

func (s *Server) keyForm(v *visit, a *manage.Access) *keyFormPage {
	offer := a.Grantable()
	return &keyFormPage{
		projectBase: s.base(v, a, "api-keys", "Create API Key"),
		Groups:      choices(offer, nil),
		Withheld:    len(s.Catalog.Names()) - len(offer),
		Errors:      map[string]string{},
		MinDate:     s.Now().UTC().AddDate(0, 0, 1).Format(time.DateOnly),
	}
}

func (s *Server) newKey(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access) error {
	if err := a.Require(manage.PermKeysManage); err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "key-form", s.keyForm(v, a))
	return nil
}

type keyCreatedPage struct {
	projectBase
	Key      *keyward.APIKey // nil once the key has been shown
	Secret   string
	TokenURL string
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
	in := manage.KeyInput{Name: page.Name, IPs: splitNetworks(page.IPs), Permissions: perms}
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

// keyCreated shows the key just created, once: a reload finds the flash gone and says so.
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
	} else {
		page.Title = "API key already shown"
	}
	s.render(w, r, http.StatusOK, "key-created", page)
	return nil
}

type confirmPage struct {
	projectBase
	Heading, Text, Action, Button, Cancel string
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

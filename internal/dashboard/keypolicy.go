package dashboard

import (
	"net/http"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/manage"
	"github.com/keyward/keyward/internal/web"
)

// keyPolicyHints tell the key form what the project requires, next to the inputs it concerns,
// so that people meet the policy before they submit rather than after.
type keyPolicyHints struct {
	Policy      string // every requirement, in words; "" when none
	ExpiryRule  string // "required" or "required, at most 90 days (2160h)"; "" when optional
	IPsRequired bool
}

func policyHints(p *keyward.Project) keyPolicyHints {
	h := keyPolicyHints{Policy: manage.DescribeKeyPolicy(p), IPsRequired: p.KeyPolicy.RequireIPs}
	switch kp := p.KeyPolicy; {
	case kp.MaxLifetime > 0:
		h.ExpiryRule = "required, at most " + manage.DescribeLifetime(kp.MaxLifetime)
	case kp.RequireExpiry:
		h.ExpiryRule = "required"
	}
	return h
}

// keyPolicyForm is the key policy form of the project's general page, as stored or as posted.
type keyPolicyForm struct {
	Posted        bool // the values are what was posted, shown again with an error
	RequireExpiry bool
	MaxLifetime   string // "" for none
	RequireIPs    bool
	RequireDPoP   bool // the project's require_dpop setting, which is part of what keys must meet
}

func keyPolicyFormOf(p *keyward.Project) keyPolicyForm {
	f := keyPolicyForm{RequireExpiry: p.KeyPolicy.RequireExpiry, RequireIPs: p.KeyPolicy.RequireIPs, RequireDPoP: p.RequireDPoP}
	if p.KeyPolicy.MaxLifetime > 0 {
		f.MaxLifetime = keyward.FormatLifetime(p.KeyPolicy.MaxLifetime)
	}
	return f
}

// setKeyPolicy replaces the project's key policy with the form's; a bad maximum lifetime comes
// back as the form with the message next to it.
func (s *Server) setKeyPolicy(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access) error {
	f, err := parseForm(r)
	if err != nil {
		return err
	}
	form := keyPolicyForm{Posted: true, RequireExpiry: f.get("require_expiry") == "true", MaxLifetime: f.get("max_lifetime"),
		RequireIPs: f.get("require_ips") == "true", RequireDPoP: f.get("require_dpop") == "true"}
	_, err = a.SetKeyPolicy(r.Context(), manage.KeyPolicyInput{RequireExpiry: form.RequireExpiry, MaxLifetime: form.MaxLifetime, RequireIPs: form.RequireIPs})
	if err == nil {
		_, err = a.SetRequireDPoP(r.Context(), form.RequireDPoP)
	}
	if err != nil {
		page := &generalPage{Name: a.Project.Name, KeyPolicy: form, Errors: map[string]string{}}
		if !fieldErrors(err, page.Errors) {
			return err
		}
		return s.showGeneral(w, r, v, a, web.Status(err), page)
	}
	http.Redirect(w, r, projectURL(a.Project, "")+"#key-policy-title", http.StatusSeeOther)
	return nil
}

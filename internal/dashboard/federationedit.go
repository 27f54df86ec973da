package dashboard

import (
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/manage"
	"github.com/keyward/keyward/internal/web"
)

// issuerURL is the page that edits i.
func issuerURL(p *keyward.Project, i *keyward.FederationIssuer) string {
	return federationURL(p, "/issuers/"+url.PathEscape(i.ID))
}

// ruleURL is the page that edits r.
func ruleURL(p *keyward.Project, r *keyward.FederationRule) string {
	return federationURL(p, "/rules/"+url.PathEscape(r.ID))
}

// IssuerURL is i's edit page.
func (p *federationPage) IssuerURL(i *keyward.FederationIssuer) string {
	return issuerURL(p.Project(), i)
}

// RuleURL is r's edit page.
func (p *federationPage) RuleURL(r ruleRow) string { return ruleURL(p.Project(), r.FederationRule) }

// issuerPage edits one trusted issuer.
type issuerPage struct {
	projectBase
	Issuer *keyward.FederationIssuer
	Rules  int // how many rules the issuer has
	Form   issuerForm
	Action string
}

// federationRulePage edits one rule.
type federationRulePage struct {
	projectBase
	Rule   *keyward.FederationRule
	Form   ruleForm
	Action string
}

// editIssuer shows the form that edits an issuer. Only key managers reach it: the tab shows
// everything else about the issuer to those who may read it.
func (s *Server) editIssuer(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access) error {
	page, err := s.issuerPage(r, v, a)
	if err != nil {
		return err
	}
	i := page.Issuer
	page.Form.Issuer = manage.IssuerInput{Name: i.Name, Issuer: i.Issuer, Audiences: i.Audiences, JWKSURI: i.JWKSURI, Preset: i.Preset}
	page.Form.Audiences = strings.Join(i.Audiences, " ")
	s.render(w, r, http.StatusOK, "federation-issuer", page)
	return nil
}

func (s *Server) issuerPage(r *http.Request, v *visit, a *manage.Access) (*issuerPage, error) {
	if err := a.Require(manage.PermKeysManage); err != nil {
		return nil, err
	}
	i, err := a.FederationIssuer(r.Context(), r.PathValue("issuer"))
	if err != nil {
		return nil, err
	}
	rules, err := a.FederationRules(r.Context())
	if err != nil {
		return nil, err
	}
	page := &issuerPage{projectBase: s.base(v, a, "federation", "Issuer "+i.Name), Issuer: i, Action: issuerURL(a.Project, i),
		Form: issuerForm{Presets: presetNames(), Errors: map[string]string{}}}
	for _, rule := range rules {
		if rule.IssuerID == i.ID {
			page.Rules++
		}
	}
	return page, nil
}

// updateIssuer applies what the form changed, and only that.
func (s *Server) updateIssuer(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access) error {
	f, err := parseForm(r)
	if err != nil {
		return err
	}
	page, err := s.issuerPage(r, v, a)
	if err != nil {
		return err
	}
	before := page.Issuer
	page.Form = readIssuerForm(f)
	in := page.Form.Issuer
	var c manage.IssuerChange
	if in.Name != before.Name {
		c.Name = &in.Name
	}
	if in.Issuer != before.Issuer {
		c.Issuer = &in.Issuer
	}
	if in.Preset != before.Preset {
		c.Preset = &in.Preset
	}
	if in.JWKSURI != before.JWKSURI {
		c.JWKSURI = &in.JWKSURI
	}
	if !slices.Equal(in.Audiences, before.Audiences) {
		c.Audiences = &in.Audiences
	}
	// Anything but the name changes what tokens are checked against, which ends the tokens of
	// the issuer's rules.
	checked := c.Issuer != nil || c.Preset != nil || c.JWKSURI != nil || c.Audiences != nil
	list := federationURL(a.Project, "")
	if c == (manage.IssuerChange{}) {
		http.Redirect(w, r, list, http.StatusSeeOther)
		return nil
	}
	if _, err := a.UpdateFederationIssuer(r.Context(), before.ID, c); err != nil {
		if !fieldErrors(err, page.Form.Errors) {
			return err
		}
		s.render(w, r, web.Status(err), "federation-issuer", page)
		return nil
	}
	if checked && page.Rules > 0 {
		list += "?issuer-narrowed"
	} else {
		list += "?issuer-saved"
	}
	http.Redirect(w, r, list, http.StatusSeeOther)
	return nil
}

// editRule shows the form that edits a rule.
func (s *Server) editRule(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access) error {
	page, roles, err := s.rulePage(r, v, a)
	if err != nil {
		return err
	}
	rule := page.Rule
	page.Form.Rule = manage.RuleInput{Name: rule.Name, Issuer: rule.IssuerID, Target: ruleTarget(rule, roles), TTL: manage.FormatTTL(rule.TTL)}
	page.Form.Conditions = conditionText(rule.Conditions)
	s.render(w, r, http.StatusOK, "federation-rule", page)
	return nil
}

// rulePage is the edit page of the rule the path names, without the form's values; roles maps
// the project's role ids to names.
func (s *Server) rulePage(r *http.Request, v *visit, a *manage.Access) (*federationRulePage, map[string]string, error) {
	if err := a.Require(manage.PermKeysManage); err != nil {
		return nil, nil, err
	}
	rule, err := a.FederationRule(r.Context(), r.PathValue("rule"))
	if err != nil {
		return nil, nil, err
	}
	issuers, err := a.FederationIssuers(r.Context())
	if err != nil {
		return nil, nil, err
	}
	page := &federationRulePage{projectBase: s.base(v, a, "federation", "Rule "+rule.Name), Rule: rule, Action: ruleURL(a.Project, rule),
		Form: ruleForm{Issuers: issuers, Errors: map[string]string{}}}
	var roles map[string]string
	page.Form.Targets, roles, _ = ruleTargets(r.Context(), a, rule)
	return page, roles, nil
}

// updateRule applies what the form changed, and only that, and says whether the change ended
// the rule's tokens.
func (s *Server) updateRule(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access) error {
	f, err := parseForm(r)
	if err != nil {
		return err
	}
	page, roles, err := s.rulePage(r, v, a)
	if err != nil {
		return err
	}
	before := page.Rule
	form, ok := readRuleForm(f)
	form.Issuers, form.Targets = page.Form.Issuers, page.Form.Targets
	page.Form = form
	if !ok {
		s.render(w, r, http.StatusBadRequest, "federation-rule", page)
		return nil
	}
	in := form.Rule
	var c manage.RuleChange
	if in.Name != before.Name {
		c.Name = &in.Name
	}
	if in.Issuer != before.IssuerID {
		c.Issuer = &in.Issuer
	}
	if in.Target != ruleTarget(before, roles) {
		c.Target = &in.Target
	}
	if in.TTL != manage.FormatTTL(before.TTL) {
		c.TTL = &in.TTL
	}
	if !maps.Equal(in.Conditions, before.Conditions) {
		c.Conditions = &in.Conditions
	}
	list := federationURL(a.Project, "")
	if c == (manage.RuleChange{}) {
		http.Redirect(w, r, list, http.StatusSeeOther)
		return nil
	}
	after, err := a.UpdateFederationRule(r.Context(), before.ID, c)
	if err != nil {
		if !fieldErrors(err, page.Form.Errors) {
			return err
		}
		s.render(w, r, web.Status(err), "federation-rule", page)
		return nil
	}
	if changeOf(before, after).Narrows(before) {
		list += "?rule-narrowed"
	} else {
		list += "?rule-saved"
	}
	http.Redirect(w, r, list, http.StatusSeeOther)
	return nil
}

// changeOf is the change that made after of before, for keyward.FederationRuleChange.Narrows,
// the one home of which edits end a rule's tokens.
func changeOf(before, after *keyward.FederationRule) keyward.FederationRuleChange {
	var c keyward.FederationRuleChange
	if after.IssuerID != before.IssuerID {
		c.IssuerID = &after.IssuerID
	}
	if !maps.Equal(after.Conditions, before.Conditions) {
		c.Conditions = &after.Conditions
	}
	if after.TargetKey != before.TargetKey || after.TargetRole != before.TargetRole {
		c.TargetKey, c.TargetRole = &after.TargetKey, &after.TargetRole
	}
	if after.TTL != before.TTL {
		c.TTL = &after.TTL
	}
	return c
}

// confirmDeleteIssuer asks before an issuer goes, with its rules.
func (s *Server) confirmDeleteIssuer(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access) error {
	page, err := s.issuerPage(r, v, a)
	if err != nil {
		return err
	}
	text := "It has no rule, so no token depends on it."
	if page.Rules > 0 {
		text = "Its " + plural(page.Rules, "rule") + " go with it, and every token they issued stops working within a second."
	}
	s.render(w, r, http.StatusOK, "confirm", &confirmPage{
		projectBase: s.base(v, a, "federation", "Delete issuer"),
		Heading:     "Stop trusting issuer “" + page.Issuer.Name + "”?",
		Text:        text + " Workloads can no longer exchange its identity tokens. This cannot be undone.",
		Action:      page.Action + "/delete",
		Button:      "Delete issuer", Cancel: federationURL(a.Project, ""),
	})
	return nil
}

func (s *Server) deleteIssuer(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access) error {
	if _, err := parseForm(r); err != nil {
		return err
	}
	if err := a.DeleteFederationIssuer(r.Context(), r.PathValue("issuer")); err != nil {
		return err
	}
	http.Redirect(w, r, federationURL(a.Project, "?issuer-deleted"), http.StatusSeeOther)
	return nil
}

// confirmDeleteRule asks before a rule goes.
func (s *Server) confirmDeleteRule(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access) error {
	page, _, err := s.rulePage(r, v, a)
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "confirm", &confirmPage{
		projectBase: s.base(v, a, "federation", "Delete rule"),
		Heading:     "Delete rule “" + page.Rule.Name + "”?",
		Text: "Every token it issued stops working within a second, and workloads can no longer exchange identity tokens through it. " +
			"This cannot be undone.",
		Action: page.Action + "/delete",
		Button: "Delete rule", Cancel: federationURL(a.Project, ""),
	})
	return nil
}

func (s *Server) deleteRule(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access) error {
	if _, err := parseForm(r); err != nil {
		return err
	}
	if err := a.DeleteFederationRule(r.Context(), r.PathValue("rule")); err != nil {
		return err
	}
	http.Redirect(w, r, federationURL(a.Project, "?rule-deleted"), http.StatusSeeOther)
	return nil
}

package dashboard

import (
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/federation"
	"github.com/keyward/keyward/internal/manage"
	"github.com/keyward/keyward/internal/web"
)

// federationPage lists the project's trusted issuers and rules, with the forms that add them and
// the box that explains what the token endpoint makes of a pasted subject token.
type federationPage struct {
	projectBase
	Issuers  []*keyward.FederationIssuer
	Rules    []ruleRow
	Unlisted string // why nothing is listed, when the person may not read the settings
	Presets  []string
	Targets  []target

	// The forms, as typed.
	Issuer      manage.IssuerInput
	Audiences   string
	Rule        manage.RuleInput
	Conditions  string
	Token       string
	Explanation *federation.Explanation
	Errors      map[string]string // of the issuer form and the token box
	RuleErrors  map[string]string // of the rule form
}

// ruleRow is a rule as listed: its issuer's and target's names.
type ruleRow struct {
	*keyward.FederationRule
	IssuerName, Target, TTL string
	Conditions              []federation.Claim
}

// target is a choice of the rule form's target.
type target struct{ Value, Label string }

// RefusedText is why the pasted token is refused, as a sentence.
func (p *federationPage) RefusedText() string {
	m := p.Explanation.Refused.Error()
	return strings.ToUpper(m[:1]) + m[1:] + "."
}

func federationURL(p *keyward.Project, rest string) string {
	return projectURL(p, "federation") + rest
}

func (s *Server) federation(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access) error {
	page := &federationPage{Errors: map[string]string{}}
	q := r.URL.Query()
	switch {
	case q.Has("issuer-created"):
		page.Notice = "The issuer is trusted now."
	case q.Has("issuer-deleted"):
		page.Notice = "The issuer was deleted, with its rules; their tokens were revoked."
	case q.Has("rule-created"):
		page.Notice = "The rule was created."
	case q.Has("rule-deleted"):
		page.Notice = "The rule was deleted; its tokens were revoked."
	}
	return s.showFederation(w, r, v, a, http.StatusOK, page)
}

func (s *Server) showFederation(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access, status int, page *federationPage) error {
	notice := page.Notice
	page.projectBase = s.base(v, a, "federation", "Federation")
	page.Notice = notice
	for name := range federation.Presets {
		page.Presets = append(page.Presets, name)
	}
	sort.Strings(page.Presets)
	issuers, err := a.FederationIssuers(r.Context())
	if keyward.ErrorCode(err) == keyward.EFORBIDDEN {
		page.Unlisted = keyward.ErrorMessage(err)
		s.render(w, r, status, "federation", page)
		return nil
	} else if err != nil {
		return err
	}
	page.Issuers = issuers
	names := map[string]string{}
	for _, i := range issuers {
		names[i.ID] = i.Name
	}
	rules, err := a.FederationRules(r.Context())
	if err != nil {
		return err
	}
	roles := map[string]string{}
	if list, _, err := a.RolePage(r.Context(), keyward.Page{Limit: manage.PageMaxLimit}); err == nil {
		for _, role := range list {
			roles[role.ID] = role.Name
			if a.CanGiveRole(role) {
				page.Targets = append(page.Targets, target{"role:" + role.Name, "Role " + role.Name})
			}
		}
	}
	for _, rule := range rules {
		row := ruleRow{FederationRule: rule, IssuerName: names[rule.IssuerID], Target: "API key " + rule.TargetKey, TTL: manage.FormatTTL(rule.TTL)}
		if rule.TargetRole != "" {
			row.Target = "Role " + roles[rule.TargetRole]
		}
		for c, v := range rule.Conditions {
			row.Conditions = append(row.Conditions, federation.Claim{Name: c, Value: v})
		}
		sort.Slice(row.Conditions, func(i, j int) bool { return row.Conditions[i].Name < row.Conditions[j].Name })
		page.Rules = append(page.Rules, row)
	}
	if keys, err := a.Keys(r.Context()); err == nil {
		for _, k := range keys {
			page.Targets = append(page.Targets, target{"key:" + k.ID, "API key " + k.Name})
		}
	}
	s.render(w, r, status, "federation", page)
	return nil
}

func (s *Server) createIssuer(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access) error {
	f, err := parseForm(r)
	if err != nil {
		return err
	}
	page := &federationPage{Errors: map[string]string{}, Audiences: f.get("audiences")}
	page.Issuer = manage.IssuerInput{Name: f.get("name"), Issuer: f.get("issuer"), Preset: f.get("preset"), JWKSURI: f.get("jwks_uri"),
		Audiences: splitNetworks(page.Audiences)}
	if _, err := a.CreateFederationIssuer(r.Context(), page.Issuer); err != nil {
		if !fieldErrors(err, page.Errors) {
			return err
		}
		return s.showFederation(w, r, v, a, web.Status(err), page)
	}
	http.Redirect(w, r, federationURL(a.Project, "?issuer-created"), http.StatusSeeOther)
	return nil
}

func (s *Server) deleteIssuer(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access) error {
	if err := a.DeleteFederationIssuer(r.Context(), r.PathValue("issuer")); err != nil {
		return err
	}
	http.Redirect(w, r, federationURL(a.Project, "?issuer-deleted"), http.StatusSeeOther)
	return nil
}

// parseConditions reads conditions typed one per line as claim=value.
func parseConditions(text string) (map[string]string, error) {
	out := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		claim, value, ok := strings.Cut(line, "=")
		claim, value = strings.TrimSpace(claim), strings.TrimSpace(value)
		if !ok || claim == "" {
			return nil, keyward.Errorf(keyward.EINVALID, "Write one condition a line, as claim=value.")
		}
		if _, dup := out[claim]; dup {
			return nil, keyward.Errorf(keyward.EINVALID, "The claim %q has two conditions.", claim)
		}
		out[claim] = value
	}
	return out, nil
}

func (s *Server) createRule(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access) error {
	f, err := parseForm(r)
	if err != nil {
		return err
	}
	page := &federationPage{RuleErrors: map[string]string{}, Conditions: f.get("conditions")}
	page.Rule = manage.RuleInput{Name: f.get("name"), Issuer: f.get("issuer"), Target: f.get("target"), TTL: f.get("ttl")}
	conds, err := parseConditions(page.Conditions)
	if err != nil {
		page.RuleErrors["conditions"] = keyward.ErrorMessage(err)
		return s.showFederation(w, r, v, a, http.StatusBadRequest, page)
	}
	page.Rule.Conditions = conds
	if _, err := a.CreateFederationRule(r.Context(), page.Rule); err != nil {
		if !fieldErrors(err, page.RuleErrors) {
			return err
		}
		return s.showFederation(w, r, v, a, web.Status(err), page)
	}
	http.Redirect(w, r, federationURL(a.Project, "?rule-created"), http.StatusSeeOther)
	return nil
}

func (s *Server) deleteRule(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access) error {
	if err := a.DeleteFederationRule(r.Context(), r.PathValue("rule")); err != nil {
		return err
	}
	http.Redirect(w, r, federationURL(a.Project, "?rule-deleted"), http.StatusSeeOther)
	return nil
}

// explainToken shows what the token endpoint makes of a pasted subject token. The token is a
// credential: it is posted, never put in a URL, and shown back only in the form it came in.
func (s *Server) explainToken(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access) error {
	f, err := parseForm(r)
	if err != nil {
		return err
	}
	page := &federationPage{Errors: map[string]string{}, Token: strings.TrimSpace(f.get("token"))}
	if page.Token == "" {
		page.Errors["token"] = "Paste a subject token."
		return s.showFederation(w, r, v, a, http.StatusBadRequest, page)
	}
	if page.Explanation, err = a.ExplainToken(r.Context(), page.Token); err != nil {
		return err
	}
	return s.showFederation(w, r, v, a, http.StatusOK, page)
}

// IssuerDelete is an issuer's delete action.
func (p *federationPage) IssuerDelete(i *keyward.FederationIssuer) string {
	return federationURL(p.Project(), "/issuers/"+url.PathEscape(i.ID)+"/delete")
}

// RuleDelete is a rule's delete action.
func (p *federationPage) RuleDelete(r ruleRow) string {
	return federationURL(p.Project(), "/rules/"+url.PathEscape(r.ID)+"/delete")
}

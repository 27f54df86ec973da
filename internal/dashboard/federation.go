package dashboard

import (
	"context"
	"maps"
	"net/http"
	"slices"
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

	// The forms, as typed.
	IssuerForm  issuerForm
	RuleForm    ruleForm
	Token       string
	Explanation *federation.Explanation
	Errors      map[string]string // of the token box
}

// issuerForm is the form that trusts or edits an issuer, as typed.
type issuerForm struct {
	Issuer    manage.IssuerInput
	Audiences string
	Presets   []string
	Errors    map[string]string
}

// ruleForm is the form that adds or edits a rule, as typed.
type ruleForm struct {
	Rule       manage.RuleInput
	Conditions string
	Issuers    []*keyward.FederationIssuer
	Targets    []target
	Errors     map[string]string
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
	page := &federationPage{}
	q := r.URL.Query()
	switch {
	case q.Has("issuer-created"):
		page.Notice = "The issuer is trusted now."
	case q.Has("issuer-saved"):
		page.Notice = "The issuer was saved."
	case q.Has("issuer-narrowed"):
		page.Notice = "The issuer was saved. The tokens its rules had issued were revoked; workloads exchange their identity tokens again."
	case q.Has("issuer-deleted"):
		page.Notice = "The issuer was deleted, with its rules; their tokens were revoked."
	case q.Has("rule-created"):
		page.Notice = "The rule was created."
	case q.Has("rule-saved"):
		page.Notice = "The rule was saved."
	case q.Has("rule-narrowed"):
		page.Notice = "The rule was saved. The tokens it had issued were revoked; workloads exchange their identity tokens again."
	case q.Has("rule-deleted"):
		page.Notice = "The rule was deleted; its tokens were revoked."
	}
	return s.showFederation(w, r, v, a, http.StatusOK, page)
}

// presetNames are the issuer presets, sorted.
func presetNames() []string {
	var out []string
	for name := range federation.Presets {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// ruleTargets offers what a rule may act as: the roles the signed-in person may give and the
// project's keys, and the target of rule (nil: none) whatever it is, so that saving a rule
// without touching its target keeps it. roles maps the project's role ids to names; labels
// names every target the person can see, given or not.
func ruleTargets(ctx context.Context, a *manage.Access, rule *keyward.FederationRule) (targets []target, roles, labels map[string]string) {
	roles, labels = map[string]string{}, map[string]string{}
	list, _, err := a.RolePage(ctx, keyward.Page{Limit: manage.PageMaxLimit})
	if err != nil {
		list = nil // someone who may not read roles is offered keys only
	}
	for _, role := range list {
		roles[role.ID] = role.Name
		labels["role:"+role.Name] = "Role " + role.Name
	}
	current := ""
	if rule != nil {
		current = ruleTarget(rule, roles)
	}
	for _, role := range list {
		if a.CanGiveRole(role) || current == "role:"+role.Name {
			targets = append(targets, target{"role:" + role.Name, labels["role:"+role.Name]})
		}
	}
	if keys, err := a.Keys(ctx); err == nil {
		for _, k := range keys {
			labels["key:"+k.ID] = "API key " + k.Name
			targets = append(targets, target{"key:" + k.ID, labels["key:"+k.ID]})
		}
	}
	if current != "" && !slices.ContainsFunc(targets, func(t target) bool { return t.Value == current }) {
		targets = append(targets, target{current, current})
	}
	return targets, roles, labels
}

// ruleTarget is the form value of r's target.
func ruleTarget(r *keyward.FederationRule, roles map[string]string) string {
	if r.TargetRole != "" {
		return "role:" + roles[r.TargetRole]
	}
	return "key:" + r.TargetKey
}

// sortedConditions lists conditions by claim.
func sortedConditions(conds map[string]string) []federation.Claim {
	var out []federation.Claim
	for _, c := range slices.Sorted(maps.Keys(conds)) {
		out = append(out, federation.Claim{Name: c, Value: conds[c]})
	}
	return out
}

// conditionText writes conditions as the rule form takes them: claim=value, one a line.
func conditionText(conds map[string]string) string {
	var lines []string
	for _, c := range sortedConditions(conds) {
		lines = append(lines, c.Name+"="+c.Value)
	}
	return strings.Join(lines, "\n")
}

func (s *Server) showFederation(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access, status int, page *federationPage) error {
	notice := page.Notice
	page.projectBase = s.base(v, a, "federation", "Federation")
	page.Notice = notice
	if page.Errors == nil {
		page.Errors = map[string]string{}
	}
	if page.IssuerForm.Errors == nil {
		page.IssuerForm.Errors = map[string]string{}
	}
	if page.RuleForm.Errors == nil {
		page.RuleForm.Errors = map[string]string{}
	}
	page.IssuerForm.Presets = presetNames()
	issuers, err := a.FederationIssuers(r.Context())
	if keyward.ErrorCode(err) == keyward.EFORBIDDEN {
		page.Unlisted = keyward.ErrorMessage(err)
		s.render(w, r, status, "federation", page)
		return nil
	} else if err != nil {
		return err
	}
	page.Issuers, page.RuleForm.Issuers = issuers, issuers
	names := map[string]string{}
	for _, i := range issuers {
		names[i.ID] = i.Name
	}
	rules, err := a.FederationRules(r.Context())
	if err != nil {
		return err
	}
	targets, roles, labels := ruleTargets(r.Context(), a, nil)
	page.RuleForm.Targets = targets
	for _, rule := range rules {
		row := ruleRow{FederationRule: rule, IssuerName: names[rule.IssuerID], Target: labels[ruleTarget(rule, roles)], TTL: manage.FormatTTL(rule.TTL),
			Conditions: sortedConditions(rule.Conditions)}
		if row.Target == "" { // a key or role the person may not see
			row.Target = ruleTarget(rule, roles)
		}
		page.Rules = append(page.Rules, row)
	}
	s.render(w, r, status, "federation", page)
	return nil
}

// readIssuerForm reads the issuer form.
func readIssuerForm(f form) issuerForm {
	out := issuerForm{Audiences: f.get("audiences"), Presets: presetNames(), Errors: map[string]string{}}
	out.Issuer = manage.IssuerInput{Name: f.get("name"), Issuer: f.get("issuer"), Preset: f.get("preset"), JWKSURI: f.get("jwks_uri"),
		Audiences: splitNetworks(out.Audiences)}
	return out
}

func (s *Server) createIssuer(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access) error {
	f, err := parseForm(r)
	if err != nil {
		return err
	}
	page := &federationPage{IssuerForm: readIssuerForm(f)}
	if _, err := a.CreateFederationIssuer(r.Context(), page.IssuerForm.Issuer); err != nil {
		if !fieldErrors(err, page.IssuerForm.Errors) {
			return err
		}
		return s.showFederation(w, r, v, a, web.Status(err), page)
	}
	http.Redirect(w, r, federationURL(a.Project, "?issuer-created"), http.StatusSeeOther)
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

// readRuleForm reads the rule form; a conditions text that does not parse is an error next to
// its field.
func readRuleForm(f form) (ruleForm, bool) {
	out := ruleForm{Conditions: f.get("conditions"), Errors: map[string]string{}}
	out.Rule = manage.RuleInput{Name: f.get("name"), Issuer: f.get("issuer"), Target: f.get("target"), TTL: f.get("ttl")}
	conds, err := parseConditions(out.Conditions)
	if err != nil {
		out.Errors["conditions"] = keyward.ErrorMessage(err)
		return out, false
	}
	out.Rule.Conditions = conds
	return out, true
}

func (s *Server) createRule(w http.ResponseWriter, r *http.Request, v *visit, a *manage.Access) error {
	f, err := parseForm(r)
	if err != nil {
		return err
	}
	rf, ok := readRuleForm(f)
	page := &federationPage{RuleForm: rf}
	if !ok {
		return s.showFederation(w, r, v, a, http.StatusBadRequest, page)
	}
	if _, err := a.CreateFederationRule(r.Context(), rf.Rule); err != nil {
		if !fieldErrors(err, page.RuleForm.Errors) {
			return err
		}
		return s.showFederation(w, r, v, a, web.Status(err), page)
	}
	http.Redirect(w, r, federationURL(a.Project, "?rule-created"), http.StatusSeeOther)
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

package manage

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/federation"
	"github.com/keyward/keyward/internal/names"
)

// Audit actions of federation settings.
const (
	AuditIssuerCreated = "federation.issuer_created"
	AuditIssuerUpdated = "federation.issuer_updated"
	AuditIssuerDeleted = "federation.issuer_deleted"
	AuditRuleCreated   = "federation.rule_created"
	AuditRuleUpdated   = "federation.rule_updated"
	AuditRuleDeleted   = "federation.rule_deleted"
)

// Lifetimes of federated tokens.
const (
	DefaultFederatedTTL = 15 * time.Minute
	MaxFederatedTTL     = time.Hour
	minFederatedTTL     = time.Minute
)

// FederationStore is the part of the store federation settings use.
type FederationStore interface {
	CreateFederationIssuer(ctx context.Context, i *keyward.FederationIssuer) error
	FederationIssuer(ctx context.Context, projectID, ref string) (*keyward.FederationIssuer, error)
	FederationIssuers(ctx context.Context, projectID string) ([]*keyward.FederationIssuer, error)
	UpdateFederationIssuer(ctx context.Context, i *keyward.FederationIssuer, at time.Time) error
	DeleteFederationIssuer(ctx context.Context, projectID, id string, at time.Time) error
	CreateFederationRule(ctx context.Context, r *keyward.FederationRule) error
	FederationRule(ctx context.Context, projectID, ref string) (*keyward.FederationRule, error)
	FederationRules(ctx context.Context, projectID string) ([]*keyward.FederationRule, error)
	UpdateFederationRule(ctx context.Context, projectID, id string, change keyward.FederationRuleChange, at time.Time) (*keyward.FederationRule, error)
	DeleteFederationRule(ctx context.Context, projectID, id string, at time.Time) error
}

// A rule mints tokens as a key does, so the federation settings are the key managers': reading
// them needs api-keys-view, changing them api-keys-manage.
func (a *Access) mayReadFederation() error { return a.Require(PermKeysView) }

// IssuerInput is a trusted issuer as a caller writes it.
type IssuerInput struct {
	Name      string
	Issuer    string // "": the preset's
	Audiences []string
	JWKSURI   string // "": found through discovery
	Preset    string
}

// FederationIssuers lists the project's trusted issuers by name.
func (a *Access) FederationIssuers(ctx context.Context) ([]*keyward.FederationIssuer, error) {
	if err := a.mayReadFederation(); err != nil {
		return nil, err
	}
	return a.svc.Store.FederationIssuers(ctx, a.Project.ID)
}

// FederationIssuer returns the issuer ref names (its id or name).
func (a *Access) FederationIssuer(ctx context.Context, ref string) (*keyward.FederationIssuer, error) {
	if err := a.mayReadFederation(); err != nil {
		return nil, err
	}
	return a.issuer(ctx, ref)
}

func (a *Access) issuer(ctx context.Context, ref string) (*keyward.FederationIssuer, error) {
	i, err := a.svc.Store.FederationIssuer(ctx, a.Project.ID, ref)
	if keyward.ErrorCode(err) == keyward.ENOTFOUND {
		return nil, keyward.Errorf(keyward.ENOTFOUND, "The issuer %s was not found in this project.", quotedRef(ref, keyward.PrefixIssuer))
	}
	return i, err
}

// quotedRef repeats ref in a message only when it could be an id or a name, since it comes from a
// URL or a form.
func quotedRef(ref, prefix string) string {
	if id, ok := strings.CutPrefix(ref, prefix); ok && len(id) == keyward.IDLength && keyward.IsBase62(id) || ValidProjectName(ref) {
		return fmt.Sprintf("%q", ref)
	}
	return "named"
}

// checkIssuer fills in and checks in. Errors are *FieldError.
func (s *Service) checkIssuer(in *IssuerInput) error {
	if err := checkFederationName(in.Name); err != nil {
		return err
	}
	if in.Preset != "" {
		p, ok := federation.Presets[in.Preset]
		if !ok {
			return fieldErr("preset", keyward.EINVALID, "Unknown preset %q; known: github-actions, gitlab-ci, kubernetes.", in.Preset)
		}
		if in.Issuer == "" {
			in.Issuer = p.Issuer
		}
	}
	if in.Issuer == "" {
		return fieldErr("issuer", keyward.EINVALID, "The issuer URL is required.")
	}
	if err := federation.CheckURL(in.Issuer, s.AllowInsecureIssuers); err != nil {
		return fieldErr("issuer", keyward.EINVALID, "The issuer: %s.", err)
	}
	if in.JWKSURI != "" {
		if err := federation.CheckURL(in.JWKSURI, s.AllowInsecureIssuers); err != nil {
			return fieldErr("jwks_uri", keyward.EINVALID, "The key set: %s.", err)
		}
	}
	if err := federation.CheckAudiences(in.Audiences); err != nil {
		return fieldErr("audiences", keyward.EINVALID, "The audiences: %s.", err)
	}
	return nil
}

// checkFederationName enforces the role-name form: a slug, unique in the project.
func checkFederationName(name string) error {
	if err := names.Check(name); err != nil {
		return fieldErr("name", keyward.EINVALID, "%s", err)
	}
	if !ValidProjectName(name) {
		return fieldErr("name", keyward.EINVALID, "A name is 1 to 63 lower-case letters, digits and inner hyphens, such as \"github-deploy\".")
	}
	return nil
}

// CreateFederationIssuer trusts an issuer in the project. It needs api-keys-manage.
func (a *Access) CreateFederationIssuer(ctx context.Context, in IssuerInput) (*keyward.FederationIssuer, error) {
	if err := a.Require(PermKeysManage); err != nil {
		return nil, err
	}
	s := a.svc
	if err := s.checkIssuer(&in); err != nil {
		return nil, err
	}
	id, err := keyward.NewID(s.Rand, keyward.PrefixIssuer)
	if err != nil {
		return nil, err
	}
	now := s.Now()
	i := &keyward.FederationIssuer{ID: id, ProjectID: a.Project.ID, Name: in.Name, Issuer: in.Issuer, Audiences: in.Audiences,
		JWKSURI: in.JWKSURI, Preset: in.Preset, CreatedAt: now, UpdatedAt: now}
	if err := s.Store.CreateFederationIssuer(ctx, i); keyward.ErrorCode(err) == keyward.ECONFLICT {
		return nil, fieldErr("name", keyward.ECONFLICT, "This project already trusts an issuer named %q or with the URL %q.", in.Name, in.Issuer)
	} else if err != nil {
		return nil, err
	}
	s.audit(ctx, a.caller, &keyward.AuditEvent{ProjectID: a.Project.ID, At: now, Action: AuditIssuerCreated, Target: "issuer:" + id,
		Detail: fmt.Sprintf("name=%q issuer=%q audiences=%s", i.Name, i.Issuer, strings.Join(i.Audiences, ","))})
	return i, nil
}

// IssuerChange is an edit of an issuer; nil fields stay.
type IssuerChange struct {
	Name, Issuer, Preset *string
	Audiences            *[]string
	JWKSURI              *string // "": found through discovery
}

// UpdateFederationIssuer edits an issuer. It needs api-keys-manage. A change of what tokens
// are checked against ends the tokens of the issuer's rules; the issuer cannot become one whose
// preset demands pinned claims that a rule of it does not pin.
func (a *Access) UpdateFederationIssuer(ctx context.Context, ref string, c IssuerChange) (*keyward.FederationIssuer, error) {
	if err := a.Require(PermKeysManage); err != nil {
		return nil, err
	}
	i, err := a.issuer(ctx, ref)
	if err != nil {
		return nil, err
	}
	in := IssuerInput{Name: i.Name, Issuer: i.Issuer, Audiences: i.Audiences, JWKSURI: i.JWKSURI, Preset: i.Preset}
	for _, f := range []struct {
		dst *string
		src *string
	}{{&in.Name, c.Name}, {&in.Issuer, c.Issuer}, {&in.Preset, c.Preset}, {&in.JWKSURI, c.JWKSURI}} {
		if f.src != nil {
			*f.dst = *f.src
		}
	}
	if c.Audiences != nil {
		in.Audiences = *c.Audiences
	}
	s := a.svc
	if err := s.checkIssuer(&in); err != nil {
		return nil, err
	}
	rules, err := s.Store.FederationRules(ctx, a.Project.ID)
	if err != nil {
		return nil, err
	}
	p, governed := federation.PresetOf(in.Issuer, in.Preset)
	for _, r := range rules {
		if r.IssuerID != i.ID {
			continue
		}
		if err := federation.CheckRuleConditions(r.Conditions, p, governed); err != nil {
			return nil, fieldErr("preset", keyward.ECONFLICT, "Rule %q does not satisfy the issuer as changed: %s.", r.Name, err)
		}
	}
	i.Name, i.Issuer, i.Audiences, i.JWKSURI, i.Preset = in.Name, in.Issuer, in.Audiences, in.JWKSURI, in.Preset
	now := s.Now()
	if err := s.Store.UpdateFederationIssuer(ctx, i, now); keyward.ErrorCode(err) == keyward.ECONFLICT {
		return nil, fieldErr("name", keyward.ECONFLICT, "This project already trusts an issuer named %q or with the URL %q.", in.Name, in.Issuer)
	} else if err != nil {
		return nil, err
	}
	s.audit(ctx, a.caller, &keyward.AuditEvent{ProjectID: a.Project.ID, At: now, Action: AuditIssuerUpdated, Target: "issuer:" + i.ID,
		Detail: fmt.Sprintf("name=%q issuer=%q audiences=%s", i.Name, i.Issuer, strings.Join(i.Audiences, ","))})
	return i, nil
}

// DeleteFederationIssuer stops trusting an issuer: its rules go, and their tokens end. It needs
// api-keys-manage.
func (a *Access) DeleteFederationIssuer(ctx context.Context, ref string) error {
	if err := a.Require(PermKeysManage); err != nil {
		return err
	}
	i, err := a.issuer(ctx, ref)
	if err != nil {
		return err
	}
	s := a.svc
	now := s.Now()
	if err := s.Store.DeleteFederationIssuer(ctx, a.Project.ID, i.ID, now); err != nil {
		return err
	}
	s.audit(ctx, a.caller, &keyward.AuditEvent{ProjectID: a.Project.ID, At: now, Action: AuditIssuerDeleted, Target: "issuer:" + i.ID,
		Detail: fmt.Sprintf("name=%q", i.Name)})
	return nil
}

// RuleInput is a rule as a caller writes it.
type RuleInput struct {
	Name       string
	Issuer     string // its id or name
	Conditions map[string]string
	Target     string // "key:<id>" or "role:<name or id>"
	TTL        string // a Go duration; "": DefaultFederatedTTL
}

// FederationRules lists the project's rules by name.
func (a *Access) FederationRules(ctx context.Context) ([]*keyward.FederationRule, error) {
	if err := a.mayReadFederation(); err != nil {
		return nil, err
	}
	return a.svc.Store.FederationRules(ctx, a.Project.ID)
}

// FederationRule returns the rule ref names (its id or name).
func (a *Access) FederationRule(ctx context.Context, ref string) (*keyward.FederationRule, error) {
	if err := a.mayReadFederation(); err != nil {
		return nil, err
	}
	return a.rule(ctx, ref)
}

func (a *Access) rule(ctx context.Context, ref string) (*keyward.FederationRule, error) {
	r, err := a.svc.Store.FederationRule(ctx, a.Project.ID, ref)
	if keyward.ErrorCode(err) == keyward.ENOTFOUND {
		return nil, keyward.Errorf(keyward.ENOTFOUND, "The rule %s was not found in this project.", quotedRef(ref, keyward.PrefixRule))
	}
	return r, err
}

// FormatTTL writes a rule's lifetime as it is typed: "15m", "1h", "90s".
func FormatTTL(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	}
	return d.String()
}

// ParseTTL reads a rule's lifetime: a Go duration from one minute to an hour; "" is the default.
func ParseTTL(s string) (time.Duration, error) {
	if s == "" {
		return DefaultFederatedTTL, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < minFederatedTTL || d > MaxFederatedTTL {
		return 0, fieldErr("ttl", keyward.EINVALID, "The lifetime is a duration from 1m to 1h, such as \"15m\".")
	}
	return d, nil
}

// target resolves a rule's target: a key the caller could manage (they hold every permission it
// holds) or a role they may give.
func (a *Access) target(ctx context.Context, target string) (key, role string, err error) {
	if id, ok := strings.CutPrefix(target, "key:"); ok {
		k, err := a.key(ctx, id)
		if keyward.ErrorCode(err) == keyward.ENOTFOUND {
			return "", "", fieldErr("target", keyward.EINVALID, "%s", keyward.ErrorMessage(err))
		} else if err != nil {
			return "", "", err
		}
		for _, p := range a.svc.Catalog.Filter(k.Own()) {
			if !a.Has(p) {
				return "", "", fieldErr("target", keyward.EFORBIDDEN, "A rule acting as key %q would hold the %q permission, which you do not hold in this project.", k.ID, p)
			}
		}
		return k.ID, "", nil
	}
	if ref, ok := strings.CutPrefix(target, "role:"); ok {
		r, err := a.role(ctx, ref)
		if keyward.ErrorCode(err) == keyward.ENOTFOUND {
			return "", "", fieldErr("target", keyward.EINVALID, "%s", keyward.ErrorMessage(err))
		} else if err != nil {
			return "", "", err
		}
		if err := a.mayGiveRole(r, "a federation rule"); err != nil {
			return "", "", onField("target", err)
		}
		return "", r.ID, nil
	}
	return "", "", fieldErr("target", keyward.EINVALID, "The target is \"key:<API key id>\" or \"role:<role name>\".")
}

// checkRule checks r's conditions against its issuer's preset.
func (a *Access) checkRule(ctx context.Context, r *keyward.FederationRule) error {
	if err := federation.CheckConditions(r.Conditions); err != nil {
		return fieldErr("conditions", keyward.EINVALID, "The conditions: %s.", err)
	}
	i, err := a.svc.Store.FederationIssuer(ctx, a.Project.ID, r.IssuerID)
	if err != nil {
		return err
	}
	p, governed := federation.PresetOf(i.Issuer, i.Preset)
	if err := federation.CheckRuleConditions(r.Conditions, p, governed); err != nil {
		return fieldErr("conditions", keyward.EINVALID, "The conditions: %s.", err)
	}
	return nil
}

func (a *Access) ruleIssuer(ctx context.Context, ref string) (string, error) {
	i, err := a.issuer(ctx, ref)
	if keyward.ErrorCode(err) == keyward.ENOTFOUND {
		return "", fieldErr("issuer", keyward.EINVALID, "%s", keyward.ErrorMessage(err))
	}
	if err != nil {
		return "", err
	}
	return i.ID, nil
}

// CreateFederationRule adds a rule. It needs api-keys-manage; its target must be a key whose
// every permission the caller holds, or a role the caller may give; the caller becomes the
// rule's owner, who bounds a role target. Errors about the input are *FieldError.
func (a *Access) CreateFederationRule(ctx context.Context, in RuleInput) (*keyward.FederationRule, error) {
	if err := a.Require(PermKeysManage); err != nil {
		return nil, err
	}
	if err := checkFederationName(in.Name); err != nil {
		return nil, err
	}
	ttl, err := ParseTTL(in.TTL)
	if err != nil {
		return nil, err
	}
	issuer, err := a.ruleIssuer(ctx, in.Issuer)
	if err != nil {
		return nil, err
	}
	key, role, err := a.target(ctx, in.Target)
	if err != nil {
		return nil, err
	}
	s := a.svc
	id, err := keyward.NewID(s.Rand, keyward.PrefixRule)
	if err != nil {
		return nil, err
	}
	now := s.Now()
	r := &keyward.FederationRule{ID: id, ProjectID: a.Project.ID, Name: in.Name, IssuerID: issuer, Conditions: maps.Clone(in.Conditions),
		TargetKey: key, TargetRole: role, TTL: ttl, Owner: owner(a.caller.Principal), CreatedAt: now, UpdatedAt: now}
	if r.Conditions == nil {
		r.Conditions = map[string]string{}
	}
	if err := a.checkRule(ctx, r); err != nil {
		return nil, err
	}
	if err := s.Store.CreateFederationRule(ctx, r); keyward.ErrorCode(err) == keyward.ECONFLICT {
		return nil, fieldErr("name", keyward.ECONFLICT, "A rule named %q already exists in this project.", in.Name)
	} else if keyward.ErrorCode(err) == keyward.EINVALID {
		return nil, onField("target", err) // deleted meanwhile
	} else if err != nil {
		return nil, err
	}
	s.audit(ctx, a.caller, &keyward.AuditEvent{ProjectID: a.Project.ID, At: now, Action: AuditRuleCreated, Target: "rule:" + id,
		Detail: fmt.Sprintf("name=%q target=%s conditions=%s ttl=%s", r.Name, in.Target, conditionList(r.Conditions), ttl)})
	return r, nil
}

// conditionList is the audit form of conditions: claim=value, by claim.
func conditionList(conds map[string]string) string {
	var out []string
	for _, c := range slices.Sorted(maps.Keys(conds)) {
		out = append(out, fmt.Sprintf("%s=%q", c, conds[c]))
	}
	return strings.Join(out, ",")
}

// RuleChange is an edit of a rule; nil fields stay.
type RuleChange struct {
	Name, Issuer, Target, TTL *string
	Conditions                *map[string]string
}

// UpdateFederationRule edits a rule under CreateFederationRule's rules. An edit that may let
// fewer tokens through (see keyward.FederationRuleChange.Narrows) ends the rule's tokens.
func (a *Access) UpdateFederationRule(ctx context.Context, ref string, in RuleChange) (*keyward.FederationRule, error) {
	if err := a.Require(PermKeysManage); err != nil {
		return nil, err
	}
	r, err := a.rule(ctx, ref)
	if err != nil {
		return nil, err
	}
	var c keyward.FederationRuleChange
	after := *r
	if in.Name != nil {
		if err := checkFederationName(*in.Name); err != nil {
			return nil, err
		}
		c.Name, after.Name = in.Name, *in.Name
	}
	if in.TTL != nil {
		ttl, err := ParseTTL(*in.TTL)
		if err != nil {
			return nil, err
		}
		c.TTL, after.TTL = &ttl, ttl
	}
	if in.Issuer != nil {
		id, err := a.ruleIssuer(ctx, *in.Issuer)
		if err != nil {
			return nil, err
		}
		c.IssuerID, after.IssuerID = &id, id
	}
	if in.Target != nil {
		key, role, err := a.target(ctx, *in.Target)
		if err != nil {
			return nil, err
		}
		c.TargetKey, c.TargetRole, after.TargetKey, after.TargetRole = &key, &role, key, role
	}
	if in.Conditions != nil {
		conds := maps.Clone(*in.Conditions)
		if conds == nil {
			conds = map[string]string{}
		}
		c.Conditions, after.Conditions = &conds, conds
	}
	if err := a.checkRule(ctx, &after); err != nil {
		return nil, err
	}
	s := a.svc
	now := s.Now()
	out, err := s.Store.UpdateFederationRule(ctx, a.Project.ID, r.ID, c, now)
	if keyward.ErrorCode(err) == keyward.ECONFLICT {
		return nil, fieldErr("name", keyward.ECONFLICT, "A rule named %q already exists in this project.", after.Name)
	} else if err != nil {
		return nil, err
	}
	s.audit(ctx, a.caller, &keyward.AuditEvent{ProjectID: a.Project.ID, At: now, Action: AuditRuleUpdated, Target: "rule:" + r.ID,
		Detail: fmt.Sprintf("name=%q conditions=%s ttl=%s narrowed=%t", out.Name, conditionList(out.Conditions), out.TTL, c.Narrows(r))})
	return out, nil
}

// DeleteFederationRule deletes a rule and ends its tokens. It needs api-keys-manage.
func (a *Access) DeleteFederationRule(ctx context.Context, ref string) error {
	if err := a.Require(PermKeysManage); err != nil {
		return err
	}
	r, err := a.rule(ctx, ref)
	if err != nil {
		return err
	}
	s := a.svc
	now := s.Now()
	if err := s.Store.DeleteFederationRule(ctx, a.Project.ID, r.ID, now); err != nil {
		return err
	}
	s.audit(ctx, a.caller, &keyward.AuditEvent{ProjectID: a.Project.ID, At: now, Action: AuditRuleDeleted, Target: "rule:" + r.ID,
		Detail: fmt.Sprintf("name=%q", r.Name)})
	return nil
}

// ExplainToken says what the token endpoint would make of a subject token for this project, and
// which of its rules the token misses and why: for the operator of a workload whose exchange is
// refused with a description that must not reveal the rules. It needs api-keys-view, which
// shows the rules anyway, and spends nothing.
func (a *Access) ExplainToken(ctx context.Context, raw string) (*federation.Explanation, error) {
	if err := a.mayReadFederation(); err != nil {
		return nil, err
	}
	if a.svc.Federation == nil {
		return nil, keyward.Errorf(keyward.EINVALID, "Workload identity federation is not enabled on this server.")
	}
	issuers, err := a.svc.Store.FederationIssuers(ctx, a.Project.ID)
	if err != nil {
		return nil, err
	}
	rules, err := a.svc.Store.FederationRules(ctx, a.Project.ID)
	if err != nil {
		return nil, err
	}
	return a.svc.Federation.Explain(ctx, strings.TrimSpace(raw), issuers, rules, a.svc.Now()), nil
}

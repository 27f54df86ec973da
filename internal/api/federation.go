package api

import (
	"context"
	"net/http"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/internal/federation"
	"github.com/keyward/keyward/internal/manage"
)

func issuerOut(i *keyward.FederationIssuer) client.FederationIssuer {
	out := client.FederationIssuer{ID: i.ID, Name: i.Name, Issuer: i.Issuer, Audiences: nonNil(i.Audiences), Pinned: []string{},
		CreatedAt: i.CreatedAt.UTC(), UpdatedAt: i.UpdatedAt.UTC()}
	if i.JWKSURI != "" {
		out.JWKSURI = &i.JWKSURI
	}
	if i.Preset != "" {
		out.Preset = &i.Preset
	}
	if p, ok := federation.PresetOf(i.Issuer, i.Preset); ok {
		out.Pinned = append(out.Pinned, p.Pinned...)
	}
	return out
}

// ruleOut is a rule on the wire; a role target is named by the role's name.
func (s *Server) ruleOut(ctx context.Context, a *manage.Access, r *keyward.FederationRule) (client.FederationRule, error) {
	out := client.FederationRule{ID: r.ID, Name: r.Name, Issuer: r.IssuerID, Conditions: r.Conditions, TTL: manage.FormatTTL(r.TTL),
		Owner: r.Owner, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(), Target: "key:" + r.TargetKey}
	if out.Conditions == nil {
		out.Conditions = map[string]string{}
	}
	if r.TargetRole != "" {
		role, err := s.Store.Role(ctx, a.Project.ID, r.TargetRole)
		if err != nil {
			return out, err
		}
		out.Target = "role:" + role.Name
	}
	return out, nil
}

func (s *Server) listIssuers(w http.ResponseWriter, r *http.Request, a *manage.Access) error {
	list, err := a.FederationIssuers(r.Context())
	if err != nil {
		return err
	}
	data := make([]client.FederationIssuer, 0, len(list))
	for _, i := range list {
		data = append(data, issuerOut(i))
	}
	return writeJSON(w, http.StatusOK, client.Page[client.FederationIssuer]{Data: data})
}

func (s *Server) createIssuer(w http.ResponseWriter, r *http.Request, a *manage.Access) error {
	var req client.CreateFederationIssuerRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	in := manage.IssuerInput{Name: req.Name, Issuer: req.Issuer, Audiences: req.Audiences, Preset: req.Preset}
	if req.JWKSURI != nil {
		in.JWKSURI = *req.JWKSURI
	}
	i, err := a.CreateFederationIssuer(r.Context(), in)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/projects/"+a.Project.ID+"/federation/issuers/"+i.ID)
	return writeJSON(w, http.StatusCreated, issuerOut(i))
}

func (s *Server) updateIssuer(w http.ResponseWriter, r *http.Request, a *manage.Access) error {
	var req client.UpdateFederationIssuerRequest
	fields, err := decodePatch(w, r, &req)
	if err != nil {
		return err
	}
	if err := refuseNull(fields, "name", "issuer", "audiences"); err != nil {
		return err
	}
	c := manage.IssuerChange{Name: req.Name, Issuer: req.Issuer, Audiences: req.Audiences, JWKSURI: req.JWKSURI, Preset: req.Preset}
	none := ""
	if fields["jwks_uri"] {
		c.JWKSURI = &none // null: back to discovery
	}
	if fields["preset"] {
		c.Preset = &none
	}
	i, err := a.UpdateFederationIssuer(r.Context(), r.PathValue("issuer"), c)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, issuerOut(i))
}

func (s *Server) deleteIssuer(w http.ResponseWriter, r *http.Request, a *manage.Access) error {
	if err := a.DeleteFederationIssuer(r.Context(), r.PathValue("issuer")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listRules(w http.ResponseWriter, r *http.Request, a *manage.Access) error {
	list, err := a.FederationRules(r.Context())
	if err != nil {
		return err
	}
	data := make([]client.FederationRule, 0, len(list))
	for _, rule := range list {
		out, err := s.ruleOut(r.Context(), a, rule)
		if err != nil {
			return err
		}
		data = append(data, out)
	}
	return writeJSON(w, http.StatusOK, client.Page[client.FederationRule]{Data: data})
}

func (s *Server) createRule(w http.ResponseWriter, r *http.Request, a *manage.Access) error {
	var req client.CreateFederationRuleRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	rule, err := a.CreateFederationRule(r.Context(), manage.RuleInput{Name: req.Name, Issuer: req.Issuer, Conditions: req.Conditions,
		Target: req.Target, TTL: req.TTL})
	if err != nil {
		return err
	}
	out, err := s.ruleOut(r.Context(), a, rule)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/projects/"+a.Project.ID+"/federation/rules/"+rule.ID)
	return writeJSON(w, http.StatusCreated, out)
}

func (s *Server) updateRule(w http.ResponseWriter, r *http.Request, a *manage.Access) error {
	var req client.UpdateFederationRuleRequest
	fields, err := decodePatch(w, r, &req)
	if err != nil {
		return err
	}
	if err := refuseNull(fields, "name", "issuer", "target", "ttl", "conditions"); err != nil {
		return err
	}
	rule, err := a.UpdateFederationRule(r.Context(), r.PathValue("rule"), manage.RuleChange{
		Name: req.Name, Issuer: req.Issuer, Target: req.Target, TTL: req.TTL, Conditions: req.Conditions,
	})
	if err != nil {
		return err
	}
	out, err := s.ruleOut(r.Context(), a, rule)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) deleteRule(w http.ResponseWriter, r *http.Request, a *manage.Access) error {
	if err := a.DeleteFederationRule(r.Context(), r.PathValue("rule")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

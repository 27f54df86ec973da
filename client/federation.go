package client

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// FederationIssuer is an OpenID provider a project trusts to vouch for its workloads.
type FederationIssuer struct {
	ID        string   `json:"id"`
	Name      string   `json:"name"`
	Issuer    string   `json:"issuer"`
	Audiences []string `json:"audiences"`
	JWKSURI   *string  `json:"jwks_uri"` // nil: found through the issuer's discovery document
	Preset    *string  `json:"preset"`
	// Pinned lists the claims every rule on the issuer must pin to an exact value.
	Pinned    []string  `json:"pinned_claims"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// CreateFederationIssuerRequest is the body of CreateFederationIssuer.
type CreateFederationIssuerRequest struct {
	Name      string   `json:"name"`
	Issuer    string   `json:"issuer,omitempty"` // may be left to the preset
	Audiences []string `json:"audiences"`
	JWKSURI   *string  `json:"jwks_uri,omitempty"`
	Preset    string   `json:"preset,omitempty"` // github-actions, gitlab-ci or kubernetes
}

// UpdateFederationIssuerRequest is the body of UpdateFederationIssuer: set fields change. An
// empty JWKSURI goes back to discovery.
type UpdateFederationIssuerRequest struct {
	Name      *string   `json:"name,omitempty"`
	Issuer    *string   `json:"issuer,omitempty"`
	Audiences *[]string `json:"audiences,omitempty"`
	JWKSURI   *string   `json:"jwks_uri,omitempty"`
	Preset    *string   `json:"preset,omitempty"`
}

// FederationRule turns the identity tokens of an issuer that meet its conditions into keyward
// tokens of its target.
type FederationRule struct {
	ID         string            `json:"id"`
	Name       string            `json:"name"`
	Issuer     string            `json:"issuer"` // the issuer's id
	Conditions map[string]string `json:"conditions"`
	Target     string            `json:"target"` // "key:<id>" or "role:<name>"
	TTL        string            `json:"ttl"`
	Owner      string            `json:"owner"` // the user whose permissions bound a role target
	CreatedAt  time.Time         `json:"created_at"`
	UpdatedAt  time.Time         `json:"updated_at"`
}

// CreateFederationRuleRequest is the body of CreateFederationRule.
type CreateFederationRuleRequest struct {
	Name       string            `json:"name"`
	Issuer     string            `json:"issuer"` // the issuer's id or name
	Conditions map[string]string `json:"conditions"`
	Target     string            `json:"target"`
	TTL        string            `json:"ttl,omitempty"` // a Go duration up to 1h; default 15m
}

// UpdateFederationRuleRequest is the body of UpdateFederationRule: set fields change.
type UpdateFederationRuleRequest struct {
	Name       *string            `json:"name,omitempty"`
	Issuer     *string            `json:"issuer,omitempty"`
	Conditions *map[string]string `json:"conditions,omitempty"`
	Target     *string            `json:"target,omitempty"`
	TTL        *string            `json:"ttl,omitempty"`
}

// FederationIssuers lists the issuers a project trusts, by name.
func (c *Client) FederationIssuers(ctx context.Context, project string) ([]FederationIssuer, error) {
	var out Page[FederationIssuer]
	if err := c.do(ctx, http.MethodGet, projectPath(project)+"/federation/issuers", nil, nil, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return out.Data, nil
}

// CreateFederationIssuer trusts an issuer in a project.
func (c *Client) CreateFederationIssuer(ctx context.Context, project string, req CreateFederationIssuerRequest) (*FederationIssuer, error) {
	var out FederationIssuer
	if err := c.do(ctx, http.MethodPost, projectPath(project)+"/federation/issuers", nil, req, &out, http.StatusCreated); err != nil {
		return nil, err
	}
	return &out, nil
}

// UpdateFederationIssuer edits an issuer (by id or name); a change of what its tokens are
// checked against ends the tokens of its rules.
func (c *Client) UpdateFederationIssuer(ctx context.Context, project, issuer string, req UpdateFederationIssuerRequest) (*FederationIssuer, error) {
	var out FederationIssuer
	if err := c.do(ctx, http.MethodPatch, projectPath(project)+"/federation/issuers/"+url.PathEscape(issuer), nil, req, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteFederationIssuer stops trusting an issuer: its rules go and their tokens end.
func (c *Client) DeleteFederationIssuer(ctx context.Context, project, issuer string) error {
	return c.do(ctx, http.MethodDelete, projectPath(project)+"/federation/issuers/"+url.PathEscape(issuer), nil, nil, nil, http.StatusNoContent)
}

// FederationRules lists a project's federation rules, by name.
func (c *Client) FederationRules(ctx context.Context, project string) ([]FederationRule, error) {
	var out Page[FederationRule]
	if err := c.do(ctx, http.MethodGet, projectPath(project)+"/federation/rules", nil, nil, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return out.Data, nil
}

// CreateFederationRule adds a federation rule to a project.
func (c *Client) CreateFederationRule(ctx context.Context, project string, req CreateFederationRuleRequest) (*FederationRule, error) {
	var out FederationRule
	if err := c.do(ctx, http.MethodPost, projectPath(project)+"/federation/rules", nil, req, &out, http.StatusCreated); err != nil {
		return nil, err
	}
	return &out, nil
}

// UpdateFederationRule edits a rule (by id or name); an edit that may let fewer tokens through
// ends the rule's tokens, through the revocation feed.
func (c *Client) UpdateFederationRule(ctx context.Context, project, rule string, req UpdateFederationRuleRequest) (*FederationRule, error) {
	var out FederationRule
	if err := c.do(ctx, http.MethodPatch, projectPath(project)+"/federation/rules/"+url.PathEscape(rule), nil, req, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteFederationRule deletes a rule; its tokens end within a second through the feed.
func (c *Client) DeleteFederationRule(ctx context.Context, project, rule string) error {
	return c.do(ctx, http.MethodDelete, projectPath(project)+"/federation/rules/"+url.PathEscape(rule), nil, nil, nil, http.StatusNoContent)
}

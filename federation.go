package keyward

import (
	"context"
	"time"
)

// Identifier prefixes of workload identity federation.
const (
	PrefixIssuer = "fis_"
	PrefixRule   = "fru_"
)

// SessionFederated is the kind of the session behind a federated token whose rule targets a
// role: it holds the role's permissions that the rule's owner holds, and its subject is
// "federated:<rule id>". A rule that targets a key starts sessions of that key instead.
const SessionFederated = "federated"

// AuditTokenFederated records a token issued for a workload's identity token; Detail names the
// rule and the subject token's issuer and subject.
const AuditTokenFederated = "token.federated"

// FederationIssuer is an OpenID provider a project trusts to vouch for its workloads: a CI
// service, a Kubernetes cluster, a cloud, or another keyward.
type FederationIssuer struct {
	ID        string
	ProjectID string
	Name      string // unique within the project
	Issuer    string // the iss its tokens carry, exactly
	Audiences []string
	JWKSURI   string // "": found through the issuer's discovery document
	// Preset is "github-actions", "gitlab-ci", "kubernetes" or "": it names the claims every rule
	// on the issuer must pin.
	Preset    string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// FederationRule says which subject tokens of an issuer get a token, and what that token holds.
type FederationRule struct {
	ID         string
	ProjectID  string
	Name       string // unique within the project
	IssuerID   string
	Conditions map[string]string // claim name → exact value or a * glob; every one must hold
	TargetKey  string            // the key the token acts as, or ""
	TargetRole string            // the role (id) the token holds, or ""
	TTL        time.Duration
	// Owner is the user who made the rule; a role target holds only what the owner holds.
	Owner     string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// FederationRuleChange is an edit of a rule: each non-nil field replaces the rule's. A change
// of conditions, target or issuer (Narrows) ends the rule's tokens.
type FederationRuleChange struct {
	Name       *string
	IssuerID   *string
	Conditions *map[string]string
	TargetKey  *string // with TargetRole: exactly one of the two is non-empty after the change
	TargetRole *string
	TTL        *time.Duration
}

// Narrows reports whether the change may take from what the rule lets through: anything but a
// new name or a longer lifetime.
func (c FederationRuleChange) Narrows(before *FederationRule) bool {
	return c.IssuerID != nil || c.Conditions != nil || c.TargetKey != nil || c.TargetRole != nil ||
		c.TTL != nil && *c.TTL < before.TTL
}

// FederationStore keeps trusted issuers, rules and the identity tokens already spent.
type FederationStore interface {
	// CreateFederationIssuer stores i; ECONFLICT when the name or the issuer URL is taken in the
	// project, ENOTFOUND when the project does not exist.
	CreateFederationIssuer(ctx context.Context, i *FederationIssuer) error
	// FederationIssuer returns the issuer of projectID that ref names (its id or name).
	FederationIssuer(ctx context.Context, projectID, ref string) (*FederationIssuer, error)
	// FederationIssuers lists a project's issuers by name.
	FederationIssuers(ctx context.Context, projectID string) ([]*FederationIssuer, error)
	// IssuersByURL lists every project's issuers whose Issuer is iss, for the token endpoint.
	IssuersByURL(ctx context.Context, iss string) ([]*FederationIssuer, error)
	// UpdateFederationIssuer replaces the issuer's fields (not its id, project or creation
	// time). A change of the URL, audiences or JWKS URI ends the tokens of its rules.
	UpdateFederationIssuer(ctx context.Context, i *FederationIssuer, at time.Time) error
	// DeleteFederationIssuer deletes the issuer with its rules and ends their tokens; ENOTFOUND
	// when unknown.
	DeleteFederationIssuer(ctx context.Context, projectID, id string, at time.Time) error

	// CreateFederationRule stores r; ECONFLICT on a taken name, EINVALID when its issuer, key or
	// role is not of the project.
	CreateFederationRule(ctx context.Context, r *FederationRule) error
	FederationRule(ctx context.Context, projectID, ref string) (*FederationRule, error)
	FederationRules(ctx context.Context, projectID string) ([]*FederationRule, error)
	// RulesOfIssuers lists the rules on any of the issuer ids, for the token endpoint.
	RulesOfIssuers(ctx context.Context, issuerIDs []string) ([]*FederationRule, error)
	// UpdateFederationRule applies change and returns the rule as it now is; when the change
	// narrows it, the rule's tokens end in the same transaction (reason rule_narrowed).
	UpdateFederationRule(ctx context.Context, projectID, id string, change FederationRuleChange, at time.Time) (*FederationRule, error)
	// DeleteFederationRule deletes the rule and ends its tokens (reason rule_deleted).
	DeleteFederationRule(ctx context.Context, projectID, id string, at time.Time) error

	// CreateFederatedSession stores the session of a federated token, with first as its refresh
	// token (never handed out), tied to ruleID, and spends the identity token's jti (nil: it has
	// none), in one transaction. The rule must still exist when it commits (ENOTFOUND), and so
	// must the key or, for a role target, the enabled owner's membership, as CreateSession checks
	// them. ErrJTISpent when the jti was spent already: of concurrent calls with one jti, one
	// succeeds, and a refused call spends nothing.
	CreateFederatedSession(ctx context.Context, s *Session, first *RefreshToken, ruleID string, jti *SpentJTI) error
}

// SpentJTI is an identity token's jti, accepted once while the token lives: it is kept until
// Expires, when the token is refused as expired anyway, and then swept.
type SpentJTI struct {
	Issuer, JTI string
	Expires     time.Time
}

// ErrJTISpent is CreateFederatedSession's answer to an identity token used before.
var ErrJTISpent = &Error{Code: ECONFLICT, Message: "The identity token was already used."}

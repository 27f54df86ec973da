package oauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/accesstoken"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/internal/authn"
	"github.com/keyward/keyward/internal/federation"
	"github.com/keyward/keyward/internal/token"
)

// FederationStore is the part of the store the federated grants read and write.
type FederationStore interface {
	IssuersByURL(ctx context.Context, iss string) ([]*keyward.FederationIssuer, error)
	RulesOfIssuers(ctx context.Context, issuerIDs []string) ([]*keyward.FederationRule, error)
	Role(ctx context.Context, projectID, ref string) (*keyward.Role, error)
	CreateFederatedSession(ctx context.Context, s *keyward.Session, first *keyward.RefreshToken, ruleID string, jti *keyward.SpentJTI) error
}

// federatedGrant trades a workload's identity token for an access token of a federation rule's
// target: RFC 8693's token exchange (exchange set) or RFC 7523's JWT bearer grant.
type federatedGrant struct{ exchange bool }

// federated is what a federated grant found, for commit and issue.
type federated struct {
	rule     *keyward.FederationRule
	subject  *federation.Token
	exchange bool // RFC 8693, whose answer says what it issued
}

// subjectToken is the identity token the request presents.
func (g federatedGrant) subjectToken(req *request) string {
	if g.exchange {
		return req.form["subject_token"]
	}
	return req.form["assertion"]
}

func (g federatedGrant) check(s *Server, req *request) error {
	if s.Federation == nil {
		return oauthError(http.StatusBadRequest, errUnsupportedGrantType, unsupportedGrant)
	}
	if req.client.Present {
		return invalidRequest("A federated grant takes no client authentication: the subject token is the credential.")
	}
	if !g.exchange {
		if req.form["assertion"] == "" {
			return invalidRequest("The assertion parameter is required.")
		}
		return nil
	}
	if req.form["subject_token"] == "" || req.form["subject_token_type"] == "" {
		return invalidRequest("The subject_token and subject_token_type parameters are required.")
	}
	switch req.form["subject_token_type"] {
	case client.TokenTypeJWT, client.TokenTypeIDToken:
	default:
		return invalidRequest("The subject_token_type must be " + client.TokenTypeJWT + " or " + client.TokenTypeIDToken + ".")
	}
	if _, ok := req.form["actor_token"]; ok {
		return invalidRequest("Delegation (actor_token) is not supported.")
	}
	if t, ok := req.form["requested_token_type"]; ok && t != client.TokenTypeAccessToken {
		return invalidRequest("Only an access token (" + client.TokenTypeAccessToken + ") can be requested.")
	}
	return nil
}

// A signed token cannot be guessed: a valid one is exchanged even from a throttled address.
func (g federatedGrant) unguessable(req *request) bool {
	return strings.Count(g.subjectToken(req), ".") == 2
}

// federationRefusal is a refused subject token: invalid_grant naming the failed check, counted.
func federationRefusal(err error, projectID string) *refusal {
	r := failedAttempt(invalidGrant(sentence(err)))
	if projectID != "" {
		r.event = &keyward.AuditEvent{ProjectID: projectID, Action: keyward.AuditExchangeFailed, Target: "federation", Detail: err.Error()}
	}
	return r
}

// sentence makes an error message a description: capitalised, with a full stop.
func sentence(err error) string {
	m := err.Error()
	return strings.ToUpper(m[:1]) + m[1:] + "."
}

func (g federatedGrant) identify(ctx context.Context, s *Server, req *request) (*subject, error) {
	raw := g.subjectToken(req)
	iss, err := federation.Peek(raw)
	if err != nil {
		return nil, federationRefusal(err, "")
	}
	issuers, err := s.Store.IssuersByURL(ctx, iss)
	if err != nil {
		return nil, storeError(err)
	}
	if len(issuers) == 0 {
		return nil, federationRefusal(federation.ErrUnknownIssuer, "")
	}
	tok, trusted, err := s.Federation.Verify(ctx, raw, issuers, req.now)
	var down *federation.Unavailable
	switch {
	case errors.As(err, &down):
		e := unavailable(err)
		e.Description = "The subject token's issuer could not be reached to fetch its keys; retry later."
		e.RetryAfter = max(down.RetryAfter, time.Second)
		return nil, e
	case errors.Is(err, federation.ErrDiscoveryIssuer):
		return nil, federationRefusal(errors.New("the issuer's discovery document names another issuer than the subject token's"), "")
	case err != nil:
		return nil, federationRefusal(err, "")
	}
	rule, err := s.matchRule(ctx, req, tok, trusted)
	if err != nil {
		return nil, err
	}
	return s.federatedSubject(ctx, g, req, rule, tok)
}

// matchRule finds the one rule of the trusted issuers that tok meets, in the project the request
// names if it names one.
func (s *Server) matchRule(ctx context.Context, req *request, tok *federation.Token, trusted []*keyward.FederationIssuer) (*keyward.FederationRule, error) {
	ids := make([]string, len(trusted))
	for n, i := range trusted {
		ids[n] = i.ID
	}
	audited := ""
	if len(trusted) == 1 {
		audited = trusted[0].ProjectID // a refusal is recorded where it is unambiguous
	}
	rules, err := s.Store.RulesOfIssuers(ctx, ids)
	if err != nil {
		return nil, storeError(err)
	}
	want, named := req.form["project"]
	var matched []*keyward.FederationRule
	for _, r := range rules {
		if len(federation.Match(r.Conditions, tok.Claims)) > 0 {
			continue
		}
		if named {
			p, err := s.projectOf(ctx, want)
			if err != nil {
				return nil, err
			}
			if p != r.ProjectID {
				continue
			}
		}
		matched = append(matched, r)
	}
	switch {
	case len(matched) == 0:
		return nil, federationRefusal(federation.ErrNoMatchingRule, audited)
	case len(matched) > 1 && matched[0].ProjectID != matched[1].ProjectID:
		return nil, invalidRequest("The subject token is let in by rules of several projects: name one with the project parameter.")
	case len(matched) > 1:
		return nil, federationRefusal(errors.New("the subject token meets several rules of the project; their conditions must not overlap"), matched[0].ProjectID)
	}
	return matched[0], nil
}

// projectOf is the id of the project ref names (an id or a name); "" when there is none, which
// matches no rule.
func (s *Server) projectOf(ctx context.Context, ref string) (string, error) {
	var p *keyward.Project
	var err error
	if strings.HasPrefix(ref, keyward.PrefixProject) {
		p, err = s.Store.ProjectByID(ctx, ref)
	} else {
		p, err = s.Store.ProjectByName(ctx, ref)
	}
	if keyward.ErrorCode(err) == keyward.ENOTFOUND {
		return "", nil
	} else if err != nil {
		return "", storeError(err)
	}
	return p.ID, nil
}

// federatedSubject is the session a token of rule would rest on, and what it holds now: a key
// target's session (the key's networks, expiry and owner bound apply as at an exchange), or a
// session of the rule holding the role's permissions that the rule's owner holds.
func (s *Server) federatedSubject(ctx context.Context, g federatedGrant, req *request, rule *keyward.FederationRule, tok *federation.Token) (*subject, error) {
	exp := req.now.Add(min(rule.TTL, s.AccessTTL))
	if tok.Expiry.Before(exp) {
		exp = tok.Expiry // never past the identity token's own expiry
	}
	sess := &keyward.Session{ProjectID: rule.ProjectID, CreatedAt: req.now, ExpiresAt: exp}
	fed := &federated{rule: rule, subject: tok, exchange: g.exchange}
	if !exp.After(req.now) {
		return nil, federationRefusal(federation.ErrExpired, "")
	}
	refused := func(why string) *refusal {
		return federationRefusal(fmt.Errorf("the rule's target cannot be used now: %s", why), rule.ProjectID)
	}
	if rule.TargetKey != "" {
		k, err := s.Store.APIKey(ctx, rule.TargetKey)
		if keyward.ErrorCode(err) == keyward.ENOTFOUND || err == nil && k.ProjectID != rule.ProjectID {
			return nil, refused("the key was deleted")
		} else if err != nil {
			return nil, storeError(err)
		}
		switch {
		case k.DisabledAt != nil:
			return nil, refused("the key is disabled")
		case k.Expired(req.now):
			return nil, refused("the key has expired")
		case !k.AllowsIP(req.ip):
			return nil, &refusal{answer: keyOutsideNetworks(), counted: true, event: &keyward.AuditEvent{
				ProjectID: k.ProjectID, Actor: "key:" + k.ID, Action: keyward.AuditExchangeFailed,
				Target: "key:" + k.ID, Detail: "address not allowed (federation rule " + rule.ID + ")"}}
		}
		if k.ExpiresAt != nil && k.ExpiresAt.Before(sess.ExpiresAt) {
			sess.ExpiresAt = *k.ExpiresAt
		}
		sess.Kind, sess.KeyID, sess.KeyRevision, sess.SecretGen = keyward.SessionKey, k.ID, k.Revision, k.SecretGen
		held, err := s.authz().Permissions(ctx, &authn.Principal{Subject: sess.Subject(), Session: sess, Key: k}, k.ProjectID)
		if keyward.ErrorCode(err) == keyward.ENOTFOUND {
			return nil, refused("the key's owner is no longer a member")
		} else if err != nil {
			return nil, storeError(err)
		}
		// The rule hands the key on to outside workloads: it does so only while whoever made
		// it could still hand on what the key holds.
		owner, err := s.ruleOwnerHeld(ctx, rule, refused)
		if err != nil {
			return nil, err
		}
		return &subject{held: keyward.Intersect(held, owner), key: k, session: sess, federated: fed}, nil
	}
	sess.Kind, sess.KeyID, sess.UserID = keyward.SessionFederated, rule.ID, rule.Owner
	role, err := s.Store.Role(ctx, rule.ProjectID, rule.TargetRole)
	if keyward.ErrorCode(err) == keyward.ENOTFOUND {
		return nil, refused("the role was deleted")
	} else if err != nil {
		return nil, storeError(err)
	}
	owner, err := s.ruleOwnerHeld(ctx, rule, refused)
	if err != nil {
		return nil, err
	}
	return &subject{held: keyward.Intersect(owner, role.Permissions), session: sess, federated: fed}, nil
}

// ruleOwnerHeld is what the rule's owner holds in its project now, which bounds every token of
// the rule; refused when the owner is gone, disabled or no longer a member.
func (s *Server) ruleOwnerHeld(ctx context.Context, rule *keyward.FederationRule, refused func(string) *refusal) ([]string, error) {
	u, err := s.Store.UserByID(ctx, rule.Owner)
	if keyward.ErrorCode(err) == keyward.ENOTFOUND || err == nil && u.Disabled {
		return nil, refused("the rule's owner is gone")
	} else if err != nil {
		return nil, storeError(err)
	}
	owner := &keyward.Session{Kind: keyward.SessionUser, UserID: u.ID}
	held, err := s.authz().Permissions(ctx, &authn.Principal{Subject: owner.Subject(), Session: owner, User: u}, rule.ProjectID)
	if keyward.ErrorCode(err) == keyward.ENOTFOUND || keyward.ErrorCode(err) == keyward.EFORBIDDEN {
		return nil, refused("the rule's owner is no longer a member")
	} else if err != nil {
		return nil, storeError(err)
	}
	return held, nil
}

// commit stores the session, tied to its rule so that deleting or narrowing the rule ends the
// token, and spends the subject token's jti, if it has one, in the same transaction: an exchange
// started again because the key changed meanwhile has spent nothing. The session's refresh token is random
// and never handed out: a federated token is not refreshed, the workload presents a new identity
// token instead.
func (g federatedGrant) commit(ctx context.Context, s *Server, req *request, sub *subject, narrowed []string) ([]string, error) {
	fed := sub.federated
	var jti *keyward.SpentJTI
	if fed.subject.JTI != "" {
		jti = &keyward.SpentJTI{Issuer: fed.subject.Issuer, JTI: fed.subject.JTI, Expires: fed.subject.Expiry.Add(federation.Leeway)}
	}
	sub.session.Scope = narrowed
	id, err := keyward.NewSessionID(req.now, s.Rand)
	if err != nil {
		return nil, serverError(err)
	}
	sub.session.ID = id
	_, hash, err := token.NewRefreshToken(s.Rand, id)
	if err != nil {
		return nil, serverError(err)
	}
	sub.rt = &keyward.RefreshToken{Hash: hash, SessionID: id, IssuedAt: req.now, ExpiresAt: sub.session.ExpiresAt}
	err = s.Store.CreateFederatedSession(ctx, sub.session, sub.rt, fed.rule.ID, jti)
	switch {
	case errors.Is(err, keyward.ErrJTISpent):
		return nil, federationRefusal(federation.ErrReplayed, fed.rule.ProjectID)
	case keyward.ErrorCode(err) == keyward.ECONFLICT && sub.key != nil:
		s.cachedKeys.drop(sub.key.ID)
		return nil, errKeyChanged
	case keyward.ErrorCode(err) == keyward.ENOTFOUND, keyward.ErrorCode(err) == keyward.EREVOKED:
		return nil, federationRefusal(errors.New("the rule or its target changed while the token was exchanged"), fed.rule.ProjectID)
	case err != nil:
		return nil, storeError(err)
	}
	sub.succeeded = func(ctx context.Context, sess *keyward.Session) {
		s.audit(ctx, &keyward.AuditEvent{ProjectID: fed.rule.ProjectID, At: req.now, IP: req.ipKey, Actor: sess.Subject(),
			Action: keyward.AuditTokenFederated, Target: "rule:" + fed.rule.ID,
			Detail: fmt.Sprintf("issuer=%q subject=%q session=%s", fed.subject.Issuer, fed.subject.Subject, sess.ID)})
	}
	return effectiveScope(sub.held, narrowed), nil
}

// claims adds to an access token's claims who the workload is (RFC 8693 §4.1) and the rule that
// let it in.
func (fed *federated) claims(c *token.Claims) {
	c.Act = &accesstoken.Actor{Subject: fed.subject.Subject, Issuer: fed.subject.Issuer}
	c.FederationRule = fed.rule.ID
}

// response drops the refresh token nobody may use and names what a token exchange issued.
func (fed *federated) response(resp *client.TokenResponse) {
	resp.RefreshToken, resp.RefreshExpiresIn = "", 0
	if fed.exchange {
		resp.IssuedTokenType = client.TokenTypeAccessToken
	}
}

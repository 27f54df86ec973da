package oauth

import (
	"context"
	"errors"
	"net/http"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/apikey"
	"github.com/keyward/keyward/internal/authn"
	"github.com/keyward/keyward/internal/manage"
)

// clientCredentials exchanges an API key for a session of the key (RFC 6749 §4.4).
type clientCredentials struct{ startsSession }

func (clientCredentials) check(s *Server, req *request) error {
	if req.client.Secret == "" {
		return keyRequired(req.client.Basic)
	}
	return nil
}

func (clientCredentials) identify(ctx context.Context, s *Server, req *request) (*subject, error) {
	k := req.key
	if err := dpopRequired(req, k); err != nil {
		return nil, err
	}
	if !k.AllowsIP(req.ip) {
		return nil, &refusal{answer: keyOutsideNetworks(), counted: true, event: &keyward.AuditEvent{
			ProjectID: k.ProjectID, Actor: "key:" + k.ID, Action: keyward.AuditExchangeFailed,
			Target: "key:" + k.ID, Detail: "address not allowed"}}
	}
	sess := &keyward.Session{Kind: keyward.SessionKey, KeyID: k.ID, KeyRevision: k.Revision, SecretGen: req.keyGen,
		ProjectID: k.ProjectID, CreatedAt: req.now, ExpiresAt: req.now.Add(s.SessionMaxAge)}
	if k.ExpiresAt != nil && k.ExpiresAt.Before(sess.ExpiresAt) {
		sess.ExpiresAt = *k.ExpiresAt
	}
	// What the key holds is bounded by its owner's membership, read now (the key may be cached;
	// CreateSession refuses a key disabled since).
	who := &authn.Principal{Subject: sess.Subject(), Session: sess, Key: k}
	held, err := s.authz().Permissions(ctx, who, k.ProjectID)
	if keyward.ErrorCode(err) == keyward.ENOTFOUND {
		return nil, keyRefusal(req, k.ID, k.ProjectID, "owner no longer a member")
	} else if err != nil {
		return nil, storeError(err)
	}
	return &subject{held: held, key: k, session: sess}, nil
}

// passwordGrant signs a person in (RFC 6749 §4.3), for keyward's own CLI and dashboard.
type passwordGrant struct{ startsSession }

func (passwordGrant) check(s *Server, req *request) error {
	if !s.PasswordGrant {
		return oauthError(http.StatusBadRequest, errUnsupportedGrantType, "The password grant is disabled on this server.")
	}
	if req.client.Present {
		return invalidRequest("The password grant takes no client authentication.")
	}
	if req.form["username"] == "" || req.form["password"] == "" {
		return invalidRequest("The username and password parameters are required.")
	}
	return nil
}

// identify signs in through authn.Login, the one home of password sign-ins (the dashboard's
// too), which throttles them per user, and counts and audits their failures and successes.
func (passwordGrant) identify(ctx context.Context, s *Server, req *request) (*subject, error) {
	attempt := &authn.Attempt{Email: req.form["username"], Password: req.form["password"], IP: req.ip}
	login := s.login()
	u, err := login.Password(ctx, attempt)
	var wait *authn.Throttled
	switch {
	case errors.As(err, &wait):
		return nil, throttled(wait.RetryAfter)
	case keyward.ErrorCode(err) == keyward.EUNAUTHORIZED:
		return nil, invalidGrant(authn.WrongCredentials)
	case errors.Is(err, authn.ErrPasswordCheck):
		return nil, serverError(err)
	case err != nil:
		return nil, storeError(err)
	}
	if err := secondFactor(ctx, login, attempt, u, req); err != nil {
		return nil, err
	}
	ref, narrow := req.form["project"]
	sub, err := s.userSubject(ctx, req, u, ref, narrow)
	if err != nil {
		return nil, err
	}
	sub.succeeded = func(ctx context.Context, sess *keyward.Session) {
		login.Succeeded(ctx, attempt, u, sess.ProjectID)
	}
	return sub, nil
}

// userSubject is a new session of the user u, narrowed to the project ref names when narrow is
// set (the user must be a member there; the session then holds the membership's permissions).
func (s *Server) userSubject(ctx context.Context, req *request, u *keyward.User, ref string, narrow bool) (*subject, error) {
	sub := &subject{
		session: &keyward.Session{Kind: keyward.SessionUser, UserID: u.ID, CreatedAt: req.now, ExpiresAt: req.now.Add(s.SessionMaxAge)},
	}
	if narrow {
		// Not narrowed yet, so the user holds their membership's permissions there.
		who := &authn.Principal{Subject: sub.session.Subject(), Session: sub.session, User: u}
		p, held, err := s.authz().ResolveProject(ctx, who, ref)
		if keyward.ErrorCode(err) == keyward.ENOTFOUND {
			return nil, oauthError(http.StatusBadRequest, errInvalidScope, "Unknown project, or you are not a member of it.")
		} else if keyward.ErrorCode(err) == keyward.EFORBIDDEN {
			return nil, projectRefused(err)
		} else if err != nil {
			return nil, storeError(err)
		}
		sub.session.ProjectID, sub.held = p.ID, held.Perms
	}
	return sub, nil
}

// login is the password check the dashboard shares.
func (s *Server) login() authn.Login {
	return authn.Login{Store: s.Store, Passwords: s.Passwords, ByIP: s.ByIP, ByUser: s.ByUser, Trust: s.Trust, Logger: s.Logger, Now: s.Now,
		SecondFactors: s.SecondFactors}
}

// authz answers what a user or a key may do in a project, as /v1 and the dashboard answer it.
func (s *Server) authz() manage.Authorizer {
	return manage.Authorizer{Store: s.Store, Catalog: s.Catalog}
}

// authenticateKey checks the API key a request presents as its client secret, after the
// request passed throttle. Its refusals go through refuse. cached allows the key cache, which is
// safe only when a write transaction that checks the key follows (see keyCache).
func (s *Server) authenticateKey(ctx context.Context, req *request, cached bool) (*keyward.APIKey, error) {
	c := req.client
	if c.Secret == "" {
		return nil, keyRequired(c.Basic)
	}
	id := req.keyID
	if id == "" {
		return nil, keyRefusal(req, "", "", "malformed key")
	}
	if c.ID != "" && c.ID != id {
		return nil, keyRefusal(req, id, "", "client_id does not match the key")
	}
	var k *keyward.APIKey
	var err error
	if cached {
		k, err = s.apiKey(ctx, id)
	} else {
		k, err = s.Store.APIKey(ctx, id)
	}
	if keyward.ErrorCode(err) == keyward.ENOTFOUND {
		return nil, keyRefusal(req, id, "", "unknown or deleted key")
	} else if err != nil {
		return nil, storeError(err)
	}
	h := apikey.Hash(c.Secret)
	current, previous := k.MatchSecret(h)
	if cached && !current && !previous {
		// The key may have been rolled since it was cached: a secret it does not know is
		// checked once more against the key as stored.
		s.cachedKeys.drop(id)
		if k, err = s.apiKey(ctx, id); keyward.ErrorCode(err) == keyward.ENOTFOUND {
			return nil, keyRefusal(req, id, "", "unknown or deleted key")
		} else if err != nil {
			return nil, storeError(err)
		}
		current, previous = k.MatchSecret(h)
	}
	switch {
	case current:
		req.keyGen = k.SecretGen
	case previous && k.PreviousValid(req.now):
		req.keyGen = k.SecretGen - 1
	case previous:
		return nil, keyRefusal(req, id, k.ProjectID, "rolled secret past its grace")
	default:
		return nil, keyRefusal(req, id, k.ProjectID, "wrong secret")
	}
	if k.Expired(req.now) {
		return nil, keyRefusal(req, id, k.ProjectID, "expired key")
	}
	if k.DisabledAt != nil {
		return nil, keyRefusal(req, id, k.ProjectID, "disabled key")
	}
	return k, nil
}

func keyRequired(basic bool) *Error {
	return invalidClient("Client authentication is required: send the API key as the client secret.", basic)
}

// keyRefusal is a failed key authentication; its answer never says why.
func keyRefusal(req *request, id, projectID, reason string) *refusal {
	return &refusal{
		answer:  invalidClient("The API key is unknown, deleted, disabled, expired or malformed.", req.client.Basic),
		counted: true,
		keyID:   id,
		event: &keyward.AuditEvent{ProjectID: projectID, Action: keyward.AuditExchangeFailed,
			Target: "key:" + id, Detail: reason},
	}
}

package oauth

import (
	"context"
	"errors"
	"net/http"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/internal/authn"
	"github.com/keyward/keyward/internal/token"
)

// refresh rotates a refresh token: the old one is spent exactly once, a new pair of the same
// session is issued, and the credential behind the session is checked again.
func (s *Server) refresh(ctx context.Context, req *tokenRequest) (*client.TokenResponse, error) {
	raw := req.form["refresh_token"]
	if raw == "" {
		return nil, invalidRequest("The refresh_token parameter is missing.")
	}
	ipKey := req.ip.String()
	if err := throttle(blocked(s.ByIP, ipKey)); err != nil {
		return nil, err
	}
	bad := func(description string) error {
		s.ByIP.Fail(ipKey)
		return invalidGrant(description)
	}
	sid, ok := token.ParseRefreshToken(raw)
	if !ok {
		return nil, bad("The refresh token is malformed.")
	}
	hash := token.HashRefreshToken(raw)
	unknown := func() error { return bad("The refresh token is unknown, expired, revoked or already used.") }
	// session reads the session the token belongs to, once, for the checks below that need it
	// before the token is spent (a token of the earlier format names no session and is found by
	// its hash).
	var known *keyward.Session
	session := func() (*keyward.Session, error) {
		if known != nil {
			return known, nil
		}
		sess, err := s.Store.RefreshTokenSession(ctx, sid, hash)
		if keyward.ErrorCode(err) == keyward.ENOTFOUND {
			return nil, unknown()
		} else if err != nil {
			return nil, storeError(err)
		}
		known = sess
		return sess, nil
	}

	// Client authentication is optional here; when sent it must be valid and name the key the
	// session belongs to, checked before anything is spent.
	if req.client.Present {
		k, err := s.authenticateKey(ctx, req, true)
		if err != nil {
			return nil, err
		}
		sess, err := session()
		if err != nil {
			return nil, err
		}
		if sess.Kind != keyward.SessionKey || sess.KeyID != k.ID {
			return nil, bad("The refresh token was not issued to this client.")
		}
	} else if req.client.ID != "" {
		return nil, invalidRequest("client_id without a client secret authenticates nothing; send the refresh token alone or with the API key.")
	}

	// A scope parameter may narrow the new access token (RFC 6749 §6), never widen it. It is
	// checked before the token is spent, so a client that asks too much keeps its session.
	var narrowed []string
	if _, asked := req.form["scope"]; asked {
		sess, err := session()
		if err != nil {
			return nil, err
		}
		if !sess.Active(req.now) {
			return nil, unknown() // what spending the token would answer
		}
		held, _, err := s.recheck(ctx, req, sess)
		if err != nil {
			return nil, err
		}
		if narrowed, err = requestedScope(req.form, effectiveScope(held, sess.Scope)); err != nil {
			return nil, err
		}
	}

	if sid == "" {
		// The successor names its session, so an earlier-format token's must be known first.
		sess, err := session()
		if err != nil {
			return nil, err
		}
		sid = sess.ID
	}
	// The next token is made before the old one is spent, so that spending and storing its
	// successor happen in one transaction.
	probe := &keyward.Session{ID: sid, ExpiresAt: req.now.Add(s.SessionMaxAge)}
	next, rt, err := s.newRefreshToken(probe, req.now)
	if err != nil {
		return nil, err
	}
	sess, err := s.Store.ConsumeRefreshToken(ctx, sid, hash, req.now, rt)
	switch keyward.ErrorCode(err) {
	case "":
	case keyward.EREFRESHREUSED:
		s.audit(ctx, &keyward.AuditEvent{ProjectID: sess.ProjectID, At: req.now, Actor: sess.Subject(),
			Action: keyward.AuditRefreshReused, Target: "session:" + sess.ID, IP: ipKey,
			Detail: "a spent refresh token was presented again; the session is revoked"})
		return nil, bad("The refresh token was already used; its session is now revoked.")
	case keyward.ENOTFOUND, keyward.EEXPIRED, keyward.EREVOKED:
		return nil, unknown()
	default:
		return nil, storeError(err)
	}
	// The successor was stored with the probe's horizon; the session's own lifetime caps it.
	if rt.ExpiresAt.After(sess.ExpiresAt) {
		rt.ExpiresAt = sess.ExpiresAt
	}

	held, k, err := s.recheck(ctx, req, sess)
	if err != nil {
		return nil, err
	}
	// The narrowing applies to this access token only: the session keeps its scope (RFC 6749 §6).
	scope := effectiveScope(held, sess.Scope)
	if narrowed != nil {
		scope = keyward.Intersect(scope, narrowed)
	}
	return s.issue(req.now, sess, scope, k, next, rt)
}

// recheck reads the session's credential again, as authn.Live does for every use of a session,
// and its membership: a deleted or expired key, a disabled user, a lost membership or an address
// no longer allowed ends the session. It returns the current permissions, so a refreshed token
// carries what the credential holds now.
func (s *Server) recheck(ctx context.Context, req *tokenRequest, sess *keyward.Session) ([]string, *keyward.APIKey, error) {
	end := func(reason string, e *Error) ([]string, *keyward.APIKey, error) {
		if err := s.Store.RevokeSession(context.WithoutCancel(ctx), sess.ID, reason, req.now); err != nil {
			return nil, nil, storeError(err)
		}
		s.audit(ctx, &keyward.AuditEvent{ProjectID: sess.ProjectID, At: req.now, Actor: sess.Subject(),
			Action: keyward.AuditSessionRevoked, Target: "session:" + sess.ID, IP: req.ip.String(), Detail: reason})
		return nil, nil, e
	}
	gone := invalidGrant("The credential behind this refresh token is no longer valid; authenticate again.")
	p, err := authn.Live(ctx, cachedCredentials{s}, sess, req.now)
	var dead *authn.NotLive
	if errors.As(err, &dead) {
		return end(dead.Reason, gone)
	} else if err != nil {
		return nil, nil, storeError(err)
	}
	if k := p.Key; k != nil {
		if !k.AllowsIP(req.ip) {
			return end("address not allowed", oauthError(http.StatusBadRequest, errUnauthorizedClient,
				"This API key may not be used from your address; the session has ended."))
		}
		if s.Touch != nil {
			s.Touch.Touch(k.ID, req.now, req.ip)
		}
		return s.Catalog.Filter(k.Permissions), k, nil
	}
	if sess.ProjectID == "" {
		return nil, nil, nil
	}
	held, err := s.authz().Permissions(ctx, p, sess.ProjectID)
	if keyward.ErrorCode(err) == keyward.ENOTFOUND {
		return end("membership removed", gone)
	} else if err != nil {
		return nil, nil, storeError(err)
	}
	return held, nil, nil
}

// cachedCredentials reads keys through the key cache: a refresh spends its token in a write
// transaction that fails once the key is deleted, so a cached copy cannot hide a deletion.
type cachedCredentials struct{ s *Server }

func (c cachedCredentials) UserByID(ctx context.Context, id string) (*keyward.User, error) {
	return c.s.Store.UserByID(ctx, id)
}

func (c cachedCredentials) APIKey(ctx context.Context, id string) (*keyward.APIKey, error) {
	return c.s.apiKey(ctx, id)
}

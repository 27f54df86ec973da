package oauth

import (
	"context"
	"errors"
	"net/http"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/authn"
	"github.com/keyward/keyward/internal/token"
)

// refreshGrant rotates a refresh token (RFC 6749 §6): the token is spent exactly once, a new
// pair of the same session is issued, and the credential behind the session is checked again.
type refreshGrant struct{}

// refreshToken is a presented refresh token.
type refreshToken struct {
	sessionID string // "" for a token of the earlier format, found by its hash
	hash      []byte
	malformed bool
}

func (refreshGrant) check(s *Server, req *request) error {
	raw := req.form["refresh_token"]
	if raw == "" {
		return invalidRequest("The refresh_token parameter is missing.")
	}
	if !req.client.Present && req.client.ID != "" {
		return invalidRequest("client_id without a client secret authenticates nothing; send the refresh token alone or with the API key.")
	}
	sid, ok := token.ParseRefreshToken(raw)
	req.refresh = refreshToken{sessionID: sid, malformed: !ok}
	if ok {
		req.refresh.hash = token.HashRefreshToken(raw)
	}
	return nil
}

func unknownRefreshToken() *refusal {
	return failedAttempt(invalidGrant("The refresh token is unknown, expired, revoked or already used."))
}

// identify checks, before the token is spent, what must hold first: that it was issued to the
// key the client authenticated with, and what the credential holds, when a scope was asked. It
// reads the session only then (or to find the session of a token of the earlier format).
func (refreshGrant) identify(ctx context.Context, s *Server, req *request) (*subject, error) {
	t := &req.refresh
	if t.malformed {
		return nil, failedAttempt(invalidGrant("The refresh token is malformed."))
	}
	sub := &subject{}
	// The session is read before its token is spent, whatever the request: whether a DPoP proof
	// must come with it is the session's to say (dpopBinding).
	sess, err := s.Store.RefreshTokenSession(ctx, t.sessionID, t.hash)
	if keyward.ErrorCode(err) == keyward.ENOTFOUND {
		return nil, unknownRefreshToken()
	} else if err != nil {
		return nil, storeError(err)
	}
	sub.session = sess
	if err := dpopBinding(req, sess); err != nil {
		return nil, err
	}
	if req.key != nil && (sess.Kind != keyward.SessionKey || sess.KeyID != req.key.ID) {
		return nil, failedAttempt(invalidGrant("The refresh token was not issued to this client."))
	}
	if req.scopeAsked {
		if !sess.Active(req.now) {
			return nil, unknownRefreshToken() // what spending the token would answer
		}
		held, _, err := s.recheck(ctx, req, sess)
		if err != nil {
			return nil, err
		}
		sub.held = effectiveScope(held, sess.Scope)
	}
	return sub, nil
}

// commit spends the token, storing its successor in the same transaction, and checks the
// credential again: the new access token carries what it holds now.
func (refreshGrant) commit(ctx context.Context, s *Server, req *request, sub *subject, narrowed []string) ([]string, error) {
	sid := req.refresh.sessionID
	if sid == "" {
		sid = sub.session.ID // identify read it: the successor names its session
	}
	probe := &keyward.Session{ID: sid, ExpiresAt: req.now.Add(s.SessionMaxAge)}
	next, rt, err := s.newRefreshToken(probe, req.now)
	if err != nil {
		return nil, err
	}
	sess, err := s.Store.ConsumeRefreshToken(ctx, sid, req.refresh.hash, req.now, rt)
	switch keyward.ErrorCode(err) {
	case "":
	case keyward.EREFRESHREUSED:
		return nil, &refusal{answer: invalidGrant("The refresh token was already used; its session is now revoked."),
			counted: true, event: &keyward.AuditEvent{ProjectID: sess.ProjectID, Actor: sess.Subject(),
				Action: keyward.AuditRefreshReused, Target: "session:" + sess.ID,
				Detail: "a spent refresh token was presented again; the session is revoked"}}
	case keyward.ENOTFOUND, keyward.EEXPIRED, keyward.EREVOKED:
		return nil, unknownRefreshToken()
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
	sub.session, sub.key, sub.refresh, sub.rt = sess, k, next, rt
	// The narrowing applies to this access token only: the session keeps its scope (RFC 6749 §6).
	scope := effectiveScope(held, sess.Scope)
	if narrowed != nil {
		scope = keyward.Intersect(scope, narrowed)
	}
	return scope, nil
}

// recheck reads the session's credential again, as authn.Live does for every use of a session,
// and its membership (a key's owner's): a deleted, disabled or expired key, a disabled user, a
// lost membership or an address no longer allowed ends the session. It returns the current permissions, so a refreshed token
// carries what the credential holds now.
func (s *Server) recheck(ctx context.Context, req *request, sess *keyward.Session) ([]string, *keyward.APIKey, error) {
	end := func(reason string, e *Error) ([]string, *keyward.APIKey, error) {
		if err := s.Store.RevokeSession(context.WithoutCancel(ctx), sess.ID, reason, req.now); err != nil {
			return nil, nil, storeError(err)
		}
		return nil, nil, &refusal{answer: e, event: &keyward.AuditEvent{ProjectID: sess.ProjectID,
			Actor: sess.Subject(), Action: keyward.AuditSessionRevoked, Target: "session:" + sess.ID, Detail: reason}}
	}
	gone := invalidGrant("The credential behind this refresh token is no longer valid; authenticate again.")
	p, err := authn.Live(ctx, cachedCredentials{s, sess.KeyRevision}, sess, req.now)
	var dead *authn.NotLive
	if errors.As(err, &dead) {
		return end(dead.Reason, gone)
	} else if err != nil {
		return nil, nil, storeError(err)
	}
	lost := "membership removed"
	if k := p.Key; k != nil {
		if !k.AllowsIP(req.ip) {
			return end("address not allowed", oauthError(http.StatusBadRequest, errUnauthorizedClient,
				"This API key may not be used from your address; the session has ended."))
		}
		if k.NeedsDPoP() && sess.DPoPJKT == "" {
			// A bearer session of a key that has come to require DPoP ends at its next refresh.
			return end("DPoP required", invalidRequest("This key requires DPoP: exchange it again with a DPoP proof (RFC 9449)."))
		}
		lost = keyward.OwnerRemoved
	} else if sess.ProjectID == "" {
		return nil, nil, nil
	}
	// A key's permissions are bounded by its owner's membership, as at every use of the key.
	held, err := s.authz().Permissions(ctx, p, sess.ProjectID)
	if keyward.ErrorCode(err) == keyward.ENOTFOUND {
		return end(lost, gone)
	} else if keyward.ErrorCode(err) == keyward.EFORBIDDEN {
		// The project requires a second factor the user lacks (require_2fa). The token is spent
		// by now, so the session ends; they sign in again once enrolled.
		return end("second factor required", projectRefused(err))
	} else if err != nil {
		return nil, nil, storeError(err)
	}
	return held, p.Key, nil
}

// cachedCredentials reads keys through the key cache: a refresh spends its token in a write
// transaction that fails once the key is deleted or narrowed, so a cached copy cannot hide either.
// A copy older than the revision the transaction saw is read again, so a widening applies too.
type cachedCredentials struct {
	s        *Server
	revision int64 // the key's revision when the refresh token was spent
}

func (c cachedCredentials) UserByID(ctx context.Context, id string) (*keyward.User, error) {
	return c.s.Store.UserByID(ctx, id)
}

func (c cachedCredentials) APIKey(ctx context.Context, id string) (*keyward.APIKey, error) {
	k, err := c.s.apiKey(ctx, id)
	if err == nil && k.Revision < c.revision {
		c.s.cachedKeys.drop(id)
		return c.s.apiKey(ctx, id)
	}
	return k, err
}

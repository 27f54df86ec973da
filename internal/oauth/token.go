package oauth

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/apikey"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/clientip"
	"github.com/keyward/keyward/internal/authn"
	"github.com/keyward/keyward/internal/manage"
	"github.com/keyward/keyward/internal/token"
)

// firstPartyClientID is the client_id of user tokens: the password grant is used only by
// keyward's own CLI and dashboard, which are not registered clients.
const firstPartyClientID = "keyward"

// tokenRequest is what every grant shares once the body is parsed.
type tokenRequest struct {
	form   form
	client clientAuth
	ip     netip.Addr
	now    time.Time
}

func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	grant := "unknown"
	result := "ok"
	defer func() {
		if s.Metrics != nil {
			s.Metrics.ObserveToken(grant, result, time.Since(start))
		}
	}()
	resp, err := s.token(r.Context(), w, r, &grant)
	if err != nil {
		result = s.fail(w, r, err).Code
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) token(ctx context.Context, w http.ResponseWriter, r *http.Request, grant *string) (*client.TokenResponse, error) {
	f, err := parseForm(w, r)
	if err != nil {
		return nil, err
	}
	client, err := clientAuthentication(r, f)
	if err != nil {
		return nil, err
	}
	req := &tokenRequest{form: f, client: client, ip: s.ClientIP(r), now: s.Now()}
	gt, ok := f["grant_type"]
	if !ok || gt == "" {
		return nil, invalidRequest("The grant_type parameter is missing.")
	}
	switch gt {
	case "client_credentials":
		*grant = gt
		return s.clientCredentials(ctx, req)
	case "password":
		*grant = gt
		if !s.PasswordGrant {
			return nil, oauthError(http.StatusBadRequest, errUnsupportedGrantType, "The password grant is disabled on this server.")
		}
		return s.passwordGrant(ctx, req)
	case "refresh_token":
		*grant = gt
		return s.refresh(ctx, req)
	}
	return nil, oauthError(http.StatusBadRequest, errUnsupportedGrantType, "Supported grant types: client_credentials, password, refresh_token.")
}

// throttle answers 429 when any of the keys is blocked.
func throttle(checks ...func() (time.Duration, bool)) error {
	var worst time.Duration
	for _, c := range checks {
		if after, blocked := c(); blocked && after > worst {
			worst = after
		}
	}
	if worst > 0 {
		return throttled(worst)
	}
	return nil
}

func blocked(l Limiter, key string) func() (time.Duration, bool) {
	return func() (time.Duration, bool) {
		after, b := l.Blocked(key)
		if b && after < time.Second {
			after = time.Second
		}
		return after, b
	}
}

// keyFailed counts a failed key authentication against the address (and the key id with the
// address, when there is an id), records it, and returns the answer, which never says why.
func (s *Server) keyFailed(ctx context.Context, req *tokenRequest, id, projectID, reason string) error {
	ipKey := req.ip.String()
	s.ByIP.Fail(ipKey)
	if id != "" {
		s.ByKeyIP.Fail("key:" + id + "@" + ipKey)
	}
	s.audit(ctx, &keyward.AuditEvent{ProjectID: projectID, At: req.now, Action: keyward.AuditExchangeFailed,
		Target: "key:" + id, IP: ipKey, Detail: reason})
	return invalidClient("The API key is unknown, deleted, expired or malformed.", req.client.Basic)
}

// authenticateKey checks an API key presented as client credentials. Failures are counted per
// address and per key id and address before the answer goes out. cached allows the key cache,
// which is safe only when a write transaction that checks the key follows (see keyCache).
func (s *Server) authenticateKey(ctx context.Context, req *tokenRequest, cached bool) (*keyward.APIKey, error) {
	c := req.client
	ipKey := req.ip.String()
	if c.Secret == "" {
		return nil, invalidClient("Client authentication is required: send the API key as the client secret.", c.Basic)
	}
	id, perr := apikey.Parse(c.Secret)
	keyIP := "key:" + id + "@" + ipKey
	checks := []func() (time.Duration, bool){blocked(s.ByIP, ipKey)}
	if perr == nil {
		checks = append(checks, blocked(s.ByKeyIP, keyIP))
	}
	if err := throttle(checks...); err != nil {
		return nil, err
	}
	fail := func(reason string, projectID string) error {
		return s.keyFailed(ctx, req, id, projectID, reason)
	}
	if perr != nil {
		id = ""
		return nil, fail("malformed key", "")
	}
	if c.ID != "" && c.ID != id {
		return nil, fail("client_id does not match the key", "")
	}
	var k *keyward.APIKey
	var err error
	if cached {
		k, err = s.apiKey(ctx, id)
	} else {
		k, err = s.Store.APIKey(ctx, id)
	}
	if keyward.ErrorCode(err) == keyward.ENOTFOUND {
		return nil, fail("unknown or deleted key", "")
	} else if err != nil {
		return nil, storeError(err)
	}
	if subtle.ConstantTimeCompare(k.SecretHash, apikey.Hash(c.Secret)) != 1 {
		return nil, fail("wrong secret", k.ProjectID)
	}
	if k.Expired(req.now) {
		return nil, fail("expired key", k.ProjectID)
	}
	return k, nil
}

func (s *Server) clientCredentials(ctx context.Context, req *tokenRequest) (*client.TokenResponse, error) {
	k, err := s.authenticateKey(ctx, req, true)
	if err != nil {
		return nil, err
	}
	if !k.AllowsIP(req.ip) {
		s.ByIP.Fail(req.ip.String())
		s.audit(ctx, &keyward.AuditEvent{ProjectID: k.ProjectID, At: req.now, Actor: "key:" + k.ID,
			Action: keyward.AuditExchangeFailed, Target: "key:" + k.ID, IP: req.ip.String(), Detail: "address not allowed"})
		return nil, oauthError(http.StatusBadRequest, errUnauthorizedClient, "This API key may not be used from your address.")
	}
	held := s.Catalog.Filter(k.Permissions)
	scope, err := requestedScope(req.form, held)
	if err != nil {
		return nil, err
	}
	sess := &keyward.Session{Kind: keyward.SessionKey, KeyID: k.ID, ProjectID: k.ProjectID, Scope: scope,
		CreatedAt: req.now, ExpiresAt: req.now.Add(s.SessionMaxAge)}
	if k.ExpiresAt != nil && k.ExpiresAt.Before(sess.ExpiresAt) {
		sess.ExpiresAt = *k.ExpiresAt
	}
	resp, err := s.startSession(ctx, req, sess, effectiveScope(held, scope), k)
	if errors.Is(err, errKeyGone) {
		// Deleted since it was read (or cached): the same answer as a key read after deletion.
		s.cachedKeys.drop(k.ID)
		return nil, s.keyFailed(ctx, req, k.ID, "", "unknown or deleted key")
	} else if err != nil {
		return nil, err
	}
	if s.Touch != nil {
		s.Touch.Touch(k.ID, req.now, req.ip)
	}
	return resp, nil
}

// requestedScope parses the optional scope parameter: nil when absent (the whole credential),
// else a subset of held in catalog order; anything else is invalid_scope.
func requestedScope(f form, held []string) ([]string, error) {
	raw, ok := f["scope"]
	if !ok {
		return nil, nil
	}
	names := strings.Fields(raw)
	if !keyward.Subset(names, held) {
		return nil, oauthError(http.StatusBadRequest, errInvalidScope, "The requested scope exceeds the credential's permissions.")
	}
	return keyward.Intersect(held, names), nil
}

// effectiveScope is what a token carries: the held permissions, narrowed when the session asked.
func effectiveScope(held, narrowed []string) []string {
	if narrowed == nil {
		return held
	}
	return keyward.Intersect(held, narrowed)
}

func (s *Server) passwordGrant(ctx context.Context, req *tokenRequest) (*client.TokenResponse, error) {
	if req.client.Present {
		return nil, invalidRequest("The password grant takes no client authentication.")
	}
	username, password := req.form["username"], req.form["password"]
	if username == "" || password == "" {
		return nil, invalidRequest("The username and password parameters are required.")
	}
	attempt := &authn.Attempt{Email: username, Password: password, IP: req.ip}
	u, err := s.login().Password(ctx, attempt)
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
	sess := &keyward.Session{Kind: keyward.SessionUser, UserID: u.ID, CreatedAt: req.now, ExpiresAt: req.now.Add(s.SessionMaxAge)}
	var held []string
	if ref, ok := req.form["project"]; ok {
		// Not narrowed yet, so the user holds their membership's permissions there.
		who := &authn.Principal{Subject: sess.Subject(), Session: sess, User: u}
		p, perms, err := s.authz().ResolveProject(ctx, who, ref)
		if keyward.ErrorCode(err) == keyward.ENOTFOUND {
			return nil, oauthError(http.StatusBadRequest, errInvalidScope, "Unknown project, or you are not a member of it.")
		} else if err != nil {
			return nil, storeError(err)
		}
		sess.ProjectID, held = p.ID, perms
	}
	scope, err := requestedScope(req.form, held)
	if err != nil {
		return nil, err
	}
	sess.Scope = scope
	resp, err := s.startSession(ctx, req, sess, effectiveScope(held, scope), nil)
	if err != nil {
		return nil, err
	}
	s.login().Succeeded(ctx, attempt, u, sess.ProjectID)
	return resp, nil
}

// login is the password check the dashboard shares.
func (s *Server) login() authn.Login {
	return authn.Login{Store: s.Store, Passwords: s.Passwords, ByIP: s.ByIP, ByUser: s.ByUser, Logger: s.Logger, Now: s.Now}
}

// authz answers what a user may do in a project, as /v1 and the dashboard answer it.
func (s *Server) authz() manage.Authorizer {
	return manage.Authorizer{Store: s.Store, Catalog: s.Catalog}
}

// startSession stores a new session with its first refresh token and mints the pair.
func (s *Server) startSession(ctx context.Context, req *tokenRequest, sess *keyward.Session, scope []string, k *keyward.APIKey) (*client.TokenResponse, error) {
	id, err := keyward.NewSessionID(req.now, s.Rand)
	if err != nil {
		return nil, serverError(err)
	}
	sess.ID = id
	refresh, rt, err := s.newRefreshToken(sess, req.now)
	if err != nil {
		return nil, err
	}
	if err := s.Store.CreateSession(ctx, sess, rt); err != nil {
		if k != nil && keyward.ErrorCode(err) == keyward.ENOTFOUND {
			return nil, errKeyGone
		}
		return nil, storeError(err)
	}
	return s.issue(req.now, sess, scope, k, refresh, rt)
}

// newRefreshToken makes the refresh token paired with an access token issued at now: it expires
// RefreshGrace after that access token, and never after the session.
func (s *Server) newRefreshToken(sess *keyward.Session, now time.Time) (string, *keyward.RefreshToken, error) {
	raw, hash, err := token.NewRefreshToken(s.Rand, sess.ID)
	if err != nil {
		return "", nil, serverError(err)
	}
	exp := s.accessExpiry(sess, now).Add(s.RefreshGrace)
	if exp.After(sess.ExpiresAt) {
		exp = sess.ExpiresAt
	}
	return raw, &keyward.RefreshToken{Hash: hash, SessionID: sess.ID, IssuedAt: now, ExpiresAt: exp}, nil
}

// accessExpiry is now+AccessTTL, bounded by the session's absolute lifetime.
func (s *Server) accessExpiry(sess *keyward.Session, now time.Time) time.Time {
	exp := now.Add(s.AccessTTL)
	if exp.After(sess.ExpiresAt) {
		exp = sess.ExpiresAt
	}
	return exp
}

// issue mints the access token of sess and builds the response.
func (s *Server) issue(now time.Time, sess *keyward.Session, scope []string, k *keyward.APIKey, refresh string, rt *keyward.RefreshToken) (*client.TokenResponse, error) {
	exp := s.accessExpiry(sess, now)
	c := &token.Claims{
		Issuer:    s.Issuer,
		Subject:   sess.Subject(),
		Audience:  []string{s.Audience},
		Expiry:    exp,
		IssuedAt:  now,
		ClientID:  firstPartyClientID,
		Scope:     scope,
		SessionID: sess.ID,
		Project:   sess.ProjectID,
	}
	if k != nil {
		c.ClientID = k.ID
		if len(k.IPs) > 0 {
			c.IPs = clientip.FormatNetworks(k.IPs)
		}
	}
	at, err := s.Minter.Mint(c)
	if err != nil {
		return nil, serverError(err)
	}
	return &client.TokenResponse{
		AccessToken:      at,
		TokenType:        "Bearer",
		ExpiresIn:        seconds(exp.Sub(now)),
		RefreshToken:     refresh,
		RefreshExpiresIn: seconds(rt.ExpiresAt.Sub(now)),
		Scope:            strings.Join(scope, " "),
	}, nil
}

func seconds(d time.Duration) int64 {
	return int64((d + time.Second/2) / time.Second)
}

// audit appends an audit event; a failure to record one is logged, not shown to the client,
// whose request already has its answer.
func (s *Server) audit(ctx context.Context, e *keyward.AuditEvent) {
	if err := s.Store.AppendAudit(context.WithoutCancel(ctx), e); err != nil {
		s.Logger.Error("audit event lost", "action", e.Action, "err", err)
	}
}

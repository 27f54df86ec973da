package oauth

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/accesstoken"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/clientip"
	"github.com/keyward/keyward/internal/token"
)

// firstPartyClientID is the client_id of user tokens: the password grant is used only by
// keyward's own CLI and dashboard, which are not registered clients.
const firstPartyClientID = "keyward"

// A grant is one grant_type of the token endpoint. It says only what is particular to it; the
// driver (Server.token) runs the phases every grant shares, in order, so that a grant cannot
// skip one: throttling, client authentication, scope, the session's start or rotation, the
// token, and the record of the outcome.
type grant interface {
	// check refuses a request the grant cannot take as sent (a missing parameter, client
	// authentication where it has no place). Nothing has been looked up or counted yet.
	check(s *Server, req *request) error
	// identify finds the credential the request presents and what it holds now. req.key is the
	// API key the client authenticated with, if it sent one. A *refusal is counted and audited.
	identify(ctx context.Context, s *Server, req *request) (*subject, error)
	// commit stores what the token rests on once the requested scope (narrowed: nil when none
	// was asked) is known to lie within sub.held: a new session, or the rotation of the
	// presented refresh token. It fills in sub's session and refresh token and returns the
	// access token's scope.
	commit(ctx context.Context, s *Server, req *request, sub *subject, narrowed []string) ([]string, error)
}

// grants are the supported grant types by grant_type; unsupportedGrant lists them.
var grants = map[string]grant{
	"client_credentials":   clientCredentials{},
	"password":             passwordGrant{},
	"refresh_token":        refreshGrant{},
	client.GrantDeviceCode: deviceGrant{},
	// Workload identity federation: federated.go.
	client.GrantTokenExchange: federatedGrant{exchange: true},
	client.GrantJWTBearer:     federatedGrant{},
}

const unsupportedGrant = "Supported grant types: client_credentials, password, refresh_token, " + client.GrantDeviceCode + ", " +
	client.GrantTokenExchange + ", " + client.GrantJWTBearer + "."

// subject is a credential as a grant found it.
type subject struct {
	held []string // the permissions it holds now: a requested scope must lie within them
	key  *keyward.APIKey
	// session is the session the token belongs to: to be started (no id yet) or continued.
	session *keyward.Session
	refresh string // the new refresh token, and its stored form, set by commit
	rt      *keyward.RefreshToken
	// succeeded, when set, records the grant's own success once the token is issued.
	succeeded func(ctx context.Context, sess *keyward.Session)
	// federated is set by the federated grants (federated.go).
	federated *federated
}

// refusal is a grant's refusal of a credential; refuse counts it and records its event.
type refusal struct {
	answer *Error
	// counted: a failed attempt, counted against the address, and against the key id at the
	// address when keyID is set, so that guessing is throttled.
	counted bool
	keyID   string
	event   *keyward.AuditEvent // recorded with the request's time and address; nil: none
}

func (r *refusal) Error() string { return r.answer.Error() }
func (r *refusal) Unwrap() error { return r.answer }

// failedAttempt is a counted refusal that is not audited (a malformed or unknown token).
func failedAttempt(answer *Error) *refusal { return &refusal{answer: answer, counted: true} }

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

// token is the driver: every phase of every grant, once and in this order.
func (s *Server) token(ctx context.Context, w http.ResponseWriter, r *http.Request, name *string) (*client.TokenResponse, error) {
	f, err := parseForm(w, r)
	if err != nil {
		return nil, err
	}
	c, err := clientAuthentication(r, f)
	if err != nil {
		return nil, err
	}
	req := newRequest(f, c, s.ClientIP(r), s.Now())
	if req.grantType == "" {
		return nil, invalidRequest("The grant_type parameter is missing.")
	}
	g, ok := grants[req.grantType]
	if !ok {
		return nil, oauthError(http.StatusBadRequest, errUnsupportedGrantType, unsupportedGrant)
	}
	*name = req.grantType
	if err := g.check(s, req); err != nil {
		return nil, err
	}
	if req.throttled = s.throttle(req); req.throttled > 0 && !unguessable(g, req) {
		return nil, throttled(req.throttled)
	}
	s.offerDPoPNonce(w, req.now)
	if req.dpop, err = s.dpopProof(r, req); err != nil {
		return nil, err
	}
	sub, scope, err := s.grant(ctx, g, req, true)
	if errors.Is(err, errKeyChanged) {
		// Once more, reading the key from the store; a second edit in between is answered as
		// a store conflict.
		sub, scope, err = s.grant(ctx, g, req, false)
	}
	if errors.Is(err, errKeyChanged) {
		return nil, storeError(keyward.Errorf(keyward.EUNAVAILABLE, "The API key is being edited; try again."))
	} else if err != nil {
		return nil, err
	}
	resp, err := s.issue(req.now, sub, scope)
	if err != nil {
		return nil, err
	}
	if sub.key != nil && s.Touch != nil {
		s.Touch.Touch(sub.key.ID, req.now, req.ip)
	}
	if sub.succeeded != nil {
		sub.succeeded(ctx, sub.session)
	}
	return resp, nil
}

// errKeyChanged stops an exchange whose key was edited after it was read.
var errKeyChanged = errors.New("the API key changed since it was read")

// grant authenticates the client, when it presents a key (cached allows the key cache), and
// runs g's identify and commit.
func (s *Server) grant(ctx context.Context, g grant, req *request, cached bool) (*subject, []string, error) {
	var err error
	if req.client.Present {
		if req.key, err = s.authenticateKey(ctx, req, cached); err != nil {
			return nil, nil, s.refuse(ctx, req, err)
		}
	}
	sub, err := g.identify(ctx, s, req)
	if err != nil {
		return nil, nil, s.refuse(ctx, req, err)
	}
	// The scope is checked before anything is stored or spent, so a client that asks too much
	// keeps its session.
	narrowed, err := requestedScope(req, sub.held)
	if err != nil {
		return nil, nil, err
	}
	scope, err := g.commit(ctx, s, req, sub, narrowed)
	if errors.Is(err, errKeyChanged) {
		return nil, nil, err
	} else if err != nil {
		return nil, nil, s.refuse(ctx, req, err)
	}
	return sub, scope, nil
}

// throttle returns how long the request must wait because the address, or the presented key id
// at the address, has too many recent failures; 0: it need not.
func (s *Server) throttle(req *request) time.Duration {
	wait := blockedFor(s.ByIP, req.ipKey)
	if req.keyID != "" {
		wait = max(wait, blockedFor(s.ByKeyIP, keyAt(req.keyID, req.ipKey)))
	}
	return wait
}

func blockedFor(l Limiter, key string) time.Duration {
	after, blocked := l.Blocked(key)
	if !blocked {
		return 0
	}
	return max(after, time.Second)
}

// keyAt is the ByKeyIP key of a key id used from an address.
func keyAt(id, ipKey string) string { return "key:" + id + "@" + ipKey }

// refuse counts a *refusal against the request's throttling keys and records its audit event,
// and returns the answer; any other error passes through.
func (s *Server) refuse(ctx context.Context, req *request, err error) error {
	var r *refusal
	if !errors.As(err, &r) {
		return err
	}
	if r.counted && req.throttled > 0 {
		// A guess from a throttled address: refused as throttled, neither counted again nor
		// audited, as before its credential was looked at.
		return throttled(req.throttled)
	}
	if r.counted {
		s.ByIP.Fail(req.ipKey)
		if r.keyID != "" {
			s.ByKeyIP.Fail(keyAt(r.keyID, req.ipKey))
		}
	}
	if r.event != nil {
		r.event.At, r.event.IP = req.now, req.ipKey
		s.audit(ctx, r.event)
	}
	return r.answer
}

// requestedScope checks the optional scope parameter: nil when absent (the whole credential),
// else a subset of held in catalog order; anything else is invalid_scope.
func requestedScope(req *request, held []string) ([]string, error) {
	if !req.scopeAsked {
		return nil, nil
	}
	if !keyward.Subset(req.scope, held) {
		return nil, oauthError(http.StatusBadRequest, errInvalidScope, "The requested scope exceeds the credential's permissions.")
	}
	return keyward.Intersect(held, req.scope), nil
}

// effectiveScope is what a token carries: the held permissions, narrowed when the session asked.
func effectiveScope(held, narrowed []string) []string {
	if narrowed == nil {
		return held
	}
	return keyward.Intersect(held, narrowed)
}

// startsSession is the commit of a grant that starts a session: the session's scope is the one
// requested.
type startsSession struct{}

func (startsSession) commit(ctx context.Context, s *Server, req *request, sub *subject, narrowed []string) ([]string, error) {
	sub.session.Scope = narrowed
	if err := s.startSession(ctx, req, sub); err != nil {
		return nil, err
	}
	return effectiveScope(sub.held, narrowed), nil
}

// newSession gives sub's new session its id and first refresh token, to be stored.
func (s *Server) newSession(req *request, sub *subject) error {
	id, err := keyward.NewSessionID(req.now, s.Rand)
	if err != nil {
		return serverError(err)
	}
	sub.session.ID = id
	if req.dpop != nil {
		sub.session.DPoPJKT = req.dpop.JKT // its refreshes must be proved by the same key
	}
	sub.refresh, sub.rt, err = s.newRefreshToken(sub.session, req.now)
	return err
}

// startSession stores sub's new session with its first refresh token.
func (s *Server) startSession(ctx context.Context, req *request, sub *subject) error {
	if err := s.newSession(req, sub); err != nil {
		return err
	}
	if err := s.Store.CreateSession(ctx, sub.session, sub.rt); err != nil {
		if k := sub.key; k != nil && keyward.ErrorCode(err) == keyward.ENOTFOUND {
			// Deleted since it was read (or cached): the same answer as a key read after deletion.
			s.cachedKeys.drop(k.ID)
			return keyRefusal(req, k.ID, "", "unknown or deleted key")
		}
		if k := sub.key; k != nil && keyward.ErrorCode(err) == keyward.ECONFLICT {
			// Edited since it was read (or cached): the exchange starts again from the key as
			// it is now.
			s.cachedKeys.drop(k.ID)
			return errKeyChanged
		}
		if k := sub.key; k != nil && keyward.ErrorCode(err) == keyward.EREVOKED {
			// The secret presented was rolled and its grace ended before the session committed.
			return keyRefusal(req, k.ID, k.ProjectID, "rolled secret past its grace")
		}
		return storeError(err)
	}
	return nil
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

// issue mints the access token of sub's session and builds the response.
func (s *Server) issue(now time.Time, sub *subject, scope []string) (*client.TokenResponse, error) {
	sess := sub.session
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
	if k := sub.key; k != nil {
		c.ClientID = k.ID
		if len(k.IPs) > 0 {
			c.IPs = clientip.FormatNetworks(k.IPs)
		}
	}
	if sub.federated != nil {
		sub.federated.claims(c)
	}
	if sess.DPoPJKT != "" {
		c.Confirmation = &accesstoken.Confirmation{JKT: sess.DPoPJKT}
	}
	at, err := s.Minter.Mint(c)
	if err != nil {
		return nil, serverError(err)
	}
	resp := &client.TokenResponse{
		AccessToken:      at,
		TokenType:        "Bearer",
		ExpiresIn:        seconds(exp.Sub(now)),
		RefreshToken:     sub.refresh,
		RefreshExpiresIn: seconds(sub.rt.ExpiresAt.Sub(now)),
		Scope:            strings.Join(scope, " "),
	}
	if sess.DPoPJKT != "" {
		resp.TokenType = tokenTypeDPoP
	}
	if sub.federated != nil {
		sub.federated.response(resp)
	}
	return resp, nil
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

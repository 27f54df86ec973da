package authn

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"regexp"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/apikey"
	"github.com/keyward/keyward/internal/token"
)

// Store is the part of keyward.Store that authentication reads.
type Store interface {
	Credentials
	Session(ctx context.Context, id string) (*keyward.Session, error)
}

// TokenVerifier checks an access token's signature and claims.
type TokenVerifier interface {
	Verify(raw string) (*token.Claims, error)
}

// Principal is an authenticated caller: a user or an API key, with the live session its access
// token belongs to. Exactly one of User and Key is set.
type Principal struct {
	Subject string // "user:<id>" or "key:<id>"
	Session *keyward.Session
	User    *keyward.User
	Key     *keyward.APIKey
	Claims  *token.Claims
}

// AllowsIP reports whether the caller may act from ip: a key only from its networks, a user from
// anywhere. The key's current networks count, not the copy in the token, so narrowing a key's
// networks takes effect at once.
func (p *Principal) AllowsIP(ip netip.Addr) bool {
	return p.Key == nil || p.Key.AllowsIP(ip)
}

// Narrowed reports whether the caller's token was issued for one project only: every key token,
// and a user token obtained with the project parameter.
func (p *Principal) Narrowed() bool {
	return p.Key != nil || p.Session.ProjectID != ""
}

// Authenticator turns bearer access tokens into principals; what a principal may do is
// internal/manage's question. Every call re-reads the session and the credential, so revoking a
// session, deleting a key or disabling a user takes effect on the next request, not when the
// token expires.
type Authenticator struct {
	Store  Store
	Tokens TokenVerifier
	Now    func() time.Time
}

// One message for every way a token can be bad, so that a caller learns nothing about which
// check failed (and a forger nothing about how close they came).
const badToken = "The access token is invalid, expired or revoked."

func unauthorized(msg string) error { return keyward.Errorf(keyward.EUNAUTHORIZED, "%s", msg) }

// b64token is RFC 6750's token68-like syntax for bearer credentials.
var b64token = regexp.MustCompile(`^[A-Za-z0-9\-._~+/]+=*$`)

// FromRequest authenticates the request's `Authorization: Bearer` header.
func (a *Authenticator) FromRequest(r *http.Request) (*Principal, error) {
	values := r.Header.Values("Authorization")
	switch {
	case len(values) == 0:
		return nil, unauthorized("Send an access token in an Authorization: Bearer header.")
	case len(values) > 1:
		return nil, unauthorized("Send exactly one Authorization header.")
	}
	scheme, raw, _ := strings.Cut(values[0], " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return nil, unauthorized("Use the Bearer authorization scheme with an access token.")
	}
	raw = strings.TrimLeft(raw, " ")
	if looksLikeKey(raw) {
		return nil, unauthorized("This is an API key, not an access token: exchange it at /oauth/token (grant_type=client_credentials) and send the access token instead.")
	}
	if len(raw) > 16<<10 || !b64token.MatchString(raw) {
		return nil, unauthorized(badToken)
	}
	return a.Bearer(r.Context(), raw)
}

// looksLikeKey is deliberately loose: anything with the key prefix is refused with advice, even a
// key with a typo, because the advice is the same.
func looksLikeKey(raw string) bool {
	return apikey.LooksLike(raw) || strings.HasPrefix(raw, apikey.Prefix)
}

// Bearer authenticates a raw access token: its signature and claims, then its session and
// credential as Live checks them.
func (a *Authenticator) Bearer(ctx context.Context, raw string) (*Principal, error) {
	claims, err := a.Tokens.Verify(raw)
	if err != nil || claims == nil || claims.SessionID == "" {
		return nil, unauthorized(badToken)
	}
	sess, err := a.Store.Session(ctx, claims.SessionID)
	if err != nil {
		return nil, notFoundAs(err, unauthorized(badToken))
	}
	if sess.Subject() != claims.Subject {
		return nil, unauthorized(badToken)
	}
	p, err := Live(ctx, a.Store, sess, a.Now())
	if errors.As(err, new(*NotLive)) {
		return nil, unauthorized(badToken)
	} else if err != nil {
		return nil, err
	}
	p.Claims = claims
	return p, nil
}

// Credentials reads the credential behind a session.
type Credentials interface {
	UserByID(ctx context.Context, id string) (*keyward.User, error)
	APIKey(ctx context.Context, id string) (*keyward.APIKey, error)
}

// NotLive is the error of a session that may no longer be used. Reason says why, for the audit
// log and the revocation record; callers show the user one answer for every reason.
type NotLive struct{ Reason string }

func (e *NotLive) Error() string { return "session no longer valid: " + e.Reason }

// Live is the one check that a session's credential may still act at now: the session is neither
// revoked nor past its absolute lifetime, and its credential is an enabled user that still
// exists, or a key of the session's project that still exists, is not disabled and has not
// expired. What the key may do, bounded by its owner, is manage.Authorizer's question. It returns
// the principal without claims, a *NotLive when the session is over, or the store's error.
//
// Whether the caller's address is allowed depends on the request, and is Principal.AllowsIP.
func Live(ctx context.Context, c Credentials, sess *keyward.Session, now time.Time) (*Principal, error) {
	if !sess.Active(now) {
		return nil, &NotLive{"session ended"}
	}
	p := &Principal{Subject: sess.Subject(), Session: sess}
	switch sess.Kind {
	case keyward.SessionUser:
		u, err := c.UserByID(ctx, sess.UserID)
		if err != nil {
			return nil, notFoundAs(err, &NotLive{"user deleted"})
		}
		if u.Disabled {
			return nil, &NotLive{"user disabled"}
		}
		p.User = u
	case keyward.SessionKey:
		k, err := c.APIKey(ctx, sess.KeyID)
		if err != nil {
			return nil, notFoundAs(err, &NotLive{"key deleted"})
		}
		if k.Expired(now) {
			return nil, &NotLive{"key expired"}
		}
		if k.DisabledAt != nil {
			return nil, &NotLive{"key disabled"}
		}
		if k.ProjectID != sess.ProjectID {
			return nil, &NotLive{"key of another project"}
		}
		p.Key = k
	default:
		return nil, &NotLive{"unknown session kind"}
	}
	return p, nil
}

// notFoundAs replaces ENOTFOUND with replacement and passes every other error through, so that a
// database outage is reported as one and not as a bad credential.
func notFoundAs(err error, replacement error) error {
	if keyward.ErrorCode(err) == keyward.ENOTFOUND {
		return replacement
	}
	return err
}

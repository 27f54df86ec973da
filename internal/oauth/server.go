package oauth

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/authn"
	"github.com/keyward/keyward/internal/federation"
	"github.com/keyward/keyward/internal/token"
)

// Store is the part of the store the OAuth endpoints use.
type Store interface {
	UserByEmail(ctx context.Context, email string) (*keyward.User, error)
	UserByID(ctx context.Context, id string) (*keyward.User, error)
	ProjectByID(ctx context.Context, id string) (*keyward.Project, error)
	ProjectByName(ctx context.Context, name string) (*keyward.Project, error)
	Member(ctx context.Context, projectID, userID string) (*keyward.Member, error)
	HasSecondFactor(ctx context.Context, userID string) (bool, error)
	APIKey(ctx context.Context, id string) (*keyward.APIKey, error)
	CreateSession(ctx context.Context, s *keyward.Session, first *keyward.RefreshToken) error
	Session(ctx context.Context, id string) (*keyward.Session, error)
	ConsumeRefreshToken(ctx context.Context, sessionID string, hash []byte, now time.Time, next *keyward.RefreshToken) (*keyward.Session, error)
	RefreshTokenSession(ctx context.Context, sessionID string, hash []byte) (*keyward.Session, error)
	RevokeSession(ctx context.Context, id, reason string, at time.Time) error
	AppendAudit(ctx context.Context, e *keyward.AuditEvent) error
	keyward.DeviceAuthorizations
	FederationStore // federated.go
	keyward.LeakStore
}

// Minter signs access tokens.
type Minter interface {
	Mint(c *token.Claims) (string, error)
}

// Verifier checks keyward's own access tokens.
type Verifier interface {
	Verify(raw string) (*token.Claims, error)
}

// Passwords checks passwords against stored hashes.
type Passwords = authn.Passwords

// Limiter throttles failed attempts by key.
type Limiter = authn.Limiter

// KeyToucher records that a key was used; it may batch the writes.
type KeyToucher interface {
	Touch(id string, at time.Time, ip netip.Addr)
}

// Metrics observes token requests.
type Metrics interface {
	ObserveToken(grant, result string, d time.Duration)
}

// JWKS returns the published key set as JSON.
type JWKS interface {
	JWKS() []byte
}

// Config holds the token policy.
type Config struct {
	Issuer        string
	Audience      string
	AccessTTL     time.Duration // default 2h
	RefreshGrace  time.Duration // a refresh token outlives its access token by this; default 1h
	SessionMaxAge time.Duration // absolute session lifetime; default 30 days
	PasswordGrant bool
	JWKSCacheTTL  time.Duration // Cache-Control max-age of the JWKS
	SigningAlg    string        // the algorithm access tokens are signed with
	// DPoPNonceKey, when set, makes the token endpoint require server-provided nonces in DPoP
	// proofs (RFC 9449 §8), derived from it so that every instance sharing it agrees.
	DPoPNonceKey []byte
}

// Server serves the OAuth endpoints. Every field is required unless marked optional.
type Server struct {
	Config
	Store     Store
	Minter    Minter
	Verifier  Verifier
	Keys      JWKS
	Auth      *authn.Authenticator // introspection callers with a bearer token
	Catalog   *keyward.Catalog
	Passwords Passwords
	ClientIP  func(*http.Request) netip.Addr
	// Failed attempts are throttled per address, per username and per key id and address, so that
	// someone guessing at one address cannot lock a key's owner out at another.
	ByIP, ByUser, ByKeyIP Limiter
	// Trust exempts a user's known addresses from the lockout others cause (optional).
	Trust *authn.Trust
	// SecondFactors asks the password grant for the second factor of users who have one
	// (optional; nil: nobody has one).
	SecondFactors authn.SecondFactors
	Touch         KeyToucher // optional
	Metrics       Metrics    // optional
	Logger        *slog.Logger
	Now           func() time.Time
	Rand          io.Reader

	// DeviceRequests counts every call of the device authorization endpoint per address.
	DeviceRequests Limiter

	// Federation finds and caches the keys of the issuers projects trust; nil: the federated
	// grants are not offered.
	Federation *federation.Keys

	cachedKeys keyCache
	dpopSeen   dpopReplay // dpop.go
}

// Register adds the OAuth routes to mux.
func (s *Server) Register(mux *http.ServeMux) {
	mux.HandleFunc("/oauth/token", s.handleToken)
	mux.HandleFunc("/oauth/revoke", s.handleRevoke)
	mux.HandleFunc("/oauth/introspect", s.handleIntrospect)
	mux.HandleFunc("/oauth/device_authorization", s.handleDeviceAuthorization)
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", s.handleMetadata)
	mux.HandleFunc("GET /.well-known/jwks.json", s.handleJWKS)
}

// fail renders err and logs it when it is the server's fault.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) *Error {
	e := writeError(w, err)
	if e.Status >= 500 {
		s.Logger.Error("oauth request failed", "path", r.URL.Path, "status", e.Status, "err", e.Error())
	}
	return e
}

// storeError maps a store failure that is not a domain answer to 503 with Retry-After: the
// usual cause is a database that is down or overloaded, and the client should retry. The detail
// is logged.
func storeError(err error) *Error {
	return unavailable(err)
}

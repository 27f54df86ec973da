package keyward

import (
	"net/netip"
	"time"
)

// User is a person who logs in with an email address and a password.
type User struct {
	ID           string
	Email        string // stored lower-cased; unique
	PasswordHash string // argon2id in PHC string format; never leaves the server
	Admin        bool   // instance administrator
	Disabled     bool
	CreatedAt    time.Time
}

// Project is a tenant: it has members and API keys.
type Project struct {
	ID        string
	Name      string // lower-case slug, unique in the instance
	CreatedAt time.Time
}

// Member is a user's membership in a project, with the permissions it carries.
type Member struct {
	ProjectID   string
	UserID      string
	Email       string // filled in by reads, for display
	Permissions []string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// APIKey is a project's credential for automation. Its secret is never stored, only its hash.
type APIKey struct {
	ID          string // the client_id, readable off the key itself
	ProjectID   string
	Name        string // unique within the project
	IPs         []netip.Prefix
	Permissions []string
	SecretHash  []byte // SHA-256 of the whole key string
	Hint        string // the key's last four characters
	CreatedBy   string // subject that created it: "user:<id>" or "key:<id>"
	// Owner is the user the key acts for (a user id): its creator, or the owner of the key that
	// created it. The key never holds more than its owner holds in the project now.
	Owner     string
	CreatedAt time.Time
	ExpiresAt *time.Time
	// DisabledAt is when the key stopped working because its owner lost the project (removed,
	// or disabled); nil while it works. A disabled key neither exchanges nor acts.
	DisabledAt *time.Time
	LastUsedAt *time.Time
	LastUsedIP string
}

// Reasons a key is disabled or its sessions end because of its owner, in the audit log and in
// the sessions' revoke reason.
const (
	OwnerRemoved  = "owner_removed"
	OwnerReduced  = "owner_reduced"
	OwnerDisabled = "owner_disabled"
)

// Expired reports whether the key is past its expiry at now.
func (k *APIKey) Expired(now time.Time) bool {
	return k.ExpiresAt != nil && !now.Before(*k.ExpiresAt)
}

// AllowsIP reports whether ip is inside the key's networks; an empty list allows every address.
// IPv4-mapped IPv6 addresses compare as IPv4.
func (k *APIKey) AllowsIP(ip netip.Addr) bool {
	if len(k.IPs) == 0 {
		return true
	}
	ip = ip.Unmap()
	for _, p := range k.IPs {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Session kinds.
const (
	SessionKey  = "key"
	SessionUser = "user"
)

// Session is one chain of refresh tokens started by one credential exchange. Revoking it ends
// every access and refresh token issued in it.
type Session struct {
	ID        string
	Kind      string // SessionKey or SessionUser
	KeyID     string // for key sessions
	UserID    string // for user sessions
	ProjectID string // the key's project, or the project a user token was narrowed to; may be empty
	// Scope is the narrowing requested at the exchange; nil means every permission the
	// credential holds. Refreshes re-read the credential's permissions and intersect them.
	Scope        []string
	CreatedAt    time.Time
	ExpiresAt    time.Time // absolute lifetime (session max age, bounded by a key's expiry)
	RevokedAt    *time.Time
	RevokeReason string
}

// Subject returns the JWT subject of the session's credential: "key:<id>" or "user:<id>".
func (s *Session) Subject() string {
	if s.Kind == SessionKey {
		return "key:" + s.KeyID
	}
	return "user:" + s.UserID
}

// Active reports whether the session may still be used at now.
func (s *Session) Active(now time.Time) bool {
	return s.RevokedAt == nil && now.Before(s.ExpiresAt)
}

// RefreshToken is the stored form of a refresh token: only its hash.
type RefreshToken struct {
	Hash       []byte // SHA-256 of the opaque token
	SessionID  string
	IssuedAt   time.Time
	ExpiresAt  time.Time
	ConsumedAt *time.Time
}

// Revocation kinds, as they appear in the revocation feed.
const (
	RevokedSession = "session"
	RevokedKey     = "key"
)

// Revocation is one entry of the revocation feed that verifiers follow.
type Revocation struct {
	Seq       int64  // strictly increasing cursor
	Kind      string // RevokedSession or RevokedKey
	ID        string // session id or key id
	ProjectID string
	RevokedAt time.Time
	// ExpiresAt is when every token affected is expired anyway, so verifiers (and the sweeper)
	// may forget the entry after it.
	ExpiresAt time.Time
}

// AuditEvent records who did what, when and from where.
type AuditEvent struct {
	ID        int64
	ProjectID string // empty for instance-level events
	At        time.Time
	Actor     string // "user:<id>", "key:<id>", or "" when unknown (a failed login)
	Action    string // one of the Audit* constants
	Target    string // the object acted on, e.g. "key:<id>" or an email address
	IP        string
	Detail    string // short, never a secret
}

// Audit actions.
const (
	AuditLogin            = "login"
	AuditLoginFailed      = "login.failed"
	AuditKeyCreated       = "api_key.created"
	AuditKeyDeleted       = "api_key.deleted"
	AuditKeyDisabled      = "api_key.disabled"       // Detail: "reason=" and an Owner* reason
	AuditKeySessionsEnded = "api_key.sessions_ended" // Detail: "reason=owner_reduced"
	AuditExchangeFailed   = "token.exchange_failed"
	AuditRefreshReused    = "token.refresh_reused"
	AuditSessionRevoked   = "session.revoked"
	AuditProjectCreated   = "project.created"
	AuditMemberChanged    = "member.changed"
	AuditMemberRemoved    = "member.removed"
	AuditUserCreated      = "user.created"
	AuditSigningRotation  = "signing_key.rotated"
)

// SigningKey is one key of the signing key set. Its stage follows from the times, so every
// instance computes the same stage without talking to the others.
type SigningKey struct {
	ID        string // the JWS kid
	Alg       string // ES256, EdDSA or RS256
	Private   []byte // PKCS #8 DER, sealed with the master key when one is configured
	Sealed    bool   // whether Private is encrypted
	CreatedAt time.Time
	// PublishAt: in the JWKS from here on. ActivateAt: signs tokens from here on (at least one
	// JWKS cache lifetime after PublishAt). RetireAt: signs nothing more from here on.
	// UnpublishAt: leaves the JWKS (after every token it signed has expired).
	PublishAt   time.Time
	ActivateAt  time.Time
	RetireAt    time.Time
	UnpublishAt time.Time
}

// SigningKeySet is the whole set of signing keys with the version that guards its replacement.
type SigningKeySet struct {
	Version int64
	Keys    []SigningKey
}

package keyward

import (
	"net/netip"
	"slices"
	"strings"
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
	// SecondFactor is whether the user signs in with a second factor; filled in by user lists.
	SecondFactor bool
}

// Project is a tenant: it has members and API keys.
type Project struct {
	ID        string
	Name      string // lower-case slug, unique in the instance
	CreatedAt time.Time
	// Require2FA: members without a second factor are refused by the project until they enrol
	// one (keys are not people and keep working).
	Require2FA bool
	// RequireDPoP: the project's keys exchange only with a DPoP proof (see APIKey.NeedsDPoP).
	RequireDPoP bool
	// KeyPolicy is what the project requires of its keys.
	KeyPolicy KeyPolicy
}

// Member is a user's membership in a project, with the permissions it carries.
type Member struct {
	ProjectID   string
	UserID      string
	Email       string   // filled in by reads, for display
	Permissions []string // held directly, beside the role's
	// RoleID is the project role the member holds ("": none); reads fill in the role itself.
	RoleID    string
	Role      *Role
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Held returns what the member may do: their own permissions and their role's, in no particular
// order (the catalog orders and filters them).
func (m *Member) Held() []string { return Union(m.Permissions, rolePermissions(m.Role)) }

// APIKey is a project's credential for automation. Its secret is never stored, only its hash.
type APIKey struct {
	ID          string // the client_id, readable off the key itself
	ProjectID   string
	Name        string // unique within the project
	IPs         []netip.Prefix
	Permissions []string // held directly, beside the role's
	// RoleID is the project role the key holds ("": none); reads fill in the role itself.
	RoleID     string
	Role       *Role
	SecretHash []byte // SHA-256 of the whole key string
	Hint       string // the key's last four characters
	CreatedBy  string // subject that created it: "user:<id>" or "key:<id>"
	// Owner is the user the key acts for (a user id): its creator, or the owner of the key that
	// created it. The key never holds more than its owner holds in the project now.
	Owner     string
	CreatedAt time.Time
	ExpiresAt *time.Time
	// DisabledAt is when the key stopped working because its owner lost the project (removed,
	// or disabled); nil while it works. A disabled key neither exchanges nor acts.
	DisabledAt *time.Time
	// DisabledReason says why: an Owner* reason, or KeyLeaked; "" while the key works.
	DisabledReason string
	LastUsedAt     *time.Time
	LastUsedIP     string
	// Revision counts the key's edits. A session started from a copy of the key read earlier
	// is refused when it no longer matches (see Session.KeyRevision), so no cached copy outlives
	// an edit.
	Revision int64
	// SecretGen counts the key's secrets: a roll gives the key a new secret and keeps the one
	// before it, PreviousSecretHash, until PreviousExpiresAt (the end of the roll's grace).
	SecretGen          int64
	PreviousSecretHash []byte
	PreviousExpiresAt  *time.Time
	// RequireDPoP: the key exchanges only with a DPoP proof. ProjectRequireDPoP is its
	// project's setting, read with the key (see NeedsDPoP).
	RequireDPoP        bool
	ProjectRequireDPoP bool
}

// Own returns what the key may do before its owner bounds it: its own permissions and its
// role's, in no particular order.
func (k *APIKey) Own() []string { return Union(k.Permissions, rolePermissions(k.Role)) }

// Role is a named set of permissions of one project that members and keys hold; a change to it
// applies to every holder at once.
type Role struct {
	ID          string
	ProjectID   string
	Name        string // a project-name-like slug, unique within the project by names.Key
	Description string
	Permissions []string
	// Owner marks the project's owner role: it holds every permission of the catalog, cannot be
	// edited or deleted, and only its holders may give it or take it away.
	Owner bool
	// RequireDPoP: the keys holding the role exchange only with a DPoP proof.
	RequireDPoP bool
	CreatedAt   time.Time
	UpdatedAt   time.Time
	// Members and Keys count the holders; filled in by role lists.
	Members, Keys int
}

// RoleChange is an edit of a role: each non-nil field replaces the role's.
type RoleChange struct {
	Name        *string
	Description *string
	Permissions *[]string
	RequireDPoP *bool
}

func rolePermissions(r *Role) []string {
	if r == nil {
		return nil
	}
	return r.Permissions
}

// RoleOwner is the name of every project's owner role.
const RoleOwner = "owner"

// DefaultRoles returns the roles every project starts with, for catalog c: owner and admin hold
// every permission (only an owner deletes the project and makes owners); developer every one but
// projects-manage, members-manage and the billing and hub permissions (billing-…, hubs-…) that do
// more than view; viewer every permission whose name ends in "-view".
func DefaultRoles(c *Catalog) []*Role {
	all := c.Names()
	var developer, viewer []string
	for _, name := range all {
		views := strings.HasSuffix(name, "-view")
		administers := name == "projects-manage" || name == "members-manage" ||
			(strings.HasPrefix(name, "billing-") || strings.HasPrefix(name, "hubs-")) && !views
		if !administers {
			developer = append(developer, name)
		}
		if views {
			viewer = append(viewer, name)
		}
	}
	return []*Role{
		{Name: RoleOwner, Owner: true, Permissions: all, Description: "Everything, including deleting the project and making owners."},
		{Name: "admin", Permissions: slices.Clone(all), Description: "Everything but deleting the project and making owners."},
		{Name: "developer", Permissions: developer, Description: "Works with every resource and API key; cannot manage members, the project or billing."},
		{Name: "viewer", Permissions: viewer, Description: "Reads everything; changes nothing."},
	}
}

// PreviousValid reports whether the key's previous secret still exchanges at now.
func (k *APIKey) PreviousValid(now time.Time) bool {
	return len(k.PreviousSecretHash) > 0 && k.PreviousExpiresAt != nil && now.Before(*k.PreviousExpiresAt)
}

// APIKeyChange is an edit of an API key; a nil field, or SetExpiresAt false, keeps what the key
// has. An empty IPs allows every address.
type APIKeyChange struct {
	Name         *string
	IPs          *[]netip.Prefix
	Permissions  *[]string
	SetExpiresAt bool
	ExpiresAt    *time.Time // with SetExpiresAt: the new expiry, nil for never
	// Owner transfers the key to another user (an id), who must be an enabled member of the
	// key's project holding every permission of the key; the transfer enables a key disabled by
	// its owner's departure, never a leaked one.
	Owner *string
	// Role gives the key another role of its project (an id; "" for none). The store fills in the
	// role the key holds after the change.
	Role        *string
	RequireDPoP *bool
	// Disabled true disables the key (reason KeyDisabledByMember); false enables a key a member
	// disabled, and no other: the store refuses it for a key disabled for another reason.
	Disabled *bool
	// DisabledAt is when, with Disabled true.
	DisabledAt *time.Time
}

// KeyDisabledByMember is the reason of a key a member of its project disabled.
const KeyDisabledByMember = "member"

// Empty reports whether c changes nothing.
func (c APIKeyChange) Empty() bool {
	return c.Name == nil && c.IPs == nil && c.Permissions == nil && !c.SetExpiresAt && c.Owner == nil && c.Role == nil &&
		c.RequireDPoP == nil && c.Disabled == nil
}

// Apply returns a copy of k with c applied.
func (c APIKeyChange) Apply(k *APIKey) *APIKey {
	out := *k
	if c.Name != nil {
		out.Name = *c.Name
	}
	if c.IPs != nil {
		out.IPs = slices.Clone(*c.IPs)
	}
	if c.Permissions != nil {
		out.Permissions = slices.Clone(*c.Permissions)
	}
	if c.SetExpiresAt {
		out.ExpiresAt = c.ExpiresAt
	}
	if c.Owner != nil {
		out.Owner = *c.Owner
		// A transfer undoes the departure of the owner, not a leak (the secret stays public) nor
		// a member's decision.
		if !k.Leaked() && !k.DisabledByMember() {
			out.DisabledAt, out.DisabledReason = nil, ""
		}
	}
	if c.Role != nil && *c.Role != k.RoleID {
		out.RoleID, out.Role = *c.Role, nil
	}
	if c.RequireDPoP != nil {
		out.RequireDPoP = *c.RequireDPoP
	}
	if c.Disabled != nil {
		switch {
		case *c.Disabled && out.DisabledAt == nil:
			out.DisabledAt, out.DisabledReason = c.DisabledAt, KeyDisabledByMember
		case !*c.Disabled && out.DisabledByMember():
			out.DisabledAt, out.DisabledReason = nil, ""
		}
	}
	return &out
}

// Narrows reports whether after may do less than before in some way: a permission removed, an
// address before allowed that after refuses, or an expiry set or brought forward. Sessions of a
// key must end when an edit narrows it, since their tokens carry the rights they were issued with.
func Narrows(before, after *APIKey) bool {
	if !Subset(before.Own(), after.Own()) {
		return true
	}
	if !coversNetworks(after.IPs, before.IPs) {
		return true
	}
	if after.ExpiresAt != nil && (before.ExpiresAt == nil || after.ExpiresAt.Before(*before.ExpiresAt)) {
		return true
	}
	return false
}

// Extends reports whether after works from an address, at a time or in a way that before did
// not: its networks allow an address before's refused, its expiry is cleared or later, or it no
// longer requires DPoP.
func Extends(before, after *APIKey) bool {
	if !coversNetworks(before.IPs, after.IPs) || before.RequireDPoP && !after.RequireDPoP {
		return true
	}
	return before.ExpiresAt != nil && (after.ExpiresAt == nil || after.ExpiresAt.After(*before.ExpiresAt))
}

// coversNetworks reports whether every address that old allows, outer allows too; an empty list
// allows every address.
func coversNetworks(outer, old []netip.Prefix) bool {
	if len(outer) == 0 {
		return true
	}
	if len(old) == 0 {
		return false
	}
	for _, o := range old {
		covered := false
		for _, n := range outer {
			if n.Addr().Is4() == o.Addr().Is4() && n.Bits() <= o.Bits() && n.Contains(o.Addr()) {
				covered = true
				break
			}
		}
		if !covered {
			return false
		}
	}
	return true
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
	KeyID     string // for key sessions; for federated sessions, the rule
	UserID    string // for user sessions
	ProjectID string // the key's project, or the project a user token was narrowed to; may be empty
	// Scope is the narrowing requested at the exchange; nil means every permission the
	// credential holds. Refreshes re-read the credential's permissions and intersect them.
	Scope        []string
	CreatedAt    time.Time
	ExpiresAt    time.Time // absolute lifetime (session max age, bounded by a key's expiry)
	RevokedAt    *time.Time
	RevokeReason string
	// KeyRevision is, for a key session, the Revision of the key: CreateSession refuses the
	// session with ECONFLICT when the key was edited after the copy the exchange read, and
	// ConsumeRefreshToken sets it to the key's current revision. Not stored.
	KeyRevision int64
	// SecretGen is, for a key session, the APIKey.SecretGen of the secret that started it: the
	// key's current secret, or its previous one within a roll's grace. The session ends with
	// that secret. Stored; ConsumeRefreshToken returns it, Session does not read it.
	SecretGen int64
	// DPoPJKT is the RFC 7638 thumbprint of the key the session's tokens are bound to (RFC
	// 9449), "" for a bearer session: each refresh must be proved by that key. Stored.
	DPoPJKT string
}

// Subject returns the JWT subject of the session's credential: "key:<id>" or "user:<id>".
func (s *Session) Subject() string {
	if s.Kind == SessionKey {
		return "key:" + s.KeyID
	}
	if s.Kind == SessionFederated {
		return "federated:" + s.KeyID
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
	AuditKeyUpdated       = "api_key.updated"
	AuditKeyRolled        = "api_key.rolled"         // Detail: "grace=" and the grace period
	AuditKeyDisabled      = "api_key.disabled"       // Detail: "reason=" and an Owner* reason
	AuditKeySessionsEnded = "api_key.sessions_ended" // Detail: "reason=owner_reduced"
	AuditExchangeFailed   = "token.exchange_failed"
	AuditRefreshReused    = "token.refresh_reused"
	AuditSessionRevoked   = "session.revoked"
	AuditProjectCreated   = "project.created"
	AuditProjectRenamed   = "project.renamed"   // Detail: "name=NEW previous=OLD"
	AuditProjectDeleted   = "project.deleted"   // Detail: "name=" the name it had
	AuditProjectRecovered = "project.recovered" // an instance administrator made themselves a member with every permission
	AuditMemberChanged    = "member.changed"
	AuditMemberRemoved    = "member.removed"
	AuditRoleCreated      = "role.created" // Detail: "permissions=" and the list
	AuditRoleUpdated      = "role.updated" // Detail: what changed
	AuditRoleDeleted      = "role.deleted" // Detail: "name=" the name it had
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

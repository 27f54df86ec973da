package keyward

import (
	"context"
	"time"
)

// Store is the storage contract every backend (SQLite, PostgreSQL) implements and the conformance
// suite in internal/storetest checks. Each method is one atomic domain operation; no transaction
// ever leaves the store.
//
// Errors: ENOTFOUND when the object does not exist, ECONFLICT when a unique name is taken or a
// compare-and-swap lost, EINTERNAL (a plain error) otherwise.
type Store interface {
	// Ping reports whether the database answers reads and accepts writes; used by /readyz.
	Ping(ctx context.Context) error
	Close() error

	TwoFactorStore  // second factors: twofactor.go
	FederationStore // workload identity federation: federation.go
	DPoPStore       // proof-of-possession settings: dpop.go
	KeyPolicyStore  // what a project requires of its keys: keypolicy.go
	LeakStore       // leaked keys: leak.go
	WebhookStore    // webhooks and their outbox: webhook.go

	// CreateUser stores u with its email lower-cased; ECONFLICT when the email is taken.
	CreateUser(ctx context.Context, u *User) error
	UserByID(ctx context.Context, id string) (*User, error)
	UserByEmail(ctx context.Context, email string) (*User, error) // email compared case-insensitively
	CountUsers(ctx context.Context) (int, error)
	// SetUserDisabled disables or enables a user; disabling revokes all of the user's sessions,
	// deletes their dashboard logins and disables the keys they own in every project (their
	// sessions revoked, audit event api_key.disabled, reason owner_disabled), in one
	// transaction. Enabling the user again enables none of those keys. ECONFLICT, as UpdateUser,
	// when it would disable the last enabled administrator.
	SetUserDisabled(ctx context.Context, id string, disabled bool, at time.Time) error
	// UserPage returns one page of the instance's users ordered by email, and the cursor of the
	// next page ("" on the last). A search keeps the user whose id it is and the users whose
	// email begins with it, ignoring case.
	UserPage(ctx context.Context, p Page) ([]*User, string, error)
	// UpdateUser applies change and returns the user as it now is; disabling does what
	// SetUserDisabled does, in the same transaction. ECONFLICT when the change would leave no
	// enabled administrator (checked under a lock on every enabled administrator, so two
	// administrators demoting each other at once leave one); ENOTFOUND when unknown.
	UpdateUser(ctx context.Context, id string, change UserChange, at time.Time) (*User, error)
	// DeleteUser deletes the user with their memberships, dashboard logins and reset link, revokes
	// their sessions (reason user_deleted) and disables the keys they own (audit event
	// api_key.disabled, reason owner_deleted), in one transaction; audit events stay. ECONFLICT
	// when they are the last enabled administrator, or the last owner or last holder of
	// members-manage of a project (the message says of how many); ENOTFOUND when unknown.
	DeleteUser(ctx context.Context, id string, at time.Time) error
	// SetPassword stores a new password hash for the user, deletes their reset link, and ends
	// every other sign-in of theirs in the same transaction: their sessions but keepSession
	// (reason password_changed, through the feed) and their dashboard logins but the one whose
	// hash is keepWeb ("" and nil keep none). ENOTFOUND when unknown.
	SetPassword(ctx context.Context, id, passwordHash, keepSession string, keepWeb []byte, at time.Time) error
	// CreatePasswordReset stores r, replacing the user's earlier link; ENOTFOUND when the user
	// does not exist.
	CreatePasswordReset(ctx context.Context, r *PasswordReset) error
	// UsePasswordReset spends the link whose hash is given and sets the user's password as
	// SetPassword does, keeping no sign-in, in one transaction, and returns the user. ENOTFOUND
	// when the link is unknown, spent, replaced or its user disabled; EEXPIRED when it expired
	// at now (it is deleted then). Of concurrent calls with one hash, at most one succeeds.
	UsePasswordReset(ctx context.Context, hash []byte, passwordHash string, now time.Time) (*User, error)

	// CreateProject creates p with roles and makes creator a member with creator.Permissions and
	// creator.RoleID (one of roles, or none), atomically, setting creator.ProjectID and each
	// role's ProjectID. ECONFLICT on a taken name.
	CreateProject(ctx context.Context, p *Project, creator *Member, roles ...*Role) error
	ProjectByID(ctx context.Context, id string) (*Project, error)
	ProjectByName(ctx context.Context, name string) (*Project, error)
	// ProjectsForUser lists the projects userID is a member of, by name.
	ProjectsForUser(ctx context.Context, userID string) ([]*Project, error)
	// AllProjects lists every project, by name; for the instance administrator.
	AllProjects(ctx context.Context) ([]*Project, error)
	// RenameProject gives the project a new name and returns it as it now is. ECONFLICT when the
	// name, or one that looks like it (names.Key), is taken by another project; EINVALID when the
	// name holds an invisible character; ENOTFOUND when the project does not exist.
	RenameProject(ctx context.Context, id, name string) (*Project, error)
	// DeleteProject deletes the project with its memberships and keys, in one transaction: every
	// session of its keys and every user session narrowed to it is revoked, and each key is
	// appended to the revocation feed, so no credential of the project exchanges or refreshes
	// once it commits. The name is free again at once. The audit events stay (they are not
	// readable through the API any more). ENOTFOUND when the project does not exist.
	DeleteProject(ctx context.Context, id string, at time.Time) error

	// CreateRole stores r; ECONFLICT when its name, or one that looks like it, is taken in the
	// project, ENOTFOUND when the project does not exist.
	CreateRole(ctx context.Context, r *Role) error
	// Role returns the role of projectID that ref names (its id or its name), with the number of
	// its holders; ENOTFOUND otherwise.
	Role(ctx context.Context, projectID, ref string) (*Role, error)
	// RolePage returns one page of a project's roles ordered by name (by look-alike key), with the number of their
	// holders, and the cursor of the next page ("" on the last). A search keeps the role whose
	// id it is and the roles whose name begins with it, compared by look-alike key.
	RolePage(ctx context.Context, projectID string, p Page) ([]*Role, string, error)
	// UpdateRole applies change to the role and returns it as it now is. A change of its
	// permissions raises the revision of the keys holding it, and one that takes a permission
	// away ends, in the same transaction, the sessions of every holder who now holds less (the
	// project-narrowed sessions of members, the sessions of keys holding it or owned by a
	// member who does). EFORBIDDEN for the owner role, ECONFLICT on a taken name.
	UpdateRole(ctx context.Context, projectID, id string, change RoleChange, at time.Time) (*Role, error)
	// DeleteRole deletes a role nobody holds: ECONFLICT while a member or a key holds it,
	// EFORBIDDEN for the owner role, ENOTFOUND when unknown.
	DeleteRole(ctx context.Context, projectID, id string) error
	// SeedRoles gives each project without an owner role the roles defaults returns, with ids
	// from newID, and that owner role to its members without a role who hold all of the owner
	// role's permissions directly; and it sets every owner role's permissions to
	// ownerPermissions. Idempotent; the server runs it at start.
	SeedRoles(ctx context.Context, defaults func() []*Role, newID func() (string, error), ownerPermissions []string, at time.Time) error

	// Member returns one membership, ENOTFOUND when the user is not a member.
	Member(ctx context.Context, projectID, userID string) (*Member, error)
	// Members lists a project's members ordered by email.
	Members(ctx context.Context, projectID string) ([]*Member, error)
	// MemberPage returns one page of a project's members ordered by email, and the cursor of
	// the next page ("" on the last). A search keeps the member whose user id it is and the
	// members whose email begins with it, ignoring case.
	MemberPage(ctx context.Context, projectID string, p Page) ([]*Member, string, error)
	// PutMember adds the membership or replaces its permissions and role (m.RoleID; the store
	// fills in m.Role); ENOTFOUND for an unknown project or user, EINVALID for a role of
	// another project. When the member now holds less, in the same transaction it revokes their
	// sessions narrowed to the project (reason member_reduced) and the sessions of their keys
	// in the project that now hold less (audit event api_key.sessions_ended, reason
	// owner_reduced). ECONFLICT when the member holds members-manage and is the last member who
	// does, and m does not hold it any more, or is the last holder of the owner role and m does
	// not hold it: a project always keeps someone who can manage its members and an owner
	// (checked under a lock on the project, so two concurrent reductions cannot both pass).
	PutMember(ctx context.Context, m *Member) error
	// RemoveMember deletes the membership and revokes the user's sessions narrowed to the
	// project; it disables the keys the user owns in the project, so that no exchange committing
	// after it succeeds, and revokes their sessions (audit event api_key.disabled, reason
	// owner_removed), in the same transaction. ECONFLICT, as PutMember, when the member is the
	// last who holds members-manage.
	RemoveMember(ctx context.Context, projectID, userID string, at time.Time) error

	// CreateInvite stores inv, replacing the pending invitation of the same address to the
	// project; ENOTFOUND for an unknown project, EINVALID for a role of another project.
	CreateInvite(ctx context.Context, inv *Invite) error
	// Invites returns up to limit invitations of a project pending at now, oldest first.
	Invites(ctx context.Context, projectID string, now time.Time, limit int) ([]*Invite, error)
	// InviteByHash returns the invitation whose token hashes to hash, pending at now; ENOTFOUND
	// when it is unknown, accepted, revoked or expired alike.
	InviteByHash(ctx context.Context, hash []byte, now time.Time) (*Invite, error)
	// RevokeInvite deletes a pending invitation of the project and returns it; ENOTFOUND when
	// unknown.
	RevokeInvite(ctx context.Context, projectID, id string) (*Invite, error)
	// AcceptInvite spends the invitation pending at a.At whose token hashes to hash and makes
	// the user a member with its role, in one transaction: of concurrent calls, at most one
	// succeeds, and a refused call spends nothing. The user is a.NewUser, created here
	// (ECONFLICT when the email is taken), or the enabled (EREVOKED) user a.UserID; either must
	// have the invitation's address (EFORBIDDEN). A member already keeps their membership as it
	// is. ENOTFOUND when the invitation is not pending.
	AcceptInvite(ctx context.Context, hash []byte, a InviteAcceptance) (*Invite, *Member, error)

	// CreateAPIKey stores k; ECONFLICT when the name is taken in the project, EINVALID without
	// an owner.
	CreateAPIKey(ctx context.Context, k *APIKey) error
	// APIKey returns a key by id (any project), disabled or not; ENOTFOUND when unknown or
	// deleted.
	APIKey(ctx context.Context, id string) (*APIKey, error)
	// APIKeys lists a project's keys by creation time, oldest first.
	APIKeys(ctx context.Context, projectID string) ([]*APIKey, error)
	// APIKeyPage returns one page of a project's keys and the cursor of the next page ("" on the
	// last). Without a search the keys come by creation time, oldest first. A search that is a
	// key id finds that key alone; any other search keeps the keys whose name begins with it,
	// compared as names.Key compares names (case and look-alike characters ignored), ordered by
	// that key. Both orders follow an index, so a page costs the same at any size.
	APIKeyPage(ctx context.Context, projectID string, p Page) ([]*APIKey, string, error)
	// DeleteAPIKey deletes the key of projectID and, in the same transaction, revokes every
	// session of the key and appends the revocations to the feed. ENOTFOUND when the key does not
	// exist in that project.
	DeleteAPIKey(ctx context.Context, projectID, id string, at time.Time) error
	// UpdateAPIKey applies change to the key of projectID, increments its Revision and returns
	// the key as it now is. When the change narrows the key (see Narrows), every live session of
	// the key is revoked (reason "key_narrowed") and appended to the feed in the same transaction.
	// ENOTFOUND when the key does not exist in that project, ECONFLICT when the new name is taken.
	// A change of Owner checks, in the same transaction and locking them against a concurrent
	// removal, reduction or disabling, that the new owner is an enabled member of the project
	// (EINVALID when not) holding every permission of the key as changed (EFORBIDDEN when not),
	// and clears DisabledAt: the key ends either owned by a current member or disabled.
	UpdateAPIKey(ctx context.Context, projectID, id string, change APIKeyChange, at time.Time) (*APIKey, error)
	// RollAPIKey gives the key of projectID a new secret (its hash and hint), increments its
	// SecretGen and Revision, and keeps the secret it had as PreviousSecretHash until
	// previousExpires, replacing any earlier previous secret. In the same transaction it revokes
	// (reason "key_rolled", appended to the feed) the live sessions of every secret that stops
	// exchanging now: those of the replaced previous secret, and those of the rolled one too when
	// previousExpires is not after at. ENOTFOUND when the key does not exist in that project.
	RollAPIKey(ctx context.Context, projectID, id string, secretHash []byte, hint string, previousExpires, at time.Time) (*APIKey, error)
	// EndRollGraces ends, for at most limit rolled keys whose grace is over at now, the
	// sessions their previous secret started (reason key_rolled, through the feed), and raises
	// each key's revision; it returns how many keys it ended the grace of. The server calls it
	// every second.
	EndRollGraces(ctx context.Context, now time.Time, limit int) (int, error)
	// TouchAPIKey records the last use of a key (ENOTFOUND when unknown). It may be batched by
	// the caller.
	TouchAPIKey(ctx context.Context, id string, at time.Time, ip string) error

	// CreateSession stores a new session with its first refresh token, atomically. ECONFLICT
	// when a key session's KeyRevision is not the key's revision any more, EREVOKED when its
	// SecretGen names neither the key's secret nor its previous one before PreviousExpiresAt
	// (compared with the session's CreatedAt). ENOTFOUND
	// when the key (or an enabled key), the user or (for a project-narrowed user session) the membership no longer
	// exists, EREVOKED when the user is disabled: a credential deleted concurrently never ends up
	// with a live session.
	CreateSession(ctx context.Context, s *Session, first *RefreshToken) error
	Session(ctx context.Context, id string) (*Session, error)
	// ConsumeRefreshToken spends the refresh token whose hash is given, exactly once, and stores
	// next (same session) in the same transaction. It returns the session. sessionID is the
	// session the token names; empty for a token of the earlier format, found by its hash.
	//   - unknown hash (or not a token of that session): ENOTFOUND
	//   - already consumed: the session is revoked (reason "refresh_reused") and appended to the
	//     feed in the same transaction, and the error is EREFRESHREUSED; the session is returned
	//     too, so the caller can audit the reuse
	//   - a key session whose secret stopped exchanging (rolled, and the grace over at now): the
	//     session is revoked (reason "key_rolled") and appended to the feed, EREVOKED
	//   - expired token: EEXPIRED; session revoked or past its max age: EREVOKED / EEXPIRED,
	//     with the session returned; a refused call consumes nothing
	// Of any number of concurrent calls with one hash, at most one succeeds.
	ConsumeRefreshToken(ctx context.Context, sessionID string, hash []byte, now time.Time, next *RefreshToken) (*Session, error)
	// RevokeSession revokes a session and appends it to the feed; revoking a revoked session is a
	// no-op that succeeds. ENOTFOUND when unknown.
	RevokeSession(ctx context.Context, id, reason string, at time.Time) error
	// RefreshTokenSession returns the session a refresh token (by the session id it names, empty
	// for the earlier format, and its hash) belongs to, consumed or not.
	RefreshTokenSession(ctx context.Context, sessionID string, hash []byte) (*Session, error)
	// KeySessionCount returns how many sessions of the key are live at now: not revoked, within
	// their max age, with a refresh token that has not expired, started by a secret of the key
	// that still exchanges at now (its current one, or the previous one within a roll's grace).
	KeySessionCount(ctx context.Context, keyID string, now time.Time) (int, error)

	// UserSessions returns up to limit live token sessions of the user (kind user, not revoked,
	// within their max age, with an unexpired refresh token at now), newest first; for the
	// user's own sessions page. UserWebSessions returns up to limit of the user's dashboard
	// logins not past their absolute end at now, most recently used first. Both follow an index
	// on the user; limit <= 0 is EINVALID.
	UserSessions(ctx context.Context, userID string, now time.Time, limit int) ([]*Session, error)
	UserWebSessions(ctx context.Context, userID string, now time.Time, limit int) ([]*WebSession, error)

	// CreateWebSession stores a dashboard login. ENOTFOUND when the user does not exist and
	// EREVOKED when the user is disabled, checked in the same transaction, so a login that races
	// with disabling the user never outlives it. ECONFLICT when the hash is taken.
	CreateWebSession(ctx context.Context, ws *WebSession) error
	// WebSession returns the login whose cookie secret hashes to hash, expired or not (the caller
	// applies its timeouts); ENOTFOUND when unknown, logged out or swept.
	WebSession(ctx context.Context, hash []byte) (*WebSession, error)
	// TouchWebSession moves a login's LastSeenAt forward to at (never backward); ENOTFOUND when
	// the login no longer exists.
	TouchWebSession(ctx context.Context, hash []byte, at time.Time) error
	// DeleteWebSession ends one login (logout); deleting an unknown login succeeds.
	DeleteWebSession(ctx context.Context, hash []byte) error
	// SetWebSessionFlash keeps flash with a login, replacing any earlier one, until
	// TakeWebSessionFlash reads it; ENOTFOUND when the login no longer exists.
	SetWebSessionFlash(ctx context.Context, hash, flash []byte) error
	// TakeWebSessionFlash returns a login's flash and removes it: of two racing calls, one gets
	// it. Nil when there is none or the login no longer exists.
	TakeWebSessionFlash(ctx context.Context, hash []byte) ([]byte, error)

	// DeviceAuthorizations keeps the sign-ins of the device authorization grant; Sweep deletes
	// them once expired.
	DeviceAuthorizations

	// Revocations returns up to limit feed entries with Seq > after, oldest first. Once a reader
	// has seen entry n, no entry below n can appear later (there may be gaps). limit <= 0 is
	// EINVALID, here and in AuditEvents and Sweep.
	Revocations(ctx context.Context, after int64, limit int) ([]Revocation, error)

	// AppendAudit stores e and sets e.ID.
	AppendAudit(ctx context.Context, e *AuditEvent) error
	// AuditEvents returns up to limit events of a project with ID < before (0: from the newest),
	// newest first.
	AuditEvents(ctx context.Context, projectID string, before int64, limit int) ([]*AuditEvent, error)
	// AuditPage returns one page of a project's audit events, newest first, and the cursor of the
	// next page ("" on the last). A search keeps the events whose target or actor is the search
	// (or, for a bare key or user id, key:ID or user:ID), and those whose action is the search or
	// begins with it followed by a dot. Every search follows indexes, so a page costs the same
	// however long the log is.
	AuditPage(ctx context.Context, projectID string, p Page) ([]*AuditEvent, string, error)

	// LoadSigningKeys returns the signing key set; an empty set has Version 0.
	LoadSigningKeys(ctx context.Context) (SigningKeySet, error)
	// ReplaceSigningKeys stores keys as the whole set if the stored version still equals
	// expectedVersion, and returns the new version; ECONFLICT when another instance was faster.
	ReplaceSigningKeys(ctx context.Context, expectedVersion int64, keys []SigningKey) (int64, error)

	// Sweep deletes refresh tokens, sessions, dashboard logins, reset links, feed entries and
	// invitations that expired before now, at most limit rows of each per call, and returns how
	// many rows it deleted.
	Sweep(ctx context.Context, now time.Time, limit int) (int, error)
}

// Page asks a store for one page of a list.
type Page struct {
	// Limit is the most items the page holds; below 1 is EINVALID.
	Limit int
	// Cursor is the one the previous page returned, for the same list and search; empty: the
	// first page. A cursor the store did not make, or made for another search, is EINVALID.
	Cursor string
	// Search narrows the list (each list says how); empty: every item.
	Search string
}

// WebSession is a person's login to the dashboard. The browser holds a random secret in a cookie;
// the store keeps only its SHA-256, so a copy of the database lets nobody take over a login.
type WebSession struct {
	Hash       []byte // SHA-256 of the cookie secret; the session's identity
	UserID     string
	CreatedAt  time.Time
	LastSeenAt time.Time // moved forward as the person uses the dashboard; drives the idle timeout
	ExpiresAt  time.Time // absolute end, however active the person is
}

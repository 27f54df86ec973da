package keyward

import "time"

// PrefixInvite starts an invitation's id.
const PrefixInvite = "inv_"

// InviteTTL is how long an invitation's link stays valid.
const InviteTTL = 7 * 24 * time.Hour

// Audit actions of invitations (project events; Target "invite:<id>", Detail "email=… role=…").
const (
	AuditInviteCreated  = "invite.created"
	AuditInviteAccepted = "invite.accepted"
	AuditInviteRevoked  = "invite.revoked"
)

// Invite asks the person with an email address to join a project with a role. The link carries a
// random token; the store keeps only its SHA-256, so a copy of the database accepts nothing.
type Invite struct {
	ID        string // PrefixInvite and IDLength base62 characters
	ProjectID string
	Email     string // canonical (manage.NormalizeEmail); at most one pending invite per address
	// RoleID is the role the invitee gets; reads fill in Role.
	RoleID    string
	Role      *Role
	Hash      []byte // SHA-256 of the link's token; never read back out of the store
	CreatedBy string // the inviter's user id
	CreatedAt time.Time
	ExpiresAt time.Time
}

// InviteAcceptance is who accepts an invitation: an existing user (UserID), or a new account
// (NewUser) created in the same transaction.
type InviteAcceptance struct {
	UserID  string
	NewUser *User
	At      time.Time
}

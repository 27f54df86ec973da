package keyward

import "time"

// UserChange is an instance administrator's edit of a user; a nil field stays as it is.
type UserChange struct {
	Disabled *bool
	Admin    *bool
}

// PasswordReset is a single-use link that lets a user set a new password without the old one.
// Like a dashboard login, only the SHA-256 of its secret is stored.
type PasswordReset struct {
	Hash   []byte // SHA-256 of the link's secret
	UserID string
	// IssuedBy is the administrator who issued the link (a user id): it works only while they
	// are an enabled administrator.
	IssuedBy  string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Audit actions of user administration; their project id is empty (instance-level events).
const (
	AuditUserDisabled            = "user.disabled"
	AuditUserEnabled             = "user.enabled"
	AuditUserAdminGranted        = "user.admin_granted"
	AuditUserAdminRevoked        = "user.admin_revoked"
	AuditUserDeleted             = "user.deleted" // Detail: "email=" the address it had
	AuditUserPasswordChanged     = "user.password_changed"
	AuditUserPasswordResetIssued = "user.password_reset_issued"
	AuditUserPasswordReset       = "user.password_reset"
)

// OwnerDeleted is the reason a key is disabled when its owner's account is deleted.
const OwnerDeleted = "owner_deleted"

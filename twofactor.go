package keyward

import (
	"context"
	"time"
)

// TOTPSecret is a user's time-based one-time password secret (RFC 6238). Unlike a password it
// must be read back to check a code, so it is sealed with the master key when one is configured,
// as signing keys are, and never hashed.
type TOTPSecret struct {
	UserID string
	Secret []byte // sealed when Sealed, else the raw 160-bit secret
	Sealed bool
	// Confirmed: the user proved, with a code, that their authenticator holds the secret. Until
	// then it is an enrolment in progress and signs nobody in.
	Confirmed bool
	// LastStep is the last time step whose code was accepted: a code of that step or an earlier
	// one is never accepted again (RFC 6238 §5.2).
	LastStep  int64
	CreatedAt time.Time
}

// LoginChallenge is a sign-in halfway: the password was right and the second factor is awaited.
// The browser holds a random secret; the store keeps its SHA-256. It is not a web session and
// lets its holder do nothing but answer the second factor, before ExpiresAt.
type LoginChallenge struct {
	Hash      []byte
	UserID    string
	Next      string // where the sign-in goes once complete
	CreatedAt time.Time
	ExpiresAt time.Time
}

// PrefixPasskey begins the id of a passkey.
const PrefixPasskey = "pky_"

// Passkey is a WebAuthn credential a user signs in with as their second factor. It holds a
// public key only: a copy of the database signs nobody in.
type Passkey struct {
	ID           string
	UserID       string
	CredentialID []byte // the authenticator's id of it; unique
	Name         string // the user's name for it
	// Credential is the WebAuthn library's record of it (public key, signature counter, flags),
	// kept as that library encodes it.
	Credential []byte
	CreatedAt  time.Time
	LastUsedAt *time.Time
}

// Ceremony is the state a WebAuthn ceremony keeps between its two requests (the challenge),
// owned by the web session or sign-in challenge whose hash it carries, for one purpose.
type Ceremony struct {
	Hash      []byte
	Purpose   string // "register" or "login"
	UserID    string
	Data      []byte
	ExpiresAt time.Time
}

// TwoFactorStore is the part of Store that keeps second factors.
type TwoFactorStore interface {
	// PutTOTP stores an unconfirmed secret for s.UserID, replacing an earlier unconfirmed one;
	// ECONFLICT when the user has a confirmed one, ENOTFOUND when the user does not exist.
	PutTOTP(ctx context.Context, s *TOTPSecret) error
	// TOTP returns the user's secret, confirmed or not; ENOTFOUND when there is none.
	TOTP(ctx context.Context, userID string) (*TOTPSecret, error)
	// ConfirmTOTP confirms the user's secret with the code of step, records step as used and
	// replaces the user's recovery codes with recoveryHashes, in one transaction. ENOTFOUND when
	// there is no unconfirmed secret.
	ConfirmTOTP(ctx context.Context, userID string, step int64, recoveryHashes [][]byte, at time.Time) error
	// UseTOTPStep records that the code of step was accepted; ECONFLICT when a code of that step
	// or a later one was accepted before (a replay), so that of two racing uses one wins.
	UseTOTPStep(ctx context.Context, userID string, step int64) error
	// DeleteTOTP removes the user's secret and recovery codes; deleting none succeeds.
	DeleteTOTP(ctx context.Context, userID string) error
	// HasSecondFactor reports whether the user has a confirmed second factor: a TOTP secret or
	// a passkey.
	HasSecondFactor(ctx context.Context, userID string) (bool, error)

	// UseRecoveryCode spends the user's unused recovery code whose hash is given, exactly once,
	// and returns how many are left; ENOTFOUND when there is no such unused code.
	UseRecoveryCode(ctx context.Context, userID string, hash []byte, at time.Time) (int, error)
	// ReplaceRecoveryCodes replaces every recovery code of the user; ENOTFOUND when the user has
	// no confirmed second factor.
	ReplaceRecoveryCodes(ctx context.Context, userID string, hashes [][]byte, at time.Time) error
	// RecoveryCodesLeft counts the user's unused recovery codes.
	RecoveryCodesLeft(ctx context.Context, userID string) (int, error)

	// CreateLoginChallenge stores c; ENOTFOUND when the user does not exist.
	CreateLoginChallenge(ctx context.Context, c *LoginChallenge) error
	// LoginChallenge returns the challenge whose secret hashes to hash, expired or not;
	// ENOTFOUND when unknown or deleted.
	LoginChallenge(ctx context.Context, hash []byte) (*LoginChallenge, error)
	// DeleteLoginChallenge deletes it, and reports whether it was there: of two racing
	// completions, one does.
	DeleteLoginChallenge(ctx context.Context, hash []byte) (bool, error)

	// CreatePasskey stores p; ENOTFOUND when the user does not exist, ECONFLICT when the
	// credential is stored already.
	CreatePasskey(ctx context.Context, p *Passkey) error
	// Passkeys lists the user's passkeys, oldest first.
	Passkeys(ctx context.Context, userID string) ([]*Passkey, error)
	// DeletePasskey deletes the user's passkey id; ENOTFOUND when the user has no such passkey.
	DeletePasskey(ctx context.Context, userID, id string) error
	// UsePasskey records a sign-in with the user's passkey credentialID: its updated record
	// (the signature counter) and the time; ENOTFOUND when the user has no such passkey.
	UsePasskey(ctx context.Context, userID string, credentialID, credential []byte, at time.Time) error
	// PutCeremony stores c, replacing the ceremony of the same hash and purpose.
	PutCeremony(ctx context.Context, c *Ceremony) error
	// TakeCeremony returns the ceremony of hash and purpose and deletes it, so that a challenge
	// answers once; ENOTFOUND when there is none.
	TakeCeremony(ctx context.Context, hash []byte, purpose string) (*Ceremony, error)

	// SetProjectRequire2FA sets whether the project refuses members without a second factor and
	// returns the project as it now is; ENOTFOUND when the project does not exist.
	SetProjectRequire2FA(ctx context.Context, id string, require bool) (*Project, error)
}

// Audit actions of second factors (instance events: no project).
const (
	Audit2FAEnabled           = "user.2fa_enabled"
	Audit2FADisabled          = "user.2fa_disabled"
	AuditRecoveryCodeUsed     = "user.recovery_code_used" // Detail: "left=" and the number
	AuditRecoveryCodesRenewed = "user.recovery_codes_regenerated"
	AuditSecondFactorFailed   = "login.second_factor_failed"
	AuditProjectRequire2FASet = "project.require_2fa" // Detail: "require_2fa=true" or false
)

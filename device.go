package keyward

import (
	"context"
	"time"
)

// Device authorization states (RFC 8628): a person approves or denies a pending one in the
// dashboard, once.
const (
	DevicePending  = "pending"
	DeviceApproved = "approved"
	DeviceDenied   = "denied"
)

// Audit actions of the device authorization grant; instance events (ProjectID "").
const (
	AuditDeviceApproved = "device.approved"
	AuditDeviceDenied   = "device.denied"
)

// DeviceAuthorization is a sign-in a program without a browser (the CLI) started at the device
// authorization endpoint, for a person to approve in the dashboard. The store keeps only the
// SHA-256 of its two codes: the device code the program polls with and the user code the person
// types.
type DeviceAuthorization struct {
	DeviceCodeHash []byte
	UserCodeHash   []byte
	ClientID       string
	// Project is the project the program asked the tokens to be narrowed to, as it named it
	// (resolved against the approver's memberships); "" for none.
	Project string
	// Scope is the scope the program asked for; nil when it asked for none.
	Scope     []string
	IP        string // the address that asked, shown to the approver
	CreatedAt time.Time
	ExpiresAt time.Time
	// Interval is the least time between two polls; a poll sooner than that grows it by 5 s.
	Interval     time.Duration
	LastPolledAt *time.Time
	Status       string // DevicePending, DeviceApproved or DeviceDenied
	UserID       string // who approved or denied it
	DecidedAt    *time.Time
	// SlowDown is set by PollDeviceAuthorization when this poll of a pending authorization came
	// sooner than Interval after the previous one (Interval has grown already).
	SlowDown bool
}

// Expired reports whether the authorization's codes stopped working at now.
func (d *DeviceAuthorization) Expired(now time.Time) bool { return !now.Before(d.ExpiresAt) }

// DeviceAuthorizations is the part of Store that keeps device authorizations.
type DeviceAuthorizations interface {
	// CreateDeviceAuthorization stores d as pending. ECONFLICT when a live authorization has the
	// same user code (the caller draws another); an expired one with it is replaced.
	CreateDeviceAuthorization(ctx context.Context, d *DeviceAuthorization) error
	// DeviceAuthorization returns the authorization whose user code hashes to userCodeHash,
	// expired or not, until it is redeemed; ENOTFOUND otherwise.
	DeviceAuthorization(ctx context.Context, userCodeHash []byte) (*DeviceAuthorization, error)
	// DecideDeviceAuthorization approves or denies a pending authorization as userID and returns
	// it as it now is: ENOTFOUND when unknown or redeemed, EEXPIRED when expired at at, ECONFLICT
	// when already decided. Of two racing decisions one wins.
	DecideDeviceAuthorization(ctx context.Context, userCodeHash []byte, userID string, approve bool, at time.Time) (*DeviceAuthorization, error)
	// PollDeviceAuthorization records a poll with the device code at at and returns the
	// authorization: ENOTFOUND when unknown or redeemed. A poll of a pending authorization
	// sooner than Interval after the previous one grows Interval by 5 s and sets SlowDown. An
	// expired authorization is returned unchanged.
	PollDeviceAuthorization(ctx context.Context, deviceCodeHash []byte, at time.Time) (*DeviceAuthorization, error)
	// RedeemDeviceAuthorization spends an approved authorization and stores s, the session of
	// its approver (s.UserID), with its first refresh token, in one transaction, so that of any
	// number of concurrent calls at most one succeeds and no approval is spent without its
	// session. ENOTFOUND when unknown or already redeemed, EEXPIRED when expired at
	// s.CreatedAt, ECONFLICT when not approved or s is not the approver's; otherwise as
	// CreateSession (EREVOKED for a disabled user, ENOTFOUND for a lost membership).
	RedeemDeviceAuthorization(ctx context.Context, deviceCodeHash []byte, s *Session, first *RefreshToken) error
}

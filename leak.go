package keyward

import (
	"context"
	"crypto/subtle"
	"time"
)

// KeyLeaked is the reason a key is disabled when its secret became public: a secret scanner
// reported it, or someone holding it revoked it. Only a roll, which gives the key a new secret,
// enables it again.
const KeyLeaked = "leaked"

// AuditKeyLeaked records a key disabled as leaked; Detail names who reported it and where.
const AuditKeyLeaked = "api_key.leaked"

// Key states, as the API shows them.
const (
	KeyActive   = "active"
	KeyDisabled = "disabled"
	KeyExpired  = "expired"
)

// State returns the key's state at now: disabled wins over expired, since it says why the key
// stopped and what undoes it.
func (k *APIKey) State(now time.Time) string {
	switch {
	case k.DisabledAt != nil:
		return KeyDisabled
	case k.Expired(now):
		return KeyExpired
	}
	return KeyActive
}

// Leaked reports whether the key is disabled because its secret is public.
func (k *APIKey) Leaked() bool { return k.DisabledAt != nil && k.DisabledReason == KeyLeaked }

// DisabledByMember reports whether a member of the key's project disabled it, which asking
// undoes.
func (k *APIKey) DisabledByMember() bool {
	return k.DisabledAt != nil && k.DisabledReason == KeyDisabledByMember
}

// Enables reports whether an edit that asks for k enabled works: k works already, a member
// disabled it, or the edit transfers it and its owner's departure disabled it. A leaked key is
// enabled by a roll only.
func (k *APIKey) Enables(transfer bool) bool {
	return k.DisabledAt == nil || k.DisabledByMember() || transfer && !k.Leaked()
}

// MatchSecret compares hash (apikey.Hash of a presented key), in constant time, with both the
// key's secret and its previous one: the one check of a presented secret.
func (k *APIKey) MatchSecret(hash []byte) (current, previous bool) {
	current = subtle.ConstantTimeCompare(k.SecretHash, hash) == 1
	previous = len(k.PreviousSecretHash) > 0 && subtle.ConstantTimeCompare(k.PreviousSecretHash, hash) == 1
	return current, previous
}

// LeakStore disables keys whose secret is public.
type LeakStore interface {
	// DisableLeakedAPIKey disables the key as leaked unless it already is, in one transaction:
	// reason leaked, every session of the key revoked (reason leaked, through the feed) and the
	// audit event api_key.leaked with detail, actor and ip recorded. A key disabled for another
	// reason becomes leaked, so that a transfer cannot enable it again. It returns the key as it
	// now is and whether this call disabled it. ENOTFOUND when the key does not exist.
	DisableLeakedAPIKey(ctx context.Context, id string, e AuditEvent) (*APIKey, bool, error)
}

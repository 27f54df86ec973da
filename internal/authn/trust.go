package authn

import (
	"net/netip"
)

// Trust tells an owner's sign-in from a stranger's guess (OWASP "Slow down online guessing
// attacks with device cookies"): an attempt from a browser holding the user's device cookie, or
// from an address the user signed in from recently, is not refused because of the per-user and
// per-address lockouts that others' failures cause. Its own failures count in its own bucket
// instead, so whoever holds a stolen cookie or shares the address still guesses no faster.
type Trust struct {
	// Failures counts the failures of trusted attempts, keyed "device:<cookie id>" or
	// "seen:<email>@<ip>".
	Failures Limiter
	// Known holds the "seen:<email>@<ip>" pairs that signed in recently.
	Known Known
}

// Known remembers recent successes by key.
type Known interface {
	Remember(key string)
	Has(key string) bool
}

// Device is a device cookie its door verified: the browser signed in as UserID before.
type Device struct {
	ID     string // the cookie's random id, the key of its own lockout
	UserID string
}

// pair returns the bucket of a sign-in of email from ip when that pair signed in recently, and
// "" otherwise (or when t is nil).
func (t *Trust) pair(email string, ip netip.Addr) string {
	if t == nil {
		return ""
	}
	if key := pairKey(email, ip); t.Known.Has(key) {
		return key
	}
	return ""
}

func (t *Trust) remember(email string, ip netip.Addr) {
	if t != nil {
		t.Known.Remember(pairKey(email, ip))
	}
}

func pairKey(email string, ip netip.Addr) string { return "seen:" + email + "@" + ip.String() }

package authn

import (
	"context"
	"net/netip"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
)

// SecondFactors checks the second factors of sign-in (internal/twofactor).
type SecondFactors interface {
	HasSecondFactor(ctx context.Context, userID string) (bool, error)
	// Check is EUNAUTHORIZED when code is not a valid second factor of u; a valid one is spent.
	Check(ctx context.Context, u *keyward.User, code string, ip netip.Addr) error
}

// SecondFactorRequired is the answer to a right password of a user with a second factor when
// none was given: distinct from WrongCredentials, which it can only follow a right password.
const SecondFactorRequired = client.SecondFactorRequiredDescription

// WrongSecondFactor answers a wrong second factor after a right password.
const WrongSecondFactor = "The second factor is wrong or was used already."

// NeedsSecondFactor reports whether u must give a second factor to finish signing in.
func (l Login) NeedsSecondFactor(ctx context.Context, u *keyward.User) (bool, error) {
	if l.SecondFactors == nil {
		return false, nil
	}
	return l.SecondFactors.HasSecondFactor(ctx, u.ID)
}

// SecondFactor checks the second factor code (a TOTP or recovery code) of a sign-in whose
// password was right, with SecondFactorCheck.
func (l Login) SecondFactor(ctx context.Context, a *Attempt, u *keyward.User, code string) error {
	return l.SecondFactorCheck(ctx, a, u, func() error { return l.SecondFactors.Check(ctx, u, code, a.IP) })
}

// SecondFactorCheck runs check, the check of a second factor of a sign-in whose password was
// right (a code, a passkey), under the throttling of passwords: while the attempt is throttled
// (see Password: a known browser or address only by its own failures) it fails with *Throttled
// without checking, and a wrong answer (check is EUNAUTHORIZED) counts as a wrong password does, so six digits cannot be guessed
// any faster than a password. It fails with EUNAUTHORIZED (WrongSecondFactor), *Throttled or
// the store's error.
func (l Login) SecondFactorCheck(ctx context.Context, a *Attempt, u *keyward.User, check func() error) error {
	email := CanonicalEmail(u.Email)
	if a.trust == "" {
		// The second step may come in a request of its own: the browser or address is
		// recognised again, so that others' guesses do not lock the owner out at this step.
		a.trust = l.Trust.pair(email, a.IP)
		if a.trust == "" && a.Device != nil && l.Trust != nil && a.Device.UserID == u.ID {
			a.trust = "device:" + a.Device.ID
		}
	}
	if wait := l.blocked(a, email); wait > 0 {
		return &Throttled{RetryAfter: wait}
	}
	err := check()
	if keyward.ErrorCode(err) != keyward.EUNAUTHORIZED {
		return err
	}
	l.count(a, email)
	l.audit(ctx, &keyward.AuditEvent{Actor: "user:" + u.ID, Action: keyward.AuditSecondFactorFailed,
		Target: "user:" + u.ID, IP: a.IP.String(), Detail: a.Via})
	return keyward.Errorf(keyward.EUNAUTHORIZED, "%s", WrongSecondFactor)
}

package authn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward"
)

// LoginStore is the part of keyward.Store a password login reads and writes.
type LoginStore interface {
	UserByEmail(ctx context.Context, email string) (*keyward.User, error)
	AppendAudit(ctx context.Context, e *keyward.AuditEvent) error
}

// Passwords checks passwords against stored hashes.
type Passwords interface {
	Verify(ctx context.Context, encoded, password string) (bool, error)
	VerifyDummy(ctx context.Context, password string)
}

// Limiter throttles failed attempts by key.
type Limiter interface {
	Blocked(key string) (retryAfter time.Duration, blocked bool)
	Fail(key string)
}

// Login checks an email address and a password, for every door a person signs in by (the token
// endpoint's password grant, the dashboard), so that each applies the same rules: the same
// throttling keys, a dummy hash for unknown addresses, one answer for every failure, and an
// audit event either way.
type Login struct {
	Store     LoginStore
	Passwords Passwords
	// ByIP and ByUser count failures per client address ("<ip>") and per email address
	// ("user:<email>").
	ByIP, ByUser Limiter
	// Trust, when set, exempts the owner's known browsers and addresses from the lockout that
	// others' failures cause; nil: every attempt is a stranger's.
	Trust  *Trust
	Logger *slog.Logger // optional; nil: audit failures are not logged
	Now    func() time.Time
	// SecondFactors, when set, asks users who have a second factor for it (SecondFactor).
	SecondFactors SecondFactors
}

// Attempt is one sign-in.
type Attempt struct {
	Email    string // as typed; see CanonicalEmail
	Password string
	IP       netip.Addr
	Via      string // the door, for the audit log: "" for the token endpoint, "dashboard"
	// Device is the browser's device cookie, already verified by its door; nil: none.
	Device *Device

	trust string // the bucket the attempt is counted in when trusted (set by Password)
}

// CanonicalEmail is the form in which an address is stored and looked up: lower-cased and
// otherwise as typed. User creation stores this form of an address it has validated, so the
// address a user was created with signs in in any letter case, and nothing else does.
func CanonicalEmail(raw string) string { return strings.ToLower(raw) }

// WrongCredentials is the single answer to every failed sign-in, so that nobody learns whether
// an address has an account, or that it is disabled.
const WrongCredentials = "The email address or password is wrong."

// ErrPasswordCheck is in the chain of a failure of the password check itself (a stored hash it
// cannot read), which is a fault of the server and not an outage of the store.
var ErrPasswordCheck = errors.New("password check failed")

// Throttled refuses a sign-in while the address or the email address has too many recent
// failures. Its code is keyward.ETOOMANY.
type Throttled struct{ RetryAfter time.Duration }

func (e *Throttled) Error() string {
	return "keyward: too_many: retry in " + strconv.Itoa(int(e.RetryAfter/time.Second)) + "s"
}

// Unwrap makes keyward.ErrorCode report ETOOMANY.
func (e *Throttled) Unwrap() error {
	return keyward.Errorf(keyward.ETOOMANY, "Too many failed sign-in attempts; retry later.")
}

// Password returns the user a signs in as. It fails with *Throttled, with a *keyward.Error
// EUNAUTHORIZED whose message is WrongCredentials, with ErrPasswordCheck, or with the store's
// error; every
// EUNAUTHORIZED is counted and audited. The caller records the success with Succeeded once it
// has started the person's session.
func (l Login) Password(ctx context.Context, a *Attempt) (*keyward.User, error) {
	email := CanonicalEmail(a.Email)
	a.trust = l.Trust.pair(email, a.IP)
	var u *keyward.User
	var err error
	looked := false
	if a.trust == "" && a.Device != nil && l.Trust != nil {
		looked = true
		// The cookie names a user id, the form an email address: the user is read first (a
		// cheap indexed read; the password hash waits until the throttle has been passed).
		if u, err = l.lookup(ctx, email); err != nil {
			return nil, err
		}
		if u != nil && u.ID == a.Device.UserID {
			a.trust = "device:" + a.Device.ID
		}
	}
	if wait := l.blocked(a, email); wait > 0 {
		return nil, &Throttled{RetryAfter: wait}
	}
	if !looked {
		if u, err = l.lookup(ctx, email); err != nil {
			return nil, err
		}
	}
	if u == nil {
		// As slow as a real check, so that timing does not tell which addresses have accounts.
		l.Passwords.VerifyDummy(ctx, a.Password)
		return nil, l.Failed(ctx, a, "unknown user")
	}
	ok, err := l.Passwords.Verify(ctx, u.PasswordHash, a.Password)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPasswordCheck, err)
	}
	if !ok {
		return nil, l.Failed(ctx, a, "wrong password")
	}
	if u.Disabled {
		return nil, l.Failed(ctx, a, "disabled user")
	}
	return u, nil
}

// lookup returns the user of email, nil when there is none.
func (l Login) lookup(ctx context.Context, email string) (*keyward.User, error) {
	u, err := l.Store.UserByEmail(ctx, email)
	if keyward.ErrorCode(err) == keyward.ENOTFOUND {
		return nil, nil
	}
	return u, err
}

// blocked returns how long a must wait: a trusted attempt only for its own bucket's failures,
// any other for the address's and the email address's.
func (l Login) blocked(a *Attempt, email string) time.Duration {
	type bucket struct {
		l   Limiter
		key string
	}
	buckets := []bucket{{l.ByIP, a.IP.String()}, {l.ByUser, "user:" + email}}
	if a.trust != "" {
		buckets = []bucket{{l.Trust.Failures, a.trust}}
	}
	var wait time.Duration
	for _, c := range buckets {
		if after, blocked := c.l.Blocked(c.key); blocked {
			wait = max(wait, after, time.Second)
		}
	}
	return wait
}

// Failed counts and audits a failed sign-in (also one refused after Password succeeded, such as
// a user disabled a moment later) and returns the answer, which never says why.
func (l Login) Failed(ctx context.Context, a *Attempt, reason string) error {
	email := CanonicalEmail(a.Email)
	ipKey := a.IP.String()
	l.count(a, email)
	if a.Via != "" {
		reason = a.Via + ": " + reason
	}
	l.audit(ctx, &keyward.AuditEvent{Action: keyward.AuditLoginFailed, Target: email, IP: ipKey, Detail: reason})
	return keyward.Errorf(keyward.EUNAUTHORIZED, "%s", WrongCredentials)
}

// count counts a failure of a: against its own bucket when it is trusted, against the address and
// the email address otherwise.
func (l Login) count(a *Attempt, email string) {
	if a.trust != "" {
		l.Trust.Failures.Fail(a.trust) // a trusted browser's or address's own lockout
		return
	}
	l.ByIP.Fail(a.IP.String())
	l.ByUser.Fail("user:" + email)
}

// Succeeded audits a sign-in of u; projectID is the project its session is narrowed to, if any.
func (l Login) Succeeded(ctx context.Context, a *Attempt, u *keyward.User, projectID string) {
	l.Trust.remember(CanonicalEmail(a.Email), a.IP)
	l.audit(ctx, &keyward.AuditEvent{ProjectID: projectID, Actor: "user:" + u.ID, Action: keyward.AuditLogin,
		Target: "user:" + u.ID, IP: a.IP.String(), Detail: a.Via})
}

// audit appends e; a lost event is logged, not shown to the person, whose sign-in already has
// its answer.
func (l Login) audit(ctx context.Context, e *keyward.AuditEvent) {
	e.At = l.Now()
	if err := l.Store.AppendAudit(context.WithoutCancel(ctx), e); err != nil && l.Logger != nil {
		l.Logger.ErrorContext(ctx, "audit event lost", "action", e.Action, "err", err)
	}
}

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
	Logger       *slog.Logger // optional; nil: audit failures are not logged
	Now          func() time.Time
	// SecondFactors, when set, asks users who have a second factor for it (SecondFactor).
	SecondFactors SecondFactors
}

// Attempt is one sign-in.
type Attempt struct {
	Email    string // as typed; see CanonicalEmail
	Password string
	IP       netip.Addr
	Via      string // the door, for the audit log: "" for the token endpoint, "dashboard"
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
	ipKey, userKey := a.IP.String(), "user:"+email
	if err := l.throttled(ipKey, userKey); err != nil {
		return nil, err
	}
	u, err := l.Store.UserByEmail(ctx, email)
	if keyward.ErrorCode(err) == keyward.ENOTFOUND {
		// As slow as a real check, so that timing does not tell which addresses have accounts.
		l.Passwords.VerifyDummy(ctx, a.Password)
		return nil, l.Failed(ctx, a, "unknown user")
	} else if err != nil {
		return nil, err
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

// Failed counts and audits a failed sign-in (also one refused after Password succeeded, such as
// a user disabled a moment later) and returns the answer, which never says why.
func (l Login) Failed(ctx context.Context, a *Attempt, reason string) error {
	email := CanonicalEmail(a.Email)
	ipKey := a.IP.String()
	l.ByIP.Fail(ipKey)
	l.ByUser.Fail("user:" + email)
	if a.Via != "" {
		reason = a.Via + ": " + reason
	}
	l.audit(ctx, &keyward.AuditEvent{Action: keyward.AuditLoginFailed, Target: email, IP: ipKey, Detail: reason})
	return keyward.Errorf(keyward.EUNAUTHORIZED, "%s", WrongCredentials)
}

// Succeeded audits a sign-in of u; projectID is the project its session is narrowed to, if any.
func (l Login) Succeeded(ctx context.Context, a *Attempt, u *keyward.User, projectID string) {
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

// throttled is a *Throttled while the address or the user has too many recent failures.
func (l Login) throttled(ipKey, userKey string) error {
	var wait time.Duration
	for _, c := range [...]struct {
		l   Limiter
		key string
	}{{l.ByIP, ipKey}, {l.ByUser, userKey}} {
		if after, blocked := c.l.Blocked(c.key); blocked {
			wait = max(wait, after, time.Second)
		}
	}
	if wait > 0 {
		return &Throttled{RetryAfter: wait}
	}
	return nil
}

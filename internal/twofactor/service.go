package twofactor

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"rsc.io/qr"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/keyring"
)

// Store is the part of keyward.Store second factors read and write.
type Store interface {
	PutTOTP(ctx context.Context, s *keyward.TOTPSecret) error
	TOTP(ctx context.Context, userID string) (*keyward.TOTPSecret, error)
	ConfirmTOTP(ctx context.Context, userID string, step int64, recoveryHashes [][]byte, at time.Time) error
	UseTOTPStep(ctx context.Context, userID string, step int64) error
	DeleteTOTP(ctx context.Context, userID string) error
	HasSecondFactor(ctx context.Context, userID string) (bool, error)
	UseRecoveryCode(ctx context.Context, userID string, hash []byte, at time.Time) (int, error)
	ReplaceRecoveryCodes(ctx context.Context, userID string, hashes [][]byte, at time.Time) error
	RecoveryCodesLeft(ctx context.Context, userID string) (int, error)
	CreatePasskey(ctx context.Context, p *keyward.Passkey) error
	Passkeys(ctx context.Context, userID string) ([]*keyward.Passkey, error)
	DeletePasskey(ctx context.Context, userID, id string) error
	UsePasskey(ctx context.Context, userID string, credentialID, credential []byte, at time.Time) error
	PutCeremony(ctx context.Context, c *keyward.Ceremony) error
	TakeCeremony(ctx context.Context, hash []byte, purpose string) (*keyward.Ceremony, error)
	AppendAudit(ctx context.Context, e *keyward.AuditEvent) error
}

// Service enrols and checks second factors. Every field is required unless marked optional.
type Service struct {
	Store Store
	// MasterKey seals TOTP secrets at rest, as it seals signing keys; nil (SQLite without a
	// master key): they are stored as they are, as signing keys then are.
	MasterKey []byte
	Issuer    string // the name authenticator apps show next to the account
	// Origin is the issuer URL browsers reach keyward at: passkeys are bound to its host (the
	// WebAuthn relying party id) and accepted from that origin only.
	Origin string
	Now    func() time.Time
	Rand   io.Reader
	Logger *slog.Logger // optional
}

// Status is a user's second factors as the account page shows them.
type Status struct {
	TOTP         bool // confirmed
	RecoveryLeft int
	Passkeys     []*keyward.Passkey
}

// Status returns the user's second factors.
func (s *Service) Status(ctx context.Context, userID string) (Status, error) {
	var st Status
	var err error
	if st.Passkeys, err = s.Store.Passkeys(ctx, userID); err != nil {
		return st, err
	}
	t, err := s.Store.TOTP(ctx, userID)
	if keyward.ErrorCode(err) == keyward.ENOTFOUND || (err == nil && !t.Confirmed) {
		return st, nil
	} else if err != nil {
		return st, err
	}
	st.TOTP = true
	st.RecoveryLeft, err = s.Store.RecoveryCodesLeft(ctx, userID)
	return st, err
}

// HasSecondFactor reports whether the user must give a second factor to sign in.
func (s *Service) HasSecondFactor(ctx context.Context, userID string) (bool, error) {
	return s.Store.HasSecondFactor(ctx, userID)
}

// Enrolment is a TOTP secret being set up, as the enrolment page shows it.
type Enrolment struct {
	Secret string // base32, for typing into an app
	URI    string // otpauth://
	QR     string // a data: URL of a PNG of URI
}

// Begin returns the user's enrolment in progress, starting one when there is none, so that
// reloading the page keeps the secret the person may already have scanned. ECONFLICT when the
// user has a confirmed secret.
func (s *Service) Begin(ctx context.Context, u *keyward.User) (*Enrolment, error) {
	t, err := s.Store.TOTP(ctx, u.ID)
	var secret []byte
	switch {
	case err == nil && t.Confirmed:
		return nil, keyward.Errorf(keyward.ECONFLICT, "Two-factor sign-in is already on.")
	case err == nil:
		if secret, err = s.open(t); err != nil {
			return nil, err
		}
	case keyward.ErrorCode(err) == keyward.ENOTFOUND:
		secret = make([]byte, SecretBytes)
		if _, err := io.ReadFull(s.Rand, secret); err != nil {
			return nil, fmt.Errorf("totp secret: %w", err)
		}
		t = &keyward.TOTPSecret{UserID: u.ID, Secret: secret, CreatedAt: s.Now()}
		if s.MasterKey != nil {
			if t.Secret, err = keyring.Seal(s.MasterKey, sealLabel(u.ID), secret, s.Rand); err != nil {
				return nil, err
			}
			t.Sealed = true
		}
		if err := s.Store.PutTOTP(ctx, t); err != nil {
			return nil, err
		}
	default:
		return nil, err
	}
	uri := URI(s.Issuer, u.Email, secret)
	code, err := qr.Encode(uri, qr.M)
	if err != nil {
		return nil, fmt.Errorf("qr code: %w", err)
	}
	code.Scale = 4
	return &Enrolment{Secret: EncodeSecret(secret), URI: uri,
		QR: "data:image/png;base64," + base64.StdEncoding.EncodeToString(code.PNG())}, nil
}

// Confirm turns the enrolment on once code proves the person's app holds the secret, and returns
// the recovery codes, shown once. A wrong code is EINVALID; no enrolment is ENOTFOUND.
func (s *Service) Confirm(ctx context.Context, u *keyward.User, code string, ip netip.Addr) ([]string, error) {
	t, err := s.Store.TOTP(ctx, u.ID)
	if keyward.ErrorCode(err) == keyward.ENOTFOUND || (err == nil && t.Confirmed) {
		return nil, keyward.Errorf(keyward.ENOTFOUND, "There is no two-factor enrolment in progress; start again.")
	} else if err != nil {
		return nil, err
	}
	secret, err := s.open(t)
	if err != nil {
		return nil, err
	}
	step, ok := match(secret, strings.TrimSpace(code), s.Now(), 0)
	if !ok {
		return nil, keyward.Errorf(keyward.EINVALID, "The code is wrong: enter the 6 digits your app shows now.")
	}
	codes, hashes, err := newRecoveryCodes(s.Rand, RecoveryCodes)
	if err != nil {
		return nil, err
	}
	if err := s.Store.ConfirmTOTP(ctx, u.ID, step, hashes, s.Now()); err != nil {
		return nil, err
	}
	s.audit(ctx, u, ip, keyward.Audit2FAEnabled, "totp")
	return codes, nil
}

// Check checks a second factor of u: a current TOTP code not used before, or an unused recovery
// code, which it spends. A wrong one is EUNAUTHORIZED; the caller counts it as a failed sign-in.
func (s *Service) Check(ctx context.Context, u *keyward.User, code string, ip netip.Addr) error {
	wrong := keyward.Errorf(keyward.EUNAUTHORIZED, "The second factor is wrong.")
	code = strings.TrimSpace(code)
	if isTOTPCode(code) {
		t, err := s.Store.TOTP(ctx, u.ID)
		if keyward.ErrorCode(err) == keyward.ENOTFOUND || (err == nil && !t.Confirmed) {
			return wrong
		} else if err != nil {
			return err
		}
		secret, err := s.open(t)
		if err != nil {
			return err
		}
		step, ok := match(secret, code, s.Now(), t.LastStep)
		if !ok {
			return wrong
		}
		if err := s.Store.UseTOTPStep(ctx, u.ID, step); keyward.ErrorCode(err) == keyward.ECONFLICT {
			return wrong // replayed concurrently
		} else if err != nil {
			return err
		}
		return nil
	}
	normalized := normalizeRecoveryCode(code)
	if normalized == "" {
		return wrong
	}
	left, err := s.Store.UseRecoveryCode(ctx, u.ID, hashRecoveryCode(normalized), s.Now())
	if keyward.ErrorCode(err) == keyward.ENOTFOUND {
		return wrong
	} else if err != nil {
		return err
	}
	s.audit(ctx, u, ip, keyward.AuditRecoveryCodeUsed, "left="+strconv.Itoa(left))
	return nil
}

// Disable turns two-factor sign-in off. The caller has checked the person's password and a
// second factor (authn.Login.SecondFactor, under the throttling of sign-ins).
func (s *Service) Disable(ctx context.Context, u *keyward.User, ip netip.Addr) error {
	if err := s.Store.DeleteTOTP(ctx, u.ID); err != nil {
		return err
	}
	s.audit(ctx, u, ip, keyward.Audit2FADisabled, "")
	return nil
}

// RegenerateRecoveryCodes replaces the user's recovery codes with new ones, shown once.
func (s *Service) RegenerateRecoveryCodes(ctx context.Context, u *keyward.User, ip netip.Addr) ([]string, error) {
	codes, hashes, err := newRecoveryCodes(s.Rand, RecoveryCodes)
	if err != nil {
		return nil, err
	}
	if err := s.Store.ReplaceRecoveryCodes(ctx, u.ID, hashes, s.Now()); err != nil {
		return nil, err
	}
	s.audit(ctx, u, ip, keyward.AuditRecoveryCodesRenewed, "")
	return codes, nil
}

// open returns the raw secret of t.
func (s *Service) open(t *keyward.TOTPSecret) ([]byte, error) {
	if !t.Sealed {
		return t.Secret, nil
	}
	if s.MasterKey == nil {
		return nil, fmt.Errorf("the TOTP secret of %s is sealed and no master key is configured (KEYWARD_MASTER_KEY)", t.UserID)
	}
	plain, err := keyring.Open(s.MasterKey, sealLabel(t.UserID), t.Secret)
	if err != nil {
		return nil, fmt.Errorf("the TOTP secret of %s does not open with the configured master key", t.UserID)
	}
	return plain, nil
}

// sealLabel binds a sealed secret to its user: copied onto another user's row it does not open.
func sealLabel(userID string) string { return "totp:" + userID }

// audit appends an instance event of u; a lost event is logged.
func (s *Service) audit(ctx context.Context, u *keyward.User, ip netip.Addr, action, detail string) {
	e := &keyward.AuditEvent{At: s.Now(), Actor: "user:" + u.ID, Action: action, Target: "user:" + u.ID, Detail: detail}
	if ip.IsValid() {
		e.IP = ip.Unmap().String()
	}
	if err := s.Store.AppendAudit(context.WithoutCancel(ctx), e); err != nil && s.Logger != nil {
		s.Logger.ErrorContext(ctx, "audit event lost", "action", action, "err", err)
	}
}

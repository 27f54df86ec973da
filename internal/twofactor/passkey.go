package twofactor

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/names"
)

// ceremonyTTL bounds a WebAuthn ceremony: the time a person has to touch their authenticator.
const ceremonyTTL = 5 * time.Minute

// Ceremony purposes.
const (
	purposeRegister = "register"
	purposeLogin    = "login"
)

// MaxPasskeyName bounds a passkey's name, in characters.
const MaxPasskeyName = 64

// webauthnUser is a user as the WebAuthn library sees them: the user id as the user handle (an
// opaque, stable id that reveals nothing), the email as the name.
type webauthnUser struct {
	u     *keyward.User
	creds []webauthn.Credential
}

func (w *webauthnUser) WebAuthnID() []byte                         { return []byte(w.u.ID) }
func (w *webauthnUser) WebAuthnName() string                       { return w.u.Email }
func (w *webauthnUser) WebAuthnDisplayName() string                { return w.u.Email }
func (w *webauthnUser) WebAuthnCredentials() []webauthn.Credential { return w.creds }

// party returns keyward as the WebAuthn relying party (the issuer's host and origin) and u with
// their stored credentials.
func (s *Service) party(ctx context.Context, u *keyward.User) (*webauthn.WebAuthn, *webauthnUser, error) {
	o, err := url.Parse(s.Origin)
	if err != nil || o.Hostname() == "" {
		return nil, nil, fmt.Errorf("passkeys need the issuer URL, got %q", s.Origin)
	}
	rp, err := webauthn.New(&webauthn.Config{
		RPID: o.Hostname(), RPDisplayName: "keyward", RPOrigins: []string{o.Scheme + "://" + o.Host},
	})
	if err != nil {
		return nil, nil, err
	}
	keys, err := s.Store.Passkeys(ctx, u.ID)
	if err != nil {
		return nil, nil, err
	}
	w := &webauthnUser{u: u}
	for _, k := range keys {
		var c webauthn.Credential
		if err := json.Unmarshal(k.Credential, &c); err != nil {
			return nil, nil, fmt.Errorf("passkey %s: %w", k.ID, err)
		}
		w.creds = append(w.creds, c)
	}
	return rp, w, nil
}

// registration is what a registration ceremony keeps between its two requests.
type registration struct {
	Session webauthn.SessionData `json:"session"`
	Name    string               `json:"name"`
}

// BeginPasskey starts registering a passkey named name for u and returns the options for
// navigator.credentials.create. owner is the hash of the web session the ceremony belongs to.
// A name that is empty, too long or holds invisible characters is EINVALID.
func (s *Service) BeginPasskey(ctx context.Context, u *keyward.User, owner []byte, name string) (json.RawMessage, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > MaxPasskeyName || names.Check(name) != nil {
		return nil, keyward.Errorf(keyward.EINVALID, "Name the passkey (up to %d visible characters), such as \"laptop\".", MaxPasskeyName)
	}
	rp, w, err := s.party(ctx, u)
	if err != nil {
		return nil, err
	}
	exclude := make([]protocol.CredentialDescriptor, 0, len(w.creds))
	for _, c := range w.creds {
		exclude = append(exclude, c.Descriptor())
	}
	creation, session, err := rp.BeginRegistration(w,
		webauthn.WithExclusions(exclude),
		webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementPreferred),
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			ResidentKey: protocol.ResidentKeyRequirementPreferred, UserVerification: protocol.VerificationPreferred}))
	if err != nil {
		return nil, fmt.Errorf("begin passkey registration: %w", err)
	}
	return s.startCeremony(ctx, u, owner, purposeRegister, registration{Session: *session, Name: name}, creation)
}

// FinishPasskey checks the authenticator's answer to BeginPasskey's challenge and stores the
// passkey. A wrong, late or replayed answer is EINVALID.
func (s *Service) FinishPasskey(ctx context.Context, u *keyward.User, owner, body []byte, ip netip.Addr) (*keyward.Passkey, error) {
	refused := keyward.Errorf(keyward.EINVALID, "The passkey could not be registered; try again.")
	var reg registration
	if err := s.takeCeremony(ctx, u, owner, purposeRegister, &reg); err != nil {
		return nil, notFoundAs(err, refused)
	}
	rp, w, err := s.party(ctx, u)
	if err != nil {
		return nil, err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBody(bytes.NewReader(body))
	if err != nil {
		return nil, refused
	}
	cred, err := rp.CreateCredential(w, reg.Session, parsed)
	if err != nil {
		return nil, refused
	}
	record, err := json.Marshal(cred)
	if err != nil {
		return nil, err
	}
	id, err := keyward.NewID(s.Rand, keyward.PrefixPasskey)
	if err != nil {
		return nil, err
	}
	pk := &keyward.Passkey{ID: id, UserID: u.ID, CredentialID: cred.ID, Name: reg.Name, Credential: record, CreatedAt: s.Now()}
	if err := s.Store.CreatePasskey(ctx, pk); err != nil {
		return nil, err
	}
	s.audit(ctx, u, ip, keyward.Audit2FAEnabled, "passkey "+pk.ID)
	return pk, nil
}

// BeginPasskeyLogin starts a passkey sign-in of u and returns the options for
// navigator.credentials.get. owner is the hash of the sign-in challenge it belongs to.
// ENOTFOUND when u has no passkey.
func (s *Service) BeginPasskeyLogin(ctx context.Context, u *keyward.User, owner []byte) (json.RawMessage, error) {
	rp, w, err := s.party(ctx, u)
	if err != nil {
		return nil, err
	}
	if len(w.creds) == 0 {
		return nil, keyward.Errorf(keyward.ENOTFOUND, "You have no passkey.")
	}
	assertion, session, err := rp.BeginLogin(w, webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		return nil, fmt.Errorf("begin passkey sign-in: %w", err)
	}
	return s.startCeremony(ctx, u, owner, purposeLogin, session, assertion)
}

// CheckPasskey checks the authenticator's answer to BeginPasskeyLogin's challenge: EUNAUTHORIZED
// when it is wrong, late, replayed or of another user's passkey. The challenge answers once.
func (s *Service) CheckPasskey(ctx context.Context, u *keyward.User, owner, body []byte) error {
	wrong := keyward.Errorf(keyward.EUNAUTHORIZED, "The passkey was not accepted.")
	var session webauthn.SessionData
	if err := s.takeCeremony(ctx, u, owner, purposeLogin, &session); err != nil {
		return notFoundAs(err, wrong)
	}
	rp, w, err := s.party(ctx, u)
	if err != nil {
		return err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBody(bytes.NewReader(body))
	if err != nil {
		return wrong
	}
	cred, err := rp.ValidateLogin(w, session, parsed)
	if err != nil {
		return wrong
	}
	if cred.Authenticator.CloneWarning {
		// The signature counter went back: two copies of the authenticator exist (WebAuthn
		// §6.1.1). Refused, and the stored counter is left as it was.
		return wrong
	}
	record, err := json.Marshal(cred)
	if err != nil {
		return err
	}
	return notFoundAs(s.Store.UsePasskey(ctx, u.ID, cred.ID, record, s.Now()), wrong)
}

// DeletePasskey deletes one of u's passkeys; the caller has checked the person's password.
func (s *Service) DeletePasskey(ctx context.Context, u *keyward.User, id string, ip netip.Addr) error {
	if err := s.Store.DeletePasskey(ctx, u.ID, id); err != nil {
		return err
	}
	s.audit(ctx, u, ip, keyward.Audit2FADisabled, "passkey "+id)
	return nil
}

// startCeremony keeps state for the ceremony's second request and returns options as JSON.
func (s *Service) startCeremony(ctx context.Context, u *keyward.User, owner []byte, purpose string, state, options any) (json.RawMessage, error) {
	data, err := json.Marshal(state)
	if err != nil {
		return nil, err
	}
	c := &keyward.Ceremony{Hash: owner, Purpose: purpose, UserID: u.ID, Data: data, ExpiresAt: s.Now().Add(ceremonyTTL)}
	if err := s.Store.PutCeremony(ctx, c); err != nil {
		return nil, err
	}
	return json.Marshal(options)
}

// takeCeremony spends the ceremony of owner and purpose, refusing one of another user or past
// its time (ENOTFOUND), and decodes its state into state.
func (s *Service) takeCeremony(ctx context.Context, u *keyward.User, owner []byte, purpose string, state any) error {
	c, err := s.Store.TakeCeremony(ctx, owner, purpose)
	if err != nil {
		return err
	}
	if c.UserID != u.ID || !s.Now().Before(c.ExpiresAt) {
		return keyward.Errorf(keyward.ENOTFOUND, "No such ceremony.")
	}
	return json.Unmarshal(c.Data, state)
}

// notFoundAs replaces ENOTFOUND with replacement; other errors pass.
func notFoundAs(err, replacement error) error {
	if keyward.ErrorCode(err) == keyward.ENOTFOUND {
		return replacement
	}
	return err
}

package dashboard

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/keyward/keyward/internal/keyring"
)

// flashTTL bounds how long a flash waits for the page that shows it: the redirect follows at once,
// and a new key's secret should not sit in the database for longer than needed.
const flashTTL = 10 * time.Minute

// flash is what a page shows once after a POST redirected to it: a new key with its secret, the
// key just deleted, a webhook's signing secret, or a password reset link. It is kept with the web session in the store, so the redirect may land
// on any instance, and sealed with a key derived from the cookie secret, which the store never
// sees: a copy of the database reveals no API key.
type flash struct {
	ProjectID string        `json:"project_id"`
	At        time.Time     `json:"at"`
	Created   *createdFlash `json:"created,omitempty"`
	Deleted   *deletedFlash `json:"deleted,omitempty"`
	Updated   *updatedFlash `json:"updated,omitempty"`
	Invited   *invitedFlash `json:"invited,omitempty"`
	Reset     *resetFlash   `json:"reset,omitempty"` // a password reset link, on the users page (no project)
	Webhook   *webhookFlash `json:"webhook,omitempty"`
}

// webhookFlash is a webhook's new signing secret, after its creation or a roll; a rolled
// webhook's previous secret signs too until PreviousUntil.
type webhookFlash struct {
	ID            string     `json:"id"`
	URL           string     `json:"url"`
	Secret        string     `json:"secret"`
	Rolled        bool       `json:"rolled,omitempty"`
	PreviousUntil *time.Time `json:"previous_until,omitempty"`
}

// invitedFlash is a new invitation; URL is its link when no mail carried it, shown once.
type invitedFlash struct {
	Email     string `json:"email"`
	URL       string `json:"url,omitempty"`
	Mailed    bool   `json:"mailed"`
	MailError string `json:"mail_error,omitempty"`
}

type createdFlash struct {
	ID          string         `json:"id"`
	Name        string         `json:"name"`
	IPs         []netip.Prefix `json:"ips"`
	Permissions []string       `json:"permissions"`
	ExpiresAt   *time.Time     `json:"expires_at,omitempty"`
	Secret      string         `json:"secret"`
	// Rolled: the key was not created but given this new secret; its previous secret keeps
	// exchanging until PreviousUntil (nil or past: it stopped at the roll).
	Rolled        bool       `json:"rolled,omitempty"`
	PreviousUntil *time.Time `json:"previous_until,omitempty"`
}

type updatedFlash struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Narrowed bool   `json:"narrowed"` // the key's sessions were ended
}

type deletedFlash struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// deriveKey derives the dashboard's keys through keyring.Derive, keyward's one derivation.
func deriveKey(secret []byte, purpose string) ([]byte, error) { return keyring.Derive(secret, purpose) }

// flashCipher is the AEAD that seals the flashes of the session whose cookie secret is secret.
func flashCipher(secret []byte) (cipher.AEAD, error) {
	key, err := deriveKey(secret, "keyward dashboard flash")
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("flash cipher: %w", err)
	}
	return cipher.NewGCM(block)
}

// setFlash keeps f with v's web session, replacing any flash not yet shown.
func (s *Server) setFlash(ctx context.Context, v *visit, f *flash) error {
	f.At = s.Now()
	plain, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("flash: %w", err)
	}
	aead, err := flashCipher(v.secret)
	if err != nil {
		return err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := io.ReadFull(s.Rand, nonce); err != nil {
		return fmt.Errorf("flash nonce: %w", err)
	}
	return s.Store.SetWebSessionFlash(ctx, v.hash, aead.Seal(nonce, nonce, plain, v.hash))
}

// takeFlash returns v's flash for the project and removes it, so it is shown once; nil when there
// is none, when it is older than flashTTL, or when it belongs to another project (which is then
// gone too: a flash is for the page the redirect leads to).
func (s *Server) takeFlash(ctx context.Context, v *visit, projectID string) (*flash, error) {
	sealed, err := s.Store.TakeWebSessionFlash(ctx, v.hash)
	if err != nil || sealed == nil {
		return nil, err
	}
	aead, err := flashCipher(v.secret)
	if err != nil {
		return nil, err
	}
	if len(sealed) < aead.NonceSize() {
		return nil, nil
	}
	plain, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], v.hash)
	if err != nil {
		return nil, nil // sealed for another secret: not this browser's
	}
	var f flash
	if err := json.Unmarshal(plain, &f); err != nil {
		return nil, nil
	}
	if f.ProjectID != projectID || s.Now().Sub(f.At) > flashTTL {
		return nil, nil
	}
	return &f, nil
}

package webhook

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/keyward/keyward/internal/keyring"
)

// SecretPrefix starts a signing secret as the Standard Webhooks libraries take it: "whsec_"
// and the base64 of the key.
const SecretPrefix = "whsec_"

// secretBytes is the length of a signing key: 256 bits, the HMAC-SHA256 block's worth.
const secretBytes = 32

// NewSecret returns a new signing key read from r, and its text as the receiver configures it.
func NewSecret(r io.Reader) (key []byte, text string, err error) {
	key = make([]byte, secretBytes)
	if _, err := io.ReadFull(r, key); err != nil {
		return nil, "", fmt.Errorf("read random: %w", err)
	}
	return key, SecretPrefix + base64.StdEncoding.EncodeToString(key), nil
}

// ParseSecret returns the key of a secret's text ("whsec_" optional, as the libraries take it).
func ParseSecret(text string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(text, SecretPrefix))
	if err != nil || len(key) == 0 {
		return nil, errors.New("not a webhook signing secret")
	}
	return key, nil
}

// Stored secrets begin with a format byte: sealed with the master key, or plain where the
// instance has none (SQLite without --master-key, whose file is readable by its owner only,
// as its signing keys are).
const (
	formatPlain  byte = 0
	formatSealed byte = 1
)

func sealLabel(webhookID string) string { return "webhook-secret:" + webhookID }

// Seal returns key as the store keeps it for webhook id: sealed with master (AES-256-GCM, bound
// to the webhook) when there is one.
func Seal(master []byte, webhookID string, key []byte, r io.Reader) ([]byte, error) {
	if master == nil {
		return append([]byte{formatPlain}, key...), nil
	}
	sealed, err := keyring.Seal(master, sealLabel(webhookID), key, r)
	if err != nil {
		return nil, fmt.Errorf("seal webhook secret: %w", err)
	}
	return append([]byte{formatSealed}, sealed...), nil
}

// Open returns the key Seal stored for webhook id.
func Open(master []byte, webhookID string, stored []byte) ([]byte, error) {
	if len(stored) < 2 {
		return nil, errors.New("webhook secret: empty")
	}
	switch stored[0] {
	case formatPlain:
		return stored[1:], nil
	case formatSealed:
		if master == nil {
			return nil, errors.New("webhook secret: sealed, and the server has no master key")
		}
		key, err := keyring.Open(master, sealLabel(webhookID), stored[1:])
		if err != nil {
			return nil, fmt.Errorf("webhook secret: %w", err)
		}
		return key, nil
	}
	return nil, errors.New("webhook secret: unknown format")
}

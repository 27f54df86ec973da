package keyring

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/keyward/keyward"
)

// MasterKeySize is the length of the key that seals signing keys at rest (AES-256).
const MasterKeySize = 32

// ParseMasterKey decodes a master key given as base64 (standard or URL alphabet, padded or not)
// or as hexadecimal. It must decode to exactly MasterKeySize bytes. The error never repeats the
// input, because the input is a secret.
func ParseMasterKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if len(s) == 2*MasterKeySize {
		if b, err := hex.DecodeString(s); err == nil {
			return b, nil
		}
	}
	for _, enc := range []*base64.Encoding{
		base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding,
	} {
		b, err := enc.Strict().DecodeString(s)
		if err == nil && len(b) == MasterKeySize {
			return b, nil
		}
	}
	return nil, keyward.Errorf(keyward.EINVALID,
		"The master key must be %d random bytes, base64 or hex encoded; generate one with: openssl rand -base64 32.",
		MasterKeySize)
}

// Seal encrypts a secret with the master key (AES-256-GCM): signing keys, and the TOTP secrets
// of two-factor sign-in. label is the additional data (a key's kid, a user's id), so a sealed
// blob copied onto another row does not open.
func Seal(master []byte, label string, plain []byte, r io.Reader) ([]byte, error) {
	aead, err := newAEAD(master)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	if _, err := io.ReadFull(r, nonce); err != nil {
		return nil, fmt.Errorf("read random: %w", err)
	}
	return aead.Seal(nonce, nonce, plain, []byte(label)), nil
}

// Open decrypts what Seal sealed with the same master key and label.
func Open(master []byte, label string, sealed []byte) ([]byte, error) {
	aead, err := newAEAD(master)
	if err != nil {
		return nil, err
	}
	if len(sealed) < aead.NonceSize()+aead.Overhead() {
		return nil, errors.New("sealed key too short")
	}
	nonce, ciphertext := sealed[:aead.NonceSize()], sealed[aead.NonceSize():]
	return aead.Open(nil, nonce, ciphertext, []byte(label))
}

func newAEAD(master []byte) (cipher.AEAD, error) {
	if len(master) != MasterKeySize {
		return nil, fmt.Errorf("master key must be %d bytes, got %d", MasterKeySize, len(master))
	}
	block, err := aes.NewCipher(master)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

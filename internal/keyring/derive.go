package keyring

import (
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"
)

// Derive is the one derivation of keyward's secondary keys: a 256-bit key for purpose (a
// distinct label per use) from secret, by HKDF-SHA-256, so that no two uses of one master key
// ever share a key.
func Derive(secret []byte, purpose string) ([]byte, error) {
	key, err := hkdf.Key(sha256.New, secret, nil, purpose, 32)
	if err != nil {
		return nil, fmt.Errorf("%s key: %w", purpose, err)
	}
	return key, nil
}

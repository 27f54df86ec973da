// Package devicecode makes and reads the two codes of the device authorization grant (RFC 8628):
// the device code a program polls with and the user code a person types.
package devicecode

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"strings"
)

// Alphabet holds the user code's letters: twenty consonants, without vowels so that no word
// forms, and without letters easily mistaken for one another when read aloud or typed (RFC 8628
// §6.1). Eight of them give 20^8 ≈ 2^34.6 codes.
const Alphabet = "BCDFGHJKLMNPQRSTVWXZ"

// UserCodeLength is the number of letters of a user code, shown as two groups of four.
const UserCodeLength = 8

// deviceCodeBytes is the device code's entropy: 256 bits, as a refresh token's.
const deviceCodeBytes = 32

// NewDeviceCode returns a random device code and its hash.
func NewDeviceCode(rand io.Reader) (string, []byte, error) {
	b := make([]byte, deviceCodeBytes)
	if _, err := io.ReadFull(rand, b); err != nil {
		return "", nil, fmt.Errorf("device code: %w", err)
	}
	code := base64.RawURLEncoding.EncodeToString(b)
	return code, Hash(code), nil
}

// NewUserCode returns a random user code as shown (XXXX-XXXX) and the hash of its canonical form.
func NewUserCode(rand io.Reader) (string, []byte, error) {
	var code [UserCodeLength]byte
	buf := make([]byte, 16)
	for n := 0; n < len(code); {
		if _, err := io.ReadFull(rand, buf); err != nil {
			return "", nil, fmt.Errorf("user code: %w", err)
		}
		for _, b := range buf {
			// 240 is the largest multiple of 20 a byte holds: rejecting the rest keeps every
			// letter equally likely.
			if b < 240 && n < len(code) {
				code[n] = Alphabet[b%20]
				n++
			}
		}
	}
	canonical := string(code[:])
	return Display(canonical), Hash(canonical), nil
}

// Display shows a canonical user code as two groups of four letters.
func Display(canonical string) string {
	if len(canonical) != UserCodeLength {
		return canonical
	}
	return canonical[:4] + "-" + canonical[4:]
}

// Canonical reads a user code as a person typed it: case is ignored, and so are hyphens and
// white space. ok is false unless eight letters of the alphabet remain.
func Canonical(typed string) (canonical string, ok bool) {
	if len(typed) > 64 {
		return "", false
	}
	var b strings.Builder
	for _, r := range strings.ToUpper(typed) {
		switch {
		case r == '-' || r == ' ' || r == '\t':
		case r < 128 && strings.IndexByte(Alphabet, byte(r)) >= 0:
			b.WriteRune(r)
		default:
			return "", false
		}
	}
	if b.Len() != UserCodeLength {
		return "", false
	}
	return b.String(), true
}

// Hash is the stored form of a device code, or of a canonical user code.
func Hash(code string) []byte {
	h := sha256.Sum256([]byte(code))
	return h[:]
}

package twofactor

import (
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"io"
	"strings"
)

// RecoveryCodes is how many recovery codes a user gets at once.
const RecoveryCodes = 10

var recoveryEncoding = base32.NewEncoding("abcdefghijkmnpqrstuvwxyz23456789").WithPadding(base32.NoPadding)

// newRecoveryCodes returns n codes of 60 random bits (12 base32 characters: beyond guessing
// under throttling, and short enough to type) as shown to the user, such as "h3kq-8mza-x2pt", and their
// hashes as stored.
func newRecoveryCodes(r io.Reader, n int) (codes []string, hashes [][]byte, err error) {
	for range n {
		b := make([]byte, 8) // 64 bits read, 60 kept by the 12 characters
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, nil, fmt.Errorf("recovery code: %w", err)
		}
		s := recoveryEncoding.EncodeToString(b)[:12]
		codes = append(codes, s[:4]+"-"+s[4:8]+"-"+s[8:])
		hashes = append(hashes, hashRecoveryCode(s))
	}
	return codes, hashes, nil
}

// normalizeRecoveryCode is a code as typed, without separators and letter case; "" when it
// cannot be one.
func normalizeRecoveryCode(s string) string {
	s = strings.ToLower(strings.NewReplacer("-", "", " ", "").Replace(s))
	if len(s) != 12 || strings.Trim(s, "abcdefghijkmnpqrstuvwxyz23456789") != "" {
		return ""
	}
	return s
}

// hashRecoveryCode is the stored form of a normalized code: SHA-256 is enough for 60 random
// bits, which cannot be guessed from a copy of the database any faster than online.
func hashRecoveryCode(normalized string) []byte {
	h := sha256.Sum256([]byte("keyward-recovery:" + normalized))
	return h[:]
}

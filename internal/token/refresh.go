package token

import (
	"crypto/sha256"
	"io"
	"strings"

	"github.com/keyward/keyward"
)

// RefreshPrefix starts every refresh token, so that scanners and logs can tell one from an API
// key (kw_) or a JWT at a glance.
const RefreshPrefix = "kwr_"

// refreshChars is the number of base62 characters after the prefix: 43 × log2(62) ≈ 256.03 bits.
const refreshChars = 43

// RefreshTokenLength is the length of every refresh token.
const RefreshTokenLength = len(RefreshPrefix) + refreshChars

// NewRefreshToken returns a new opaque refresh token and the hash to store in its place.
func NewRefreshToken(r io.Reader) (token string, hash []byte, err error) {
	s, err := keyward.RandomBase62(r, refreshChars)
	if err != nil {
		return "", nil, err
	}
	token = RefreshPrefix + s
	return token, HashRefreshToken(token), nil
}

// HashRefreshToken returns the SHA-256 of a refresh token. A fast hash suffices: the token has
// 256 random bits, so nothing can be guessed from the hash.
func HashRefreshToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// ValidRefreshTokenFormat reports whether s could be a refresh token, so that garbage is
// rejected before it costs a database lookup.
func ValidRefreshTokenFormat(s string) bool {
	if len(s) != RefreshTokenLength || !strings.HasPrefix(s, RefreshPrefix) {
		return false
	}
	for i := len(RefreshPrefix); i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z') {
			return false
		}
	}
	return true
}

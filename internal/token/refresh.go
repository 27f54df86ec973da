package token

import (
	"crypto/sha256"
	"fmt"
	"io"
	"strings"

	"github.com/keyward/keyward"
)

// RefreshPrefix starts every refresh token, so that scanners and logs can tell one from an API
// key (kw_) or a JWT at a glance.
const RefreshPrefix = "kwr_"

// refreshChars is the number of random base62 characters of a refresh token:
// 43 × log2(62) ≈ 256.03 bits.
const refreshChars = 43

// sessionChars is the length of the session id's body (without its prefix) that a refresh token
// carries before its random part.
const sessionChars = keyward.IDLength

// RefreshTokenLength is the length of every refresh token: the prefix, the body of its session's
// id, and the random part. The store finds the session by its id, a lookup in the primary key,
// instead of keeping an index of every token's hash; the session id is not a secret (it is the
// access token's sid), and the 256 random bits are what makes the token unguessable.
const RefreshTokenLength = len(RefreshPrefix) + sessionChars + refreshChars

// legacyRefreshTokenLength is the length of the tokens issued before they carried their session
// id (the prefix and the random part only). They stay valid for the rest of their life.
const legacyRefreshTokenLength = len(RefreshPrefix) + refreshChars

// NewRefreshToken returns a new opaque refresh token of the session sessionID and the hash to
// store in its place.
func NewRefreshToken(r io.Reader, sessionID string) (token string, hash []byte, err error) {
	if !keyward.ValidSessionID(sessionID) {
		return "", nil, fmt.Errorf("refresh token: malformed session id %q", sessionID)
	}
	s, err := keyward.RandomBase62(r, refreshChars)
	if err != nil {
		return "", nil, err
	}
	token = RefreshPrefix + sessionID[len(keyward.PrefixSession):] + s
	return token, HashRefreshToken(token), nil
}

// HashRefreshToken returns the SHA-256 of a refresh token. A fast hash suffices: the token has
// 256 random bits, so nothing can be guessed from the hash.
func HashRefreshToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// ParseRefreshToken reports whether s could be a refresh token, so that garbage is rejected
// before it costs a database lookup, and returns the id of the session it names. The session id
// is empty for a token of the earlier format, which names none.
func ParseRefreshToken(s string) (sessionID string, ok bool) {
	if !strings.HasPrefix(s, RefreshPrefix) || !keyward.IsBase62(s[len(RefreshPrefix):]) {
		return "", false
	}
	switch len(s) {
	case RefreshTokenLength:
		return keyward.PrefixSession + s[len(RefreshPrefix):len(RefreshPrefix)+sessionChars], true
	case legacyRefreshTokenLength:
		return "", true
	}
	return "", false
}

package keyward

import (
	"fmt"
	"io"
	"time"
)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// IDLength is the number of base62 characters after an identifier's prefix (about 95 bits).
const IDLength = 16

// Identifier prefixes make every id self-describing in logs and URLs; none of them can be a
// project name, because project names never contain an underscore.
const (
	PrefixUser    = "usr_"
	PrefixProject = "prj_"
	PrefixSession = "ses_"
	PrefixRole    = "rol_"
)

// NewID returns prefix followed by IDLength random base62 characters read from r.
// Randomness is injected so that tests can be deterministic.
func NewID(r io.Reader, prefix string) (string, error) {
	s, err := RandomBase62(r, IDLength)
	if err != nil {
		return "", err
	}
	return prefix + s, nil
}

// RandomBase62 returns n uniformly random base62 characters read from r, by rejection sampling
// (bytes >= 248 are discarded so that no character is more likely than another).
func RandomBase62(r io.Reader, n int) (string, error) {
	out := make([]byte, 0, n)
	buf := make([]byte, n+n/4+8)
	for len(out) < n {
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", fmt.Errorf("read random: %w", err)
		}
		for _, b := range buf {
			if b < 248 && len(out) < n {
				out = append(out, base62[b%62])
			}
		}
	}
	return string(out), nil
}

// sessionTimeChars is the number of base62 characters that encode a session id's creation time
// in milliseconds: 62^8 ms is about 6,900 years.
const sessionTimeChars = 8

// NewSessionID returns a session id that sorts by creation time: PrefixSession, the millisecond
// of now in sessionTimeChars base62 digits (most significant first), then random characters up
// to IDLength. Sessions are written far more often than anything else, and an id that grows with
// time appends to the end of the table's index instead of touching a random page of it; the
// random part (about 47 bits) keeps ids of one millisecond apart. A session id is not a secret:
// it travels in every access token as sid.
func NewSessionID(now time.Time, r io.Reader) (string, error) {
	ms := now.UnixMilli()
	if ms < 0 {
		return "", fmt.Errorf("session id: time %v before 1970", now)
	}
	var buf [IDLength]byte
	for i := sessionTimeChars - 1; i >= 0; i-- {
		buf[i] = base62[ms%62]
		ms /= 62
	}
	random, err := RandomBase62(r, IDLength-sessionTimeChars)
	if err != nil {
		return "", err
	}
	copy(buf[sessionTimeChars:], random)
	return PrefixSession + string(buf[:]), nil
}

// ValidSessionID reports whether s has the shape of a session id: PrefixSession and IDLength
// base62 characters.
func ValidSessionID(s string) bool {
	if len(s) != len(PrefixSession)+IDLength || s[:len(PrefixSession)] != PrefixSession {
		return false
	}
	return IsBase62(s[len(PrefixSession):])
}

// IsBase62 reports whether every byte of s is one of the base62 characters of ids and secrets.
func IsBase62(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z') {
			return false
		}
	}
	return true
}

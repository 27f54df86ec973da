package keyward

import (
	"fmt"
	"io"
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

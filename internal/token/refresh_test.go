package token

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"testing/iotest"
)

func TestNewRefreshToken(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		tok, hash, err := NewRefreshToken(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(tok, "kwr_") || len(tok) != 47 || !ValidRefreshTokenFormat(tok) {
			t.Fatalf("token %q has the wrong format", tok)
		}
		if want := sha256.Sum256([]byte(tok)); !bytes.Equal(hash, want[:]) || !bytes.Equal(HashRefreshToken(tok), hash) {
			t.Fatal("hash is not the SHA-256 of the token")
		}
		if seen[tok] {
			t.Fatal("repeated token")
		}
		seen[tok] = true
	}
	// 43 base62 characters carry at least 256 bits.
	if bits := float64(refreshChars) * 5.954196310386876; bits < 256 {
		t.Errorf("refresh token carries %.1f bits", bits)
	}
	if _, _, err := NewRefreshToken(iotest.ErrReader(errors.New("no entropy"))); err == nil {
		t.Error("NewRefreshToken succeeded without randomness")
	}
}

func TestValidRefreshTokenFormat(t *testing.T) {
	good := "kwr_" + strings.Repeat("aZ09", 10) + "xyz"
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{good, true},
		{"", false},
		{"kwr_", false},
		{good[:len(good)-1], false},
		{good + "a", false},
		{"kw_" + good[3:], false},
		{"KWR_" + good[4:], false},
		{"kwx_" + good[4:], false},
		{good[:10] + "-" + good[11:], false},
		{good[:10] + "_" + good[11:], false},
		{good[:10] + "é"[:1] + good[11:], false},
		{good[:46] + "\n", false},
		{"kw_0123456789abcdefABCDEF0123456789abcdefABCDEF0123", false}, // an API key
	} {
		if got := ValidRefreshTokenFormat(tc.in); got != tc.ok {
			t.Errorf("ValidRefreshTokenFormat(%q) = %v, want %v", tc.in, got, tc.ok)
		}
	}
}

func FuzzValidRefreshTokenFormat(f *testing.F) {
	tok, _, _ := NewRefreshToken(rand.Reader)
	f.Add(tok)
	f.Add("kwr_")
	f.Add(tok[:46] + "!")
	f.Fuzz(func(t *testing.T, s string) {
		if !ValidRefreshTokenFormat(s) {
			return
		}
		if len(s) != RefreshTokenLength || !strings.HasPrefix(s, RefreshPrefix) ||
			strings.Trim(s[4:], "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") != "" {
			t.Fatalf("accepted %q", s)
		}
	})
}

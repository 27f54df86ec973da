package token

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/keyward/keyward"
)

const testSession = "ses_0Abc1Def2Ghi3Jkl"

func TestNewRefreshToken(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		tok, hash, err := NewRefreshToken(rand.Reader, testSession)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(tok, "kwr_0Abc1Def2Ghi3Jkl") || len(tok) != 63 {
			t.Fatalf("token %q has the wrong format", tok)
		}
		if sid, ok := ParseRefreshToken(tok); !ok || sid != testSession {
			t.Fatalf("ParseRefreshToken(%q) = %q, %v; want %q, true", tok, sid, ok, testSession)
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
	if _, _, err := NewRefreshToken(iotest.ErrReader(errors.New("no entropy")), testSession); err == nil {
		t.Error("NewRefreshToken succeeded without randomness")
	}
	for _, bad := range []string{"", "ses_", "ses_0Abc1Def2Ghi3Jk", "usr_0Abc1Def2Ghi3Jkl", "ses_0Abc1Def2Ghi3Jk-"} {
		if _, _, err := NewRefreshToken(rand.Reader, bad); err == nil {
			t.Errorf("NewRefreshToken accepted the session id %q", bad)
		}
	}
}

func TestNewRefreshTokenOfNewSession(t *testing.T) {
	sid, err := keyward.NewSessionID(time.Now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := NewRefreshToken(rand.Reader, sid)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := ParseRefreshToken(tok); !ok || got != sid {
		t.Fatalf("ParseRefreshToken(%q) = %q, %v; want %q", tok, got, ok, sid)
	}
}

func TestParseRefreshToken(t *testing.T) {
	good := "kwr_0Abc1Def2Ghi3Jkl" + strings.Repeat("aZ09", 10) + "xyz"
	legacy := "kwr_" + strings.Repeat("aZ09", 10) + "xyz"
	for _, tc := range []struct {
		in  string
		sid string
		ok  bool
	}{
		{good, testSession, true},
		{legacy, "", true}, // issued before tokens named their session
		{"", "", false},
		{"kwr_", "", false},
		{good[:len(good)-1], "", false},
		{good + "a", "", false},
		{legacy[:len(legacy)-1], "", false},
		{legacy + "a", "", false},
		{"kw_" + good[3:], "", false},
		{"KWR_" + good[4:], "", false},
		{"kwx_" + good[4:], "", false},
		{good[:10] + "-" + good[11:], "", false},
		{good[:10] + "_" + good[11:], "", false},
		{good[:10] + "é"[:1] + good[11:], "", false},
		{good[:62] + "\n", "", false},
		{"kw_0123456789abcdefABCDEF0123456789abcdefABCDEF0123", "", false}, // an API key
	} {
		sid, ok := ParseRefreshToken(tc.in)
		if ok != tc.ok || sid != tc.sid {
			t.Errorf("ParseRefreshToken(%q) = %q, %v; want %q, %v", tc.in, sid, ok, tc.sid, tc.ok)
		}
	}
}

func FuzzParseRefreshToken(f *testing.F) {
	tok, _, _ := NewRefreshToken(rand.Reader, testSession)
	f.Add(tok)
	f.Add("kwr_")
	f.Add(tok[:62] + "!")
	f.Add("kwr_" + tok[20:])
	f.Fuzz(func(t *testing.T, s string) {
		sid, ok := ParseRefreshToken(s)
		if !ok {
			return
		}
		if len(s) != RefreshTokenLength && len(s) != legacyRefreshTokenLength || !strings.HasPrefix(s, RefreshPrefix) ||
			strings.Trim(s[4:], "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") != "" {
			t.Fatalf("accepted %q", s)
		}
		if sid != "" && (!keyward.ValidSessionID(sid) || !strings.HasPrefix(s, "kwr_"+sid[4:])) {
			t.Fatalf("ParseRefreshToken(%q) named the session %q", s, sid)
		}
	})
}

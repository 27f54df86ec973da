package keyward

import (
	"crypto/rand"
	"errors"
	"sort"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

func TestNewSessionIDSortsByTime(t *testing.T) {
	start := time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)
	var ids []string
	for i := range 200 {
		id, err := NewSessionID(start.Add(time.Duration(i)*time.Millisecond), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if !ValidSessionID(id) || !strings.HasPrefix(id, PrefixSession) {
			t.Fatalf("NewSessionID = %q, not a session id", id)
		}
		ids = append(ids, id)
	}
	// Byte order is the order SQLite's index keeps: a later millisecond always sorts after.
	if !sort.StringsAreSorted(ids) {
		t.Fatalf("session ids of increasing times do not sort in that order: %v", ids[:5])
	}
	a, _ := NewSessionID(start, rand.Reader)
	b, _ := NewSessionID(start, rand.Reader)
	if a == b {
		t.Fatal("two session ids of the same millisecond are equal")
	}
	// Across digit boundaries too (62 ms, 62² ms …), and decades apart.
	later, _ := NewSessionID(start.Add(10*365*24*time.Hour), rand.Reader)
	if later <= a {
		t.Fatalf("a session id ten years later (%s) sorts before %s", later, a)
	}
	if _, err := NewSessionID(time.Unix(-1, 0), rand.Reader); err == nil {
		t.Error("NewSessionID accepted a time before 1970")
	}
	if _, err := NewSessionID(start, iotest.ErrReader(errors.New("no entropy"))); err == nil {
		t.Error("NewSessionID succeeded without randomness")
	}
}

func TestValidSessionID(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"ses_0123456789abcdEF", true},
		{"ses_0123456789abcdE", false},
		{"ses_0123456789abcdEFG", false},
		{"usr_0123456789abcdEF", false},
		{"ses_0123456789abcd-F", false},
		{"", false},
	} {
		if got := ValidSessionID(tc.in); got != tc.ok {
			t.Errorf("ValidSessionID(%q) = %v, want %v", tc.in, got, tc.ok)
		}
	}
}

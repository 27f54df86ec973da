package devicecode

import (
	"bytes"
	"crypto/rand"
	"strings"
	"testing"
)

func TestUserCode(t *testing.T) {
	seen := map[byte]int{}
	for range 2000 {
		shown, hash, err := NewUserCode(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if len(shown) != 9 || shown[4] != '-' {
			t.Fatalf("user code %q is not XXXX-XXXX", shown)
		}
		for _, variant := range []string{shown, strings.ToLower(shown), strings.ReplaceAll(shown, "-", " "), " " + strings.ReplaceAll(shown, "-", "") + " "} {
			c, ok := Canonical(variant)
			if !ok || !bytes.Equal(Hash(c), hash) {
				t.Fatalf("%q typed as %q is not the code", shown, variant)
			}
		}
		for i := range len(shown) {
			if shown[i] != '-' {
				seen[shown[i]]++
			}
		}
	}
	if len(seen) != len(Alphabet) {
		t.Errorf("2000 codes used %d letters, want all %d", len(seen), len(Alphabet))
	}
	t.Logf("letter counts over 16000 letters: %v", seen)
}

func TestCanonicalRefuses(t *testing.T) {
	for _, typed := range []string{"", "BCDF-GHJ", "BCDF-GHJKL", "BCDA-GHJK", "BCDF-GHJ1", "BCDF_GHJK", "BCDF\u00a0GHJK", "ＢCDF-GHJK",
		strings.Repeat(" ", 100) + "BCDFGHJK"} {
		if c, ok := Canonical(typed); ok {
			t.Errorf("Canonical(%q) = %q, want refused", typed, c)
		}
	}
}

func TestDeviceCode(t *testing.T) {
	a, ha, err := NewDeviceCode(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := NewDeviceCode(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if a == b || len(a) != 43 || !bytes.Equal(Hash(a), ha) {
		t.Fatalf("device codes %q, %q", a, b)
	}
}

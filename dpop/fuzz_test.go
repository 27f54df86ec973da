package dpop_test

import (
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"

	"github.com/keyward/keyward/dpop"
)

var reasons = []error{dpop.ErrMissing, dpop.ErrMalformed, dpop.ErrAlgorithm, dpop.ErrKey, dpop.ErrSignature,
	dpop.ErrMethod, dpop.ErrURL, dpop.ErrStale, dpop.ErrNonce, dpop.ErrATH}

// FuzzVerify feeds Verify arbitrary strings next to one genuine proof. It must not panic, must
// refuse with one of its reasons, and must accept nothing but the genuine proof.
func FuzzVerify(f *testing.F) {
	// Ed25519 signs deterministically, so every fuzzing process builds the same genuine proof.
	key := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	genuine, err := dpop.NewProof(key, "POST", tokenURL, dpop.WithTime(now), dpop.WithRand(strings.NewReader(strings.Repeat("j", 16))))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(genuine)
	f.Add(genuine[:len(genuine)-2])
	f.Add("")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, raw string) {
		p, err := dpop.Verify(raw, dpop.Options{Method: "POST", URL: tokenURL, Now: now})
		if err == nil {
			if raw != genuine {
				t.Fatalf("accepted a string other than the genuine proof: %q -> %+v", raw, p)
			}
			return
		}
		for _, r := range reasons {
			if errors.Is(err, r) {
				return
			}
		}
		t.Fatalf("refused with an unlisted reason: %v", err)
	})
}

package webhook

import (
	"bytes"
	"crypto/rand"
	"testing"
	"time"
)

// TestSignReferenceVector: the signature of the Standard Webhooks specification's example, so
// that every library that implements it verifies ours.
func TestSignReferenceVector(t *testing.T) {
	key, err := ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	got := Sign([][]byte{key}, "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Fatalf("Sign = %q, want %q", got, want)
	}
}

// TestSealedSecretIsBoundToItsWebhook: a sealed secret opens for its webhook only, and only with
// the master key; one stored without a master key opens as it is.
func TestSealedSecretIsBoundToItsWebhook(t *testing.T) {
	master := make([]byte, 32)
	rand.Read(master)
	key, text, err := NewSecret(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if parsed, err := ParseSecret(text); err != nil || !bytes.Equal(parsed, key) {
		t.Fatalf("ParseSecret(NewSecret's text) = %x, %v; want %x", parsed, err, key)
	}
	sealed, err := Seal(master, "whk_one", key, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, key) {
		t.Fatal("the sealed secret contains the key")
	}
	if got, err := Open(master, "whk_one", sealed); err != nil || !bytes.Equal(got, key) {
		t.Fatalf("Open = %x, %v; want the key", got, err)
	}
	if _, err := Open(master, "whk_two", sealed); err == nil {
		t.Fatal("a secret sealed for one webhook opened for another")
	}
	if _, err := Open(nil, "whk_one", sealed); err == nil {
		t.Fatal("a sealed secret opened without the master key")
	}
	plain, err := Seal(nil, "whk_one", key, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := Open(nil, "whk_one", plain); err != nil || !bytes.Equal(got, key) {
		t.Fatalf("Open(plain) = %x, %v", got, err)
	}
}

// TestBackoff: the wait doubles from the base, with at most a tenth more at random, and never
// exceeds the retry window.
func TestBackoff(t *testing.T) {
	for n, want := range map[int]time.Duration{1: 5 * time.Second, 2: 10 * time.Second, 3: 20 * time.Second, 6: 160 * time.Second} {
		if got := Backoff(0, n, nil); got != want {
			t.Errorf("Backoff(default, %d) = %s, want %s", n, got, want)
		}
		for range 20 {
			got := Backoff(5*time.Second, n, rand.Reader)
			if got < want || got > want+want/10 {
				t.Errorf("Backoff(5s, %d) with jitter = %s, want within [%s, %s]", n, got, want, want+want/10)
			}
		}
	}
	if got := Backoff(time.Hour, 1000, nil); got != 24*time.Hour {
		t.Errorf("Backoff(1h, 1000) = %s, want the window", got)
	}
}

package leakreport_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/fakeclock"
	"github.com/keyward/keyward/internal/leakreport"
	"github.com/keyward/keyward/internal/leakreport/leaktest"
)

// TestKeysRotation: the keys are fetched once; a report naming an unknown key fetches them again
// at most once a minute, so that the reporter's rotation is picked up and forged identifiers
// cost the reporter one request a minute at most.
func TestKeysRotation(t *testing.T) {
	old, next := leaktest.New(t), leaktest.New(t)
	var current atomic.Pointer[leaktest.Reporter]
	current.Store(old)
	oldFile, nextFile := old.File(t), next.File(t)
	var fetches atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		path := oldFile
		if current.Load() == next {
			path = nextFile
		}
		data, _ := os.ReadFile(path)
		_, _ = w.Write(data)
	}))
	defer srv.Close()
	clk := fakeclock.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	keys := &leakreport.Keys{Source: srv.URL, Now: clk.Now}
	body := []byte(`[]`)

	for range 3 {
		if err := keys.Verify(t.Context(), body, old.KeyID, old.Sign(t, body)); err != nil {
			t.Fatal(err)
		}
	}
	current.Store(next)
	for range 5 {
		if err := keys.Verify(t.Context(), body, next.KeyID, next.Sign(t, body)); !errors.Is(err, leakreport.ErrBadSignature) {
			t.Fatalf("a key published within the minute: %v", err)
		}
		if err := keys.Verify(t.Context(), body, "forged", old.Sign(t, body)); !errors.Is(err, leakreport.ErrBadSignature) {
			t.Fatalf("a forged identifier: %v", err)
		}
	}
	if n := fetches.Load(); n != 1 {
		t.Fatalf("%d fetches within a minute, want 1", n)
	}
	clk.Advance(time.Minute)
	if err := keys.Verify(t.Context(), body, next.KeyID, next.Sign(t, body)); err != nil {
		t.Fatalf("the new key a minute later: %v", err)
	}
	if err := keys.Verify(t.Context(), body, next.KeyID, next.Sign(t, []byte(`[{}]`))); !errors.Is(err, leakreport.ErrBadSignature) {
		t.Fatalf("another body's signature: %v", err)
	}
	if n := fetches.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2", n)
	}
}

// TestKeysUnreadable: a key document that cannot be read or holds no usable key is an error of
// its own, not a bad signature, so the report is answered 503 and retried.
func TestKeysUnreadable(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"public_keys":[{"key_identifier":"x","key":"not pem"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	r := leaktest.New(t)
	body := []byte(`[]`)
	for _, source := range []string{filepath.Join(dir, "missing.json"), bad} {
		keys := &leakreport.Keys{Source: source}
		err := keys.Verify(t.Context(), body, r.KeyID, r.Sign(t, body))
		if err == nil || errors.Is(err, leakreport.ErrBadSignature) {
			t.Errorf("%s: %v", source, err)
		}
	}
}

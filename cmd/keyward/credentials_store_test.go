package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestCredentialStore(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "keyward")
	// A folder made earlier with looser permissions is tightened, since it will hold secrets.
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	m := &Main{UserConfigDir: func() (string, error) { return base, nil }}
	store, err := m.credentialStore()
	if err != nil {
		t.Fatal(err)
	}
	if c, err := store.load(); c != nil || err != nil {
		t.Fatalf("load with no file: %v, %v", c, err)
	}
	want := &credentials{Server: "http://127.0.0.1:1", Email: "a@example.test", AccessToken: "at", RefreshToken: "rt", Expiry: time.Unix(1e9, 0).UTC()}
	if err := store.save(want); err != nil {
		t.Fatal(err)
	}
	got, err := store.load()
	if err != nil || *got != *want {
		t.Fatalf("load after save: %+v, %v", got, err)
	}
	for path, mode := range map[string]os.FileMode{dir: 0o700, store.path(): 0o600} {
		if info, err := os.Stat(path); err != nil || info.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, %v; want %o", path, info.Mode().Perm(), err, mode)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("save left temporary files: %v", entries)
	}

	if err := os.WriteFile(store.path(), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := store.load(); err == nil {
		t.Error("a damaged file loaded")
	}

	// A lock left behind by a process that died is taken over once it is stale.
	if _, err := store.lock(); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * lockStale)
	if err := os.Chtimes(filepath.Join(dir, "credentials.lock"), old, old); err != nil {
		t.Fatal(err)
	}
	unlock2, err := store.lock()
	if err != nil {
		t.Fatalf("a stale lock was not taken over: %v", err)
	}
	unlock2()
}

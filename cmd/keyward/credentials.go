package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/oauth2"
)

// credentials is what `keyward login` stores: the server and the user's token pair. Both tokens
// are secrets, so the file is readable by its owner only. The access token is kept too, so that
// most commands use it without spending the refresh token.
type credentials struct {
	Server       string    `json:"server"`
	Email        string    `json:"email"`
	AccessToken  string    `json:"access_token"`
	Expiry       time.Time `json:"expiry"`
	RefreshToken string    `json:"refresh_token"`
}

// ended reports whether the login has ended: its tokens are gone, its server is remembered.
func (c *credentials) ended() bool { return c.RefreshToken == "" }

func (c *credentials) token() *oauth2.Token {
	return &oauth2.Token{AccessToken: c.AccessToken, TokenType: "Bearer", Expiry: c.Expiry, RefreshToken: c.RefreshToken}
}

// credentialStore is the credentials file in the user's configuration folder.
type credentialStore struct {
	dir string // <config>/keyward, mode 0700
}

func (m *Main) credentialStore() (*credentialStore, error) {
	configDir := m.UserConfigDir
	if configDir == nil {
		configDir = os.UserConfigDir
	}
	base, err := configDir()
	if err != nil {
		return nil, fmt.Errorf("cannot find your configuration folder to keep the login in: %w", err)
	}
	return &credentialStore{dir: filepath.Join(base, "keyward")}, nil
}

func (s *credentialStore) path() string { return filepath.Join(s.dir, "credentials.json") }

// load returns the stored login, or nil when there is none. An ended login (see ended) is
// returned too, for its server.
func (s *credentialStore) load() (*credentials, error) {
	data, err := os.ReadFile(s.path())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var c credentials
	if err := json.Unmarshal(data, &c); err != nil || c.Server == "" {
		return nil, fmt.Errorf("%s is damaged; run 'keyward login' again", s.path())
	}
	return &c, nil
}

// save replaces the stored login atomically: a reader sees the old file or the new one, never
// half of one, and a crash cannot leave a truncated file behind.
func (s *credentialStore) save(c *credentials) error {
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return err
	}
	// The folder may predate this program with looser permissions; it holds secrets.
	if err := os.Chmod(s.dir, 0o700); err != nil {
		return err
	}
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(s.dir, ".credentials-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // after a successful rename there is nothing left to remove
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(append(data, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), s.path())
}

func (s *credentialStore) remove() error {
	err := os.Remove(s.path())
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// How long lock waits for another keyward process (longer than that process may wait for the
// server), and when it takes a lock as abandoned.
const (
	lockWait  = 45 * time.Second
	lockStale = 2 * time.Minute
)

// lock serializes keyward processes that use the stored login. A refresh spends the refresh
// token, and a second process presenting the same token would be taken for a thief and end the
// session, so one process refreshes and saves while the others wait and then read what it saved.
// An exclusively created file works on every operating system; a lock left by a process that
// died is taken over after lockStale.
func (s *credentialStore) lock() (unlock func(), err error) {
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return nil, err
	}
	name := filepath.Join(s.dir, "credentials.lock")
	deadline := time.Now().Add(lockWait)
	for {
		f, err := os.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err == nil {
			f.Close()
			return func() { os.Remove(name) }, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
		if info, err := os.Stat(name); err == nil && time.Since(info.ModTime()) > lockStale {
			os.Remove(name)
			continue
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("another keyward process holds %s; if none runs, remove that file", name)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

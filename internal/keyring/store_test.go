package keyring

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/fakeclock"
)

// memStore is an in-memory Store with the compare-and-swap semantics of the real one. The real
// store has its own conformance suite; here only the keyring's behaviour is under test.
type memStore struct {
	mu       sync.Mutex
	set      keyward.SigningKeySet
	replaces int
	// afterLoad, when set, runs after every load outside the lock, so that tests can line up
	// racing instances between their load and their write.
	afterLoad func()
	down      bool // every call fails, as with an unreachable database
}

func (s *memStore) LoadSigningKeys(ctx context.Context) (keyward.SigningKeySet, error) {
	s.mu.Lock()
	if s.down {
		s.mu.Unlock()
		return keyward.SigningKeySet{}, errors.New("connection refused")
	}
	out := keyward.SigningKeySet{Version: s.set.Version, Keys: cloneKeys(s.set.Keys)}
	hook := s.afterLoad
	s.mu.Unlock()
	if hook != nil {
		hook()
	}
	return out, nil
}

func (s *memStore) ReplaceSigningKeys(ctx context.Context, expected int64, keys []keyward.SigningKey) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if expected != s.set.Version {
		return 0, keyward.Errorf(keyward.ECONFLICT, "Signing keys changed.")
	}
	s.set = keyward.SigningKeySet{Version: s.set.Version + 1, Keys: cloneKeys(keys)}
	s.replaces++
	return s.set.Version, nil
}

func (s *memStore) snapshot() keyward.SigningKeySet {
	s.mu.Lock()
	defer s.mu.Unlock()
	return keyward.SigningKeySet{Version: s.set.Version, Keys: cloneKeys(s.set.Keys)}
}

// cloneKeys copies deeply and drops monotonic clock readings, as a database round trip would.
func cloneKeys(keys []keyward.SigningKey) []keyward.SigningKey {
	out := slices.Clone(keys)
	for i := range out {
		k := &out[i]
		k.Private = slices.Clone(k.Private)
		for _, t := range []*time.Time{&k.CreatedAt, &k.PublishAt, &k.ActivateAt, &k.RetireAt, &k.UnpublishAt} {
			*t = t.Round(0).UTC()
		}
	}
	return out
}

func newClock() *fakeclock.Clock { return fakeclock.New(time.Date(2030, 1, 1, 9, 30, 0, 0, time.UTC)) }

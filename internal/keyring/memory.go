package keyring

import (
	"context"
	"sync"

	"github.com/keyward/keyward"
)

// MemoryStore is a Store in memory with the compare-and-swap of the real one, for keys that live
// as long as the process: tests, and the bench's signing ceiling.
type MemoryStore struct {
	mu  sync.Mutex
	set keyward.SigningKeySet
}

// NewMemoryStore returns a store that holds set; the zero SigningKeySet is an empty store.
func NewMemoryStore(set keyward.SigningKeySet) *MemoryStore { return &MemoryStore{set: set} }

// LoadSigningKeys returns the set.
func (s *MemoryStore) LoadSigningKeys(context.Context) (keyward.SigningKeySet, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.set, nil
}

// ReplaceSigningKeys stores keys if the set is still at version v; ECONFLICT otherwise.
func (s *MemoryStore) ReplaceSigningKeys(_ context.Context, v int64, keys []keyward.SigningKey) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v != s.set.Version {
		return 0, keyward.Errorf(keyward.ECONFLICT, "Signing keys changed.")
	}
	s.set = keyward.SigningKeySet{Version: v + 1, Keys: keys}
	return s.set.Version, nil
}

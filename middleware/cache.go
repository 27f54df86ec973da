package middleware

import (
	"crypto/sha256"
	"encoding/binary"
	"sync"
	"time"
	"unsafe"
)

// cacheShards splits the cache so that parallel requests rarely wait for one another's lock.
const cacheShards = 16

// tokenCache maps the SHA-256 of a verified token to its Caller until the token expires. Keys
// are digests, not tokens, so the cache holds no bearer credential, and a collision would need a
// second preimage of SHA-256. It is bounded: a full shard first drops expired entries, then
// arbitrary ones (Go's map order is random), which only costs those tokens one more verification.
type tokenCache struct {
	perShard int
	shards   [cacheShards]cacheShard
}

type cacheShard struct {
	mu      sync.RWMutex
	entries map[[sha256.Size]byte]*Caller
}

func newTokenCache(size int) *tokenCache {
	c := &tokenCache{perShard: max(size/cacheShards, 1)}
	for i := range c.shards {
		c.shards[i].entries = make(map[[sha256.Size]byte]*Caller)
	}
	return c
}

// cacheKey hashes the token where it lies: converting a string of half a kilobyte to a []byte
// would copy it on every request, and Sum256 neither keeps nor changes its input.
func cacheKey(raw string) [sha256.Size]byte {
	return sha256.Sum256(unsafe.Slice(unsafe.StringData(raw), len(raw)))
}

func (c *tokenCache) shard(key *[sha256.Size]byte) *cacheShard {
	return &c.shards[binary.LittleEndian.Uint32(key[:4])%cacheShards]
}

// get returns the Caller of a cached token that has not expired at now.
func (c *tokenCache) get(key [sha256.Size]byte, now time.Time, leeway time.Duration) (*Caller, bool) {
	s := c.shard(&key)
	s.mu.RLock()
	caller, ok := s.entries[key]
	s.mu.RUnlock()
	if !ok || !now.Before(caller.Expiry.Add(leeway)) {
		return nil, false
	}
	return caller, true
}

func (c *tokenCache) put(key [sha256.Size]byte, caller *Caller, now time.Time, leeway time.Duration) {
	s := c.shard(&key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.entries) >= c.perShard {
		for k, e := range s.entries {
			if !now.Before(e.Expiry.Add(leeway)) {
				delete(s.entries, k)
			}
		}
		for k := range s.entries {
			if len(s.entries) < c.perShard {
				break
			}
			delete(s.entries, k)
		}
	}
	s.entries[key] = caller
}

// len counts the cached tokens.
func (c *tokenCache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.entries)
		s.mu.RUnlock()
	}
	return n
}

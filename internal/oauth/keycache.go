package oauth

import (
	"context"
	"sync"

	"github.com/keyward/keyward"
)

// maxCachedKeys bounds the key cache: about half a kilobyte each.
const maxCachedKeys = 10_000

// keyCache remembers API keys read from the store, so that exchanges and refreshes do not read
// their key on every request (a read is about a sixth of an exchange on SQLite).
//
// It is safe because a cached copy can hide neither a deletion, a disabling, an edit nor a roll
// (which increments the revision too): every
// use of a key ends in a write transaction that checks it. CreateSession fails with ENOTFOUND
// once the key is gone or disabled and with ECONFLICT once its revision moved on (the exchange
// then starts again from the store); ConsumeRefreshToken fails with EREVOKED after a deletion, a
// disabling or a narrowing edit, which revoke the key's sessions in their own transaction, and
// returns the key's revision, so that a refresh rereads a copy older than a widening. What the
// key may do also depends on its owner's membership, which is read apart from the cache
// (manage.Authorizer). This holds across instances sharing one database. The last-used time,
// which the token endpoint does not look at, may be stale.
type keyCache struct {
	mu sync.RWMutex
	m  map[string]*keyward.APIKey // never modified once stored: callers share them read-only
}

func (c *keyCache) get(id string) *keyward.APIKey {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.m[id]
}

func (c *keyCache) put(k *keyward.APIKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]*keyward.APIKey)
	}
	if len(c.m) >= maxCachedKeys {
		// Any entry will do: map iteration starts at a random one, and a miss costs one read.
		for id := range c.m {
			delete(c.m, id)
			break
		}
	}
	c.m[k.ID] = k
}

func (c *keyCache) drop(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, id)
}

// apiKey returns the key with id, from the cache or else from the store.
func (s *Server) apiKey(ctx context.Context, id string) (*keyward.APIKey, error) {
	if k := s.cachedKeys.get(id); k != nil {
		return k, nil
	}
	k, err := s.Store.APIKey(ctx, id)
	if err != nil {
		return nil, err
	}
	s.cachedKeys.put(k)
	return k, nil
}

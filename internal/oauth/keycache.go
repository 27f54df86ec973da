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
// It is safe because a key never changes after its creation, except for its last-used time,
// which the token endpoint does not look at, and its deletion or disabling, which a cached copy
// cannot hide: every use of a key ends in a write transaction that checks it, where CreateSession
// fails with ENOTFOUND once the key is gone or disabled, and ConsumeRefreshToken with EREVOKED,
// since DeleteAPIKey, RemoveMember and SetUserDisabled revoke the key's sessions in the
// transaction that deletes or disables it. What the key may do depends on its owner's membership,
// which is read apart from the cache (manage.Authorizer). This holds across instances
// sharing one database. Should keys ever become editable, this cache must go or learn of edits.
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

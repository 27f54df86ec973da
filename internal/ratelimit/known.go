package ratelimit

import (
	"container/list"
	"sync"
	"time"
)

// Known remembers keys that succeeded recently (a user at an address that signed in), so that
// their next attempt can be told from a stranger's. It holds at most MaxKeys keys, each for ttl
// after its last success; when full, the one that succeeded longest ago makes room. Memory
// bounds it rather than the database because it only relaxes throttling: forgetting a key
// costs its owner nothing but the ordinary lockout. A Known is safe for concurrent use.
type Known struct {
	ttl     time.Duration
	now     func() time.Time
	maxKeys int

	mu    sync.Mutex
	keys  map[string]*list.Element
	order list.List // of *known, oldest success at the front
}

type known struct {
	key string
	at  time.Time
}

// NewKnown returns a Known that remembers a key for ttl after its last success; now is the clock
// (time.Now when nil).
func NewKnown(ttl time.Duration, now func() time.Time) *Known {
	if now == nil {
		now = time.Now
	}
	return &Known{ttl: ttl, now: now, maxKeys: MaxKeys, keys: make(map[string]*list.Element)}
}

// Remember records a success of key now.
func (k *Known) Remember(key string) {
	now := k.now()
	k.mu.Lock()
	defer k.mu.Unlock()
	k.forgetOld(now)
	if e := k.keys[key]; e != nil {
		e.Value.(*known).at = now
		k.order.MoveToBack(e)
		return
	}
	if len(k.keys) >= k.maxKeys {
		k.remove(k.order.Front())
	}
	k.keys[key] = k.order.PushBack(&known{key: key, at: now})
}

// Has reports whether key succeeded within the last ttl.
func (k *Known) Has(key string) bool {
	now := k.now()
	k.mu.Lock()
	defer k.mu.Unlock()
	k.forgetOld(now)
	_, ok := k.keys[key]
	return ok
}

// Len returns the number of keys remembered.
func (k *Known) Len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.keys)
}

func (k *Known) forgetOld(now time.Time) {
	for e := k.order.Front(); e != nil && now.Sub(e.Value.(*known).at) >= k.ttl; e = k.order.Front() {
		k.remove(e)
	}
}

func (k *Known) remove(e *list.Element) {
	delete(k.keys, e.Value.(*known).key)
	k.order.Remove(e)
}

package dpop

import (
	"container/heap"
	"sync"
	"time"
)

// DefaultReplayEntries bounds a ReplayCache made with a size of zero: at a minute's window, room
// for over a thousand proofs a second.
const DefaultReplayEntries = 100000

// ReplayCache remembers the jtis of proofs until they expire, so that each is accepted once. It
// is bounded: when full, it forgets the entry closest to expiry, the one an attacker could replay
// for the shortest time. It is safe for concurrent use. One process's cache does not see another
// process's proofs; a proof replayed to another replica within its minute is not detected.
type ReplayCache struct {
	mu   sync.Mutex
	max  int
	now  func() time.Time
	seen map[string]time.Time
	heap expiries
}

// NewReplayCache returns a cache of at most size entries (zero: DefaultReplayEntries) on the clock
// now (nil: time.Now).
func NewReplayCache(size int, now func() time.Time) *ReplayCache {
	if size <= 0 {
		size = DefaultReplayEntries
	}
	if now == nil {
		now = time.Now
	}
	return &ReplayCache{max: size, now: now, seen: make(map[string]time.Time)}
}

// Seen reports whether jti was recorded before and has not expired; otherwise it records jti
// until then. Callers that accept proofs of many keys pass a key that names the jkt too, as Check
// does, so that one client's jti never blocks another's.
func (c *ReplayCache) Seen(jti string, until time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	for len(c.heap) > 0 && !c.heap[0].until.After(now) {
		e := heap.Pop(&c.heap).(expiry)
		if c.seen[e.jti].Equal(e.until) {
			delete(c.seen, e.jti)
		}
	}
	if u, ok := c.seen[jti]; ok && u.After(now) {
		return true
	}
	for len(c.seen) >= c.max && len(c.heap) > 0 {
		e := heap.Pop(&c.heap).(expiry)
		if c.seen[e.jti].Equal(e.until) {
			delete(c.seen, e.jti)
		}
	}
	c.seen[jti] = until
	heap.Push(&c.heap, expiry{jti, until})
	return false
}

// Len is the number of jtis remembered.
func (c *ReplayCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}

// Check records a proof verified with opts, and refuses it with ErrReplay when its jti was used
// before by the same key within the window.
func (c *ReplayCache) Check(p *Proof, opts Options) error {
	if c.Seen(p.JKT+"."+p.JTI, opts.ReplayUntil(p)) {
		return ErrReplay
	}
	return nil
}

type expiry struct {
	jti   string
	until time.Time
}

// expiries is a min-heap by until.
type expiries []expiry

func (h expiries) Len() int           { return len(h) }
func (h expiries) Less(i, j int) bool { return h[i].until.Before(h[j].until) }
func (h expiries) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiries) Push(x any)        { *h = append(*h, x.(expiry)) }
func (h *expiries) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

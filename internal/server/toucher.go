package server

import (
	"context"
	"log/slog"
	"net/netip"
	"sync"
	"time"
)

// toucherStore records last use.
type toucherStore interface {
	TouchAPIKey(ctx context.Context, id string, at time.Time, ip string) error
}

// toucher batches last-used updates: an exchange must not wait for a write whose only reader is a
// person looking at the key list, so the latest use per key is written once a second. A crash
// loses at most a second of last-used times, never an acknowledged token.
type toucher struct {
	store toucherStore
	log   *slog.Logger
	mu    sync.Mutex
	seen  map[string]use
}

type use struct {
	at time.Time
	ip netip.Addr
}

func newToucher(s toucherStore, log *slog.Logger) *toucher {
	return &toucher{store: s, log: log, seen: make(map[string]use)}
}

// Touch notes a use of key id.
func (t *toucher) Touch(id string, at time.Time, ip netip.Addr) {
	t.mu.Lock()
	if u, ok := t.seen[id]; !ok || at.After(u.at) {
		t.seen[id] = use{at, ip}
	}
	t.mu.Unlock()
}

func (t *toucher) flush(ctx context.Context) {
	t.mu.Lock()
	batch := t.seen
	t.seen = make(map[string]use, len(batch))
	t.mu.Unlock()
	for id, u := range batch {
		if err := t.store.TouchAPIKey(ctx, id, u.at, u.ip.String()); err != nil {
			t.log.Warn("could not record key use", "key", id, "err", err)
		}
	}
}

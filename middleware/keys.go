package middleware

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/keyward/keyward/accesstoken"
)

const (
	// The JWKS is refreshed when its max-age runs out, within these bounds: often enough to meet
	// rotated keys before they sign (keyward publishes them one cache lifetime ahead), rarely
	// enough not to load the issuer. Without a max-age, defaultKeysMaxAge applies.
	minKeysMaxAge     = time.Minute
	maxKeysMaxAge     = 24 * time.Hour
	defaultKeysMaxAge = 10 * time.Minute
	// retryKeysAfter is when a failed periodic refresh is tried again.
	retryKeysAfter = 30 * time.Second
)

// verificationKey is a public key with the one algorithm it may be used with.
type verificationKey struct {
	alg string
	key any
}

// keySet is the issuer's JWKS, fetched at start, refreshed when its max-age runs out, and
// refetched when a token names an unknown kid, at most once every minRefresh with one fetch in
// flight.
type keySet struct {
	url        string
	hc         *http.Client
	algs       []jose.SignatureAlgorithm
	minRefresh time.Duration
	// refetchTimeout bounds the refetch a request with an unknown kid waits for.
	refetchTimeout time.Duration
	now            func() time.Time
	log            *slog.Logger

	keys atomic.Pointer[map[string]verificationKey]

	mu        sync.Mutex
	lastFetch time.Time
	maxAge    time.Duration
	failed    bool          // the last fetch failed
	inflight  chan struct{} // closed when the fetch in flight ends
}

// lookup returns the key for kid, usable with alg. A known kid never waits. An unknown kid
// causes one rate-limited refetch, bounded by refetchTimeout, which only the request that started
// it waits for: other requests with unknown kids are refused at once rather than queued behind
// it, so that a hung issuer cannot stall them, and a flood of forged kids costs one fetch.
func (s *keySet) lookup(kid string, alg string) (any, bool) {
	if k, ok := (*s.keys.Load())[kid]; ok {
		return k.key, k.alg == alg
	}
	s.mu.Lock()
	if k, ok := (*s.keys.Load())[kid]; ok { // fetched while this caller waited for the lock
		s.mu.Unlock()
		return k.key, k.alg == alg
	}
	if s.inflight != nil || s.now().Sub(s.lastFetch) < s.minRefresh {
		s.mu.Unlock()
		return nil, false
	}
	done := s.begin()
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), s.refetchTimeout)
	err := s.run(ctx, done)
	cancel()
	if err != nil {
		s.log.Warn("keyward JWKS refetch for an unknown kid failed", "err", err)
	}
	k, ok := (*s.keys.Load())[kid]
	return k.key, ok && k.alg == alg
}

// fetch replaces the key set with the issuer's current one. When a fetch is in flight already,
// it waits for that one (or for ctx) instead. A failed fetch keeps the keys already known.
func (s *keySet) fetch(ctx context.Context) error {
	s.mu.Lock()
	if wait := s.inflight; wait != nil {
		s.mu.Unlock()
		select {
		case <-wait:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	done := s.begin()
	s.mu.Unlock()
	return s.run(ctx, done)
}

// begin marks a fetch in flight; s.mu must be held, and run must follow.
func (s *keySet) begin() chan struct{} {
	done := make(chan struct{})
	s.inflight = done
	s.lastFetch = s.now()
	return done
}

// run does the fetch that begin marked, and ends it.
func (s *keySet) run(ctx context.Context, done chan struct{}) error {
	keys, age, err := s.get(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inflight = nil
	close(done)
	s.failed = err != nil
	if err != nil {
		return err
	}
	s.keys.Store(&keys)
	s.maxAge = age
	return nil
}

func (s *keySet) get(ctx context.Context) (map[string]verificationKey, time.Duration, error) {
	var set jose.JSONWebKeySet
	header, err := getJSON(ctx, s.hc, s.url, &set)
	if err != nil {
		return nil, 0, fmt.Errorf("middleware: fetching the JWKS: %w", err)
	}
	keys := make(map[string]verificationKey, len(set.Keys))
	for _, k := range set.Keys {
		if vk, ok := s.usable(k); ok {
			keys[k.KeyID] = vk
		}
	}
	if len(keys) == 0 {
		return nil, 0, fmt.Errorf("middleware: the JWKS at %s has no usable signing key", s.url)
	}
	return keys, maxAge(header.Get("Cache-Control")), nil
}

// usable accepts a public signing key with a kid whose algorithm is allowed and fits its type
// (accesstoken.PublicKey's rules, which the server's federation shares).
func (s *keySet) usable(k jose.JSONWebKey) (verificationKey, bool) {
	alg, ok := accesstoken.PublicKey(k, s.algs)
	if !ok {
		return verificationKey{}, false
	}
	return verificationKey{alg: string(alg), key: k.Key}, true
}

// nextRefresh is how long until the periodic refresh: the max-age of the last fetch after it
// started, or retryKeysAfter after a failure.
func (s *keySet) nextRefresh() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failed {
		return retryKeysAfter
	}
	return max(s.lastFetch.Add(s.maxAge).Sub(s.now()), time.Second)
}

// maxAge reads Cache-Control's max-age, clamped to sane bounds.
func maxAge(cacheControl string) time.Duration {
	for _, d := range strings.Split(cacheControl, ",") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), "=")
		if !strings.EqualFold(name, "max-age") {
			continue
		}
		secs, err := strconv.ParseInt(strings.Trim(value, `"`), 10, 64)
		if err != nil || secs < 0 {
			break
		}
		return min(max(time.Duration(secs)*time.Second, minKeysMaxAge), maxKeysMaxAge)
	}
	return defaultKeysMaxAge
}

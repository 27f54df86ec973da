package ratelimit

import (
	"container/heap"
	"math"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// MaxKeys caps the number of keys a Limiter tracks, so that an attacker cycling through
// addresses or usernames cannot exhaust memory (about 200 bytes per key besides the key itself,
// so some 25 MB at the cap).
const MaxKeys = 100_000

// epsilon absorbs floating-point error in the token count, so that a caller who waits exactly
// the advertised retryAfter is let through.
const epsilon = 1e-9

// Limiter throttles failed attempts per key with a token bucket: each key may fail burst times
// in a row, then once per 1/perMinute minute. Only failures consume tokens, so legitimate use
// is never slowed down. A Limiter is safe for concurrent use.
//
// Keys whose bucket has refilled are forgotten, since a fresh bucket behaves the same. When
// MaxKeys keys are tracked, the one closest to refilled makes room: the keys an attacker is
// actively hammering have the emptiest buckets, so they are the last to go.
type Limiter struct {
	limit   rate.Limit
	burst   int
	now     func() time.Time
	maxKeys int

	mu    sync.Mutex
	keys  map[string]*entry
	queue queue // min-heap on fullAt
}

type entry struct {
	key    string
	bucket *rate.Limiter
	fullAt time.Time // when the bucket will have refilled, barring new failures
	index  int       // in queue
}

// New returns a Limiter that allows burst failures per key, refilling at perMinute per minute.
// now is the clock (time.Now when nil). New panics unless perMinute and burst are at least 1.
func New(perMinute, burst int, now func() time.Time) *Limiter {
	if perMinute < 1 || burst < 1 {
		panic("ratelimit: perMinute and burst must be at least 1")
	}
	if now == nil {
		now = time.Now
	}
	return &Limiter{
		limit:   rate.Limit(float64(perMinute) / 60),
		burst:   burst,
		now:     now,
		maxKeys: MaxKeys,
		keys:    make(map[string]*entry),
	}
}

// Blocked reports whether key has no failures left, and if so how long until it has one; an
// HTTP caller rounds retryAfter up to whole seconds for Retry-After. It consumes nothing and
// creates no state, so callers check it before doing any work for the request.
func (l *Limiter) Blocked(key string) (retryAfter time.Duration, blocked bool) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.forgetRefilled(now)
	e := l.keys[key]
	if e == nil {
		return 0, false
	}
	tokens := e.bucket.TokensAt(now)
	if tokens >= 1-epsilon {
		return 0, false
	}
	return l.duration(1 - tokens), true
}

// Fail records one failed attempt for key.
func (l *Limiter) Fail(key string) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.forgetRefilled(now)
	e := l.keys[key]
	if e == nil {
		if len(l.keys) >= l.maxKeys {
			l.remove(l.queue[0])
		}
		e = &entry{key: key, bucket: rate.NewLimiter(l.limit, l.burst)}
		l.keys[key] = e
		heap.Push(&l.queue, e)
	}
	e.bucket.AllowN(now, 1) // a failure while blocked is already refused; it need not count twice
	e.fullAt = now.Add(l.duration(float64(l.burst) - e.bucket.TokensAt(now)))
	heap.Fix(&l.queue, e.index)
}

// Reset forgets key's failures, for instance after a successful login.
func (l *Limiter) Reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e := l.keys[key]; e != nil {
		l.remove(e)
	}
}

// Len returns the number of keys tracked.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.keys)
}

func (l *Limiter) forgetRefilled(now time.Time) {
	for len(l.queue) > 0 && !l.queue[0].fullAt.After(now) {
		l.remove(l.queue[0])
	}
}

func (l *Limiter) remove(e *entry) {
	heap.Remove(&l.queue, e.index)
	delete(l.keys, e.key)
}

// duration returns how long the bucket takes to gain tokens, in whole milliseconds: rounded
// to the nearest one when that is enough within epsilon (so 4 s is not advertised as 4.001 s
// because of floating-point error), up otherwise.
func (l *Limiter) duration(tokens float64) time.Duration {
	perMilli := float64(l.limit) / 1000
	ms := math.Round(tokens / perMilli)
	if ms*perMilli < tokens-epsilon {
		ms++
	}
	return time.Duration(ms) * time.Millisecond
}

type queue []*entry

func (q queue) Len() int           { return len(q) }
func (q queue) Less(i, j int) bool { return q[i].fullAt.Before(q[j].fullAt) }
func (q queue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index, q[j].index = i, j
}
func (q *queue) Push(x any) {
	e := x.(*entry)
	e.index = len(*q)
	*q = append(*q, e)
}
func (q *queue) Pop() any {
	old := *q
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return e
}

// Seconds is retryAfter as a Retry-After header counts it: whole seconds, rounded up, at least 1.
func Seconds(retryAfter time.Duration) int {
	return max(int((retryAfter+time.Second-1)/time.Second), 1)
}

// TryAgain says when to retry in words, for a message a person reads.
func TryAgain(retryAfter time.Duration) string {
	if n := Seconds(retryAfter); n != 1 {
		return "Try again in " + strconv.Itoa(n) + " seconds."
	}
	return "Try again in 1 second."
}

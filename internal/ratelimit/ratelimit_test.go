package ratelimit

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/fakeclock"
)

func newClock() *fakeclock.Clock { return fakeclock.New(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)) }

func failN(l *Limiter, key string, n int) {
	for range n {
		l.Fail(key)
	}
}

func wantBlocked(t *testing.T, l *Limiter, key string, want bool, wantRetry time.Duration) {
	t.Helper()
	retry, blocked := l.Blocked(key)
	if blocked != want || retry != wantRetry {
		t.Fatalf("Blocked(%q) = %v, %v; want %v, %v", key, retry, blocked, wantRetry, want)
	}
}

func TestBurstThenRate(t *testing.T) {
	c := newClock()
	l := New(10, 3, c.Now) // one failure every 6 s after a burst of 3

	wantBlocked(t, l, "ip:198.51.100.1", false, 0)
	failN(l, "ip:198.51.100.1", 2)
	wantBlocked(t, l, "ip:198.51.100.1", false, 0)
	l.Fail("ip:198.51.100.1")
	wantBlocked(t, l, "ip:198.51.100.1", true, 6*time.Second)

	c.Advance(2 * time.Second)
	wantBlocked(t, l, "ip:198.51.100.1", true, 4*time.Second)
	c.Advance(4*time.Second - time.Millisecond)
	wantBlocked(t, l, "ip:198.51.100.1", true, time.Millisecond)
	c.Advance(time.Millisecond)
	wantBlocked(t, l, "ip:198.51.100.1", false, 0)

	// One refilled token means one more failure, not a new burst.
	l.Fail("ip:198.51.100.1")
	wantBlocked(t, l, "ip:198.51.100.1", true, 6*time.Second)

	// A full minute refills the whole burst.
	c.Advance(time.Minute)
	failN(l, "ip:198.51.100.1", 2)
	wantBlocked(t, l, "ip:198.51.100.1", false, 0)
}

func TestBlockedConsumesNothing(t *testing.T) {
	c := newClock()
	l := New(10, 3, c.Now)
	for range 100 {
		if _, blocked := l.Blocked("user:a@example.com"); blocked {
			t.Fatal("blocked without a single failure")
		}
	}
	if l.Len() != 0 {
		t.Fatalf("Blocked created %d entries; it must create no state", l.Len())
	}
	failN(l, "user:a@example.com", 2)
	for range 100 {
		l.Blocked("user:a@example.com")
	}
	wantBlocked(t, l, "user:a@example.com", false, 0)
}

func TestFailuresWhileBlockedDoNotExtendTheBlock(t *testing.T) {
	c := newClock()
	l := New(10, 3, c.Now)
	failN(l, "k", 10)
	wantBlocked(t, l, "k", true, 6*time.Second)
}

func TestKeysAreIndependent(t *testing.T) {
	c := newClock()
	l := New(10, 2, c.Now)
	failN(l, "ip:198.51.100.1", 2)
	wantBlocked(t, l, "ip:198.51.100.1", true, 6*time.Second)
	wantBlocked(t, l, "ip:198.51.100.2", false, 0)
	wantBlocked(t, l, "user:198.51.100.1", false, 0)
}

func TestReset(t *testing.T) {
	c := newClock()
	l := New(10, 2, c.Now)
	failN(l, "user:a@example.com", 2)
	l.Reset("user:a@example.com")
	wantBlocked(t, l, "user:a@example.com", false, 0)
	l.Reset("never seen")
	if l.Len() != 0 {
		t.Fatalf("Len = %d after Reset", l.Len())
	}
}

// TestRetryAfterIsEnough checks, for awkward rates, that waiting exactly retryAfter always
// unblocks and waiting a millisecond less never does, whatever the floating-point error.
func TestRetryAfterIsEnough(t *testing.T) {
	for _, perMinute := range []int{1, 3, 7, 10, 11, 60, 61, 97, 1000, 6000} {
		for _, burst := range []int{1, 2, 5, 10} {
			t.Run(fmt.Sprintf("%d per minute, burst %d", perMinute, burst), func(t *testing.T) {
				c := newClock()
				l := New(perMinute, burst, c.Now)
				for round := range 20 {
					failN(l, "k", burst)
					retry, blocked := l.Blocked("k")
					if !blocked || retry <= 0 {
						t.Fatalf("round %d: Blocked = %v, %v after %d failures", round, retry, blocked, burst)
					}
					if retry > time.Duration(burst)*time.Minute/time.Duration(perMinute)+time.Millisecond {
						t.Fatalf("round %d: retry after %v is longer than a full refill", round, retry)
					}
					c.Advance(retry - time.Millisecond)
					if _, blocked := l.Blocked("k"); !blocked && retry > time.Millisecond {
						t.Fatalf("round %d: unblocked a millisecond before %v", round, retry)
					}
					c.Advance(time.Millisecond)
					if r, blocked := l.Blocked("k"); blocked {
						t.Fatalf("round %d: still blocked (%v more) after waiting %v", round, r, retry)
					}
					c.Advance(time.Duration(round) * 1234567 * time.Nanosecond) // vary the phase
				}
			})
		}
	}
}

func TestRefilledKeysAreForgotten(t *testing.T) {
	c := newClock()
	l := New(10, 3, c.Now)
	failN(l, "a", 3) // empty: full again after 18 s
	l.Fail("b")      // full again after 6 s
	if l.Len() != 2 {
		t.Fatalf("Len = %d, want 2", l.Len())
	}
	c.Advance(6 * time.Second)
	l.Blocked("other")
	if l.Len() != 1 {
		t.Fatalf("Len = %d after b refilled, want 1", l.Len())
	}
	wantBlocked(t, l, "a", false, 0) // 1 token back, but not yet full
	c.Advance(12 * time.Second)
	l.Blocked("other")
	if l.Len() != 0 {
		t.Fatalf("Len = %d after every bucket refilled, want 0", l.Len())
	}
}

func TestKeyCapEvictsTheLeastThrottled(t *testing.T) {
	c := newClock()
	l := New(10, 5, c.Now)
	l.maxKeys = 3
	failN(l, "user:victim@example.com", 5) // an attacker guessing one password
	for i := range 1000 {                  // …while cycling addresses to flush the table
		l.Fail(fmt.Sprintf("ip:198.51.%d.%d", i/256, i%256))
		if l.Len() > 3 {
			t.Fatalf("Len = %d, above the cap", l.Len())
		}
	}
	wantBlocked(t, l, "user:victim@example.com", true, 6*time.Second)
	wantBlocked(t, l, "ip:198.51.3.231", false, 0) // the newest key is tracked…
	failN(l, "ip:198.51.3.231", 4)
	wantBlocked(t, l, "ip:198.51.3.231", true, 6*time.Second) // …and throttled
}

func TestDefaultCap(t *testing.T) {
	// The cap's behaviour is tested above with a small cap; filling 100k keys is too slow
	// under the race detector, so this only checks the wiring.
	if l := New(10, 3, nil); l.maxKeys != MaxKeys || MaxKeys != 100_000 {
		t.Fatalf("cap = %d (MaxKeys %d), want 100000", l.maxKeys, MaxKeys)
	}
}

func TestClockGoingBackwards(t *testing.T) {
	c := newClock()
	l := New(10, 2, c.Now)
	failN(l, "k", 2)
	c.Advance(-time.Hour)
	l.Fail("k")
	if _, blocked := l.Blocked("k"); !blocked {
		t.Fatal("a clock step backwards unblocked the key")
	}
}

func TestConcurrentUse(t *testing.T) {
	c := newClock()
	l := New(60, 5, c.Now)
	l.maxKeys = 50
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				key := fmt.Sprint((g*7 + i) % 80)
				switch i % 5 {
				case 0:
					l.Reset(key)
				case 1:
					c.Advance(10 * time.Millisecond)
				default:
					l.Blocked(key)
					l.Fail(key)
				}
			}
		})
	}
	wg.Wait()
	if n := l.Len(); n > 50 {
		t.Fatalf("Len = %d, above the cap", n)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, e := range l.queue {
		if e.index != i || l.keys[e.key] != e {
			t.Fatalf("queue and map disagree at %d", i)
		}
	}
	if len(l.queue) != len(l.keys) {
		t.Fatalf("queue has %d entries, map %d", len(l.queue), len(l.keys))
	}
}

func TestNewRejectsNonsense(t *testing.T) {
	for _, args := range [][2]int{{0, 1}, {1, 0}, {-1, 5}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("New(%d, %d) did not panic", args[0], args[1])
				}
			}()
			New(args[0], args[1], nil)
		}()
	}
	if l := New(1, 1, nil); l.now == nil {
		t.Error("New(…, nil) has no clock")
	}
}

func BenchmarkFailDistinctKeys(b *testing.B) {
	l := New(10, 10, nil)
	keys := make([]string, 1<<16)
	for i := range keys {
		keys[i] = fmt.Sprintf("ip:%d", i)
	}
	i := 0
	for b.Loop() {
		l.Fail(keys[i&(len(keys)-1)])
		i++
	}
}

func BenchmarkBlocked(b *testing.B) {
	l := New(10, 10, nil)
	l.Fail("k")
	for b.Loop() {
		l.Blocked("k")
	}
}

// TestTryAgain: people read whole seconds, rounded up, in correct English.
func TestTryAgain(t *testing.T) {
	for _, tc := range []struct {
		wait time.Duration
		secs int
		text string
	}{
		{0, 1, "Try again in 1 second."},
		{300 * time.Millisecond, 1, "Try again in 1 second."},
		{time.Second, 1, "Try again in 1 second."},
		{1001 * time.Millisecond, 2, "Try again in 2 seconds."},
		{59 * time.Second, 59, "Try again in 59 seconds."},
	} {
		if got := Seconds(tc.wait); got != tc.secs {
			t.Errorf("Seconds(%v) = %d; want %d", tc.wait, got, tc.secs)
		}
		if got := TryAgain(tc.wait); got != tc.text {
			t.Errorf("TryAgain(%v) = %q; want %q", tc.wait, got, tc.text)
		}
	}
}

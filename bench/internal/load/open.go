package load

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Pacer schedules requests at a fixed rate, open-loop: the n-th request is due at start + n/rate
// whatever happened to the ones before, so a slow server faces a growing queue instead of a
// politely waiting client (the load does not back off when latency grows).
type Pacer struct {
	start    time.Time
	interval time.Duration
}

// NewPacer schedules perSecond requests from start.
func NewPacer(start time.Time, perSecond float64) Pacer {
	return Pacer{start: start, interval: time.Duration(float64(time.Second) / perSecond)}
}

// Due is the time the n-th request (from 0) is scheduled for.
func (p Pacer) Due(n int64) time.Time { return p.start.Add(time.Duration(n) * p.interval) }

// Count is how many requests are due by t (every n with Due(n) ≤ t).
func (p Pacer) Count(t time.Time) int64 {
	if t.Before(p.start) {
		return 0
	}
	return int64(t.Sub(p.start)/p.interval) + 1
}

// OpenLoopResult is what an open-loop run measured. Latency runs from each request's scheduled
// time, not from when a connection was free to send it, so queueing in the generator counts.
type OpenLoopResult struct {
	Sent, Errors int
	Kinds        map[string]int
	Sample       string
	Elapsed      time.Duration
	P50, P99     time.Duration
	Late         int // requests that started more than a second after their scheduled time
}

// Rate is requests sent per second.
func (r *OpenLoopResult) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Sent) / r.Elapsed.Seconds()
}

// OpenLoop sends requests built by mk at perSecond for d, through at most conns concurrent
// requests. The schedule is fixed in advance; workers take the next due request when free.
func OpenLoop(ctx context.Context, c *http.Client, perSecond float64, d time.Duration, conns int, mk func(ctx context.Context, n int64) (*http.Request, error), ok func(status int, body []byte) bool) *OpenLoopResult {
	start := time.Now()
	p := NewPacer(start, perSecond)
	end := start.Add(d)
	total := p.Count(end.Add(-time.Nanosecond))
	var mu sync.Mutex
	next := int64(0)
	res := &OpenLoopResult{Kinds: map[string]int{}}
	lat := make([]time.Duration, 0, total)
	var wg sync.WaitGroup
	for range conns {
		wg.Go(func() {
			var buf bytes.Buffer
			for ctx.Err() == nil {
				mu.Lock()
				n := next
				next++
				mu.Unlock()
				if n >= total {
					return
				}
				due := p.Due(n)
				if wait := time.Until(due); wait > 0 {
					select {
					case <-ctx.Done():
						return
					case <-time.After(wait):
					}
				}
				late := time.Since(due) > time.Second
				req, err := mk(ctx, n)
				kind, body := "", ""
				status := 0
				if err == nil {
					var resp *http.Response
					if resp, err = c.Do(req); err == nil {
						buf.Reset()
						_, err = buf.ReadFrom(resp.Body)
						resp.Body.Close()
						status = resp.StatusCode
					}
				}
				took := time.Since(due)
				switch {
				case err != nil:
					kind = "transport: " + err.Error()
				case !ok(status, buf.Bytes()):
					kind, body = fmt.Sprintf("HTTP %d %s", status, OAuthErrorCode(buf.Bytes())), Clip(buf.Bytes())
				}
				mu.Lock()
				res.Sent++
				lat = append(lat, took)
				if late {
					res.Late++
				}
				if kind != "" {
					res.Errors++
					res.Kinds[kind]++
					if res.Sample == "" {
						res.Sample = body
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	slices.Sort(lat)
	res.P50, res.P99 = Percentile(lat, 50), Percentile(lat, 99)
	return res
}

package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// pacer schedules requests at a fixed rate, open-loop: the n-th request is due at start + n/rate
// whatever happened to the ones before, so a slow server faces a growing queue instead of a
// politely waiting client (the load does not back off when latency grows).
type pacer struct {
	start    time.Time
	interval time.Duration
}

func newPacer(start time.Time, perSecond float64) pacer {
	return pacer{start: start, interval: time.Duration(float64(time.Second) / perSecond)}
}

// due is the time the n-th request (from 0) is scheduled for.
func (p pacer) due(n int64) time.Time { return p.start.Add(time.Duration(n) * p.interval) }

// count is how many requests are due by t (every n with due(n) ≤ t).
func (p pacer) count(t time.Time) int64 {
	if t.Before(p.start) {
		return 0
	}
	return int64(t.Sub(p.start)/p.interval) + 1
}

// openLoopResult is what an open-loop run measured. Latency runs from each request's scheduled
// time, not from when a connection was free to send it, so queueing in the generator counts.
type openLoopResult struct {
	sent, errors int
	kinds        map[string]int
	sample       string
	elapsed      time.Duration
	p50, p99     time.Duration
	late         int // requests that started more than a second after their scheduled time
}

func (r *openLoopResult) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.sent) / r.elapsed.Seconds()
}

// openLoop sends requests built by mk at perSecond for d, through at most conns concurrent
// requests. The schedule is fixed in advance; workers take the next due request when free.
func openLoop(ctx context.Context, c *http.Client, perSecond float64, d time.Duration, conns int, mk func(ctx context.Context, n int64) (*http.Request, error), ok func(status int, body []byte) bool) *openLoopResult {
	start := time.Now()
	p := newPacer(start, perSecond)
	end := start.Add(d)
	total := p.count(end.Add(-time.Nanosecond))
	var mu sync.Mutex
	next := int64(0)
	res := &openLoopResult{kinds: map[string]int{}}
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
				due := p.due(n)
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
					kind, body = fmt.Sprintf("HTTP %d %s", status, oauthErrorCode(buf.Bytes())), clip(buf.Bytes())
				}
				mu.Lock()
				res.sent++
				lat = append(lat, took)
				if late {
					res.late++
				}
				if kind != "" {
					res.errors++
					res.kinds[kind]++
					if res.sample == "" {
						res.sample = body
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	slices.Sort(lat)
	res.p50, res.p99 = percentile(lat, 50), percentile(lat, 99)
	return res
}

// parseMetrics returns the values of the named unlabelled samples of a Prometheus text
// exposition, such as go_goroutines and process_resident_memory_bytes.
func parseMetrics(r io.Reader, names ...string) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, rest, ok := strings.Cut(line, " ")
		if !ok || !slices.Contains(names, name) {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return nil, fmt.Errorf("metric %s has no value", name)
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return nil, fmt.Errorf("metric %s: %w", name, err)
		}
		out[name] = v
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for _, n := range names {
		if _, ok := out[n]; !ok {
			return nil, fmt.Errorf("metric %s is missing", n)
		}
	}
	return out, nil
}

// metricsSample is one reading of keyward's /metrics during the soak.
type metricsSample struct {
	at         time.Duration // since the soak started
	goroutines float64
	rss        float64 // bytes
}

func scrapeMetrics(ctx context.Context, c *http.Client, base string) (goroutines, rss float64, err error) {
	m, err := fetchMetrics(ctx, c, base, "go_goroutines", "process_resident_memory_bytes")
	if err != nil {
		return 0, 0, err
	}
	return m["go_goroutines"], m["process_resident_memory_bytes"], nil
}

// fetchMetrics reads the named samples from base's /metrics.
func fetchMetrics(ctx context.Context, c *http.Client, base string, names ...string) (map[string]float64, error) {
	status, body, err := send(ctx, c, http.MethodGet, base+"/metrics", "", "", nil)
	if err != nil {
		return nil, err
	} else if status != http.StatusOK {
		return nil, fmt.Errorf("/metrics: HTTP %d", status)
	}
	return parseMetrics(bytes.NewReader(body), names...)
}

// flat says whether a series did not grow: the mean of its last quarter is within tolerance
// (a fraction) of the mean of its second quarter, plus slack in absolute units. The first
// quarter is left out: caches and pools fill during it.
func flat(series []float64, tolerance, slack float64) (bool, float64, float64) {
	if len(series) < 4 {
		return false, 0, 0
	}
	q := len(series) / 4
	mean := func(s []float64) float64 {
		t := 0.0
		for _, v := range s {
			t += v
		}
		return t / float64(len(s))
	}
	early, late := mean(series[q:2*q]), mean(series[len(series)-q:])
	return late <= early*(1+tolerance)+slack, early, late
}

// writeStats reads keyward's group-commit counters from its /metrics.
func writeStats(ctx context.Context, kw *keywardProc) (ops, transactions float64, err error) {
	const opsName, txName = "keyward_store_write_operations_total", "keyward_store_write_transactions_total"
	m, err := fetchMetrics(ctx, &http.Client{Timeout: 5 * time.Second}, kw.base, opsName, txName)
	if err != nil {
		return 0, 0, err
	}
	return m[opsName], m[txName], nil
}

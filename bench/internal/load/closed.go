package load

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward/bench/internal/sysstat"
)

// Target is one scenario's workload. Worker w calls its methods only from its own goroutine, so
// per-worker state needs no lock.
type Target interface {
	// Start prepares state for n workers; it may send requests, which are not measured.
	Start(ctx context.Context, c *http.Client, n int) error
	// Request builds worker w's next request.
	Request(ctx context.Context, w int) (*http.Request, error)
	// Answer takes worker w's fully read 200 body; an error counts the request as failed.
	Answer(w int, body []byte) error
	// Failed tells worker w's state that its request did not succeed, so a chain can restart.
	Failed(ctx context.Context, c *http.Client, w int) error
	// Verify checks the scenario's first answer in depth: a real token, correctly signed.
	Verify(w int, body []byte) error
}

// Config is the shape of a closed-loop measurement.
type Config struct {
	Connections int           // concurrent keep-alive connections, one worker each
	Warmup      time.Duration // unmeasured load first
	Duration    time.Duration // measured time
	MaxRequests int           // upper bound on measured requests, shared evenly by the workers
}

// Result is one scenario's measurement.
type Result struct {
	Name     string
	Requests int // measured requests, failed ones included
	Warmup   int // requests sent during the warm-up
	Elapsed  time.Duration
	P50, P99 time.Duration
	Errors   int            // failed requests, warm-up included
	Kinds    map[string]int // errors by kind
	Sample   string         // the first error's body, clipped
	Capped   bool           // a worker hit its share of -max-requests before the time was up
	Dials    int64          // connections opened during the measured phase
	// ServerCPU and LoadCPU are the CPU time the server process and the load generator used
	// while measuring; CPUKnown is false where the server's cannot be read.
	ServerCPU, LoadCPU time.Duration
	CPUKnown           bool
	// Windows are the requests completed in each second of the measured phase.
	Windows []int
	// PeakRSS is the largest resident size of the server processes seen while measuring.
	PeakRSS int64
	// WriteBatch is keyward's average group-commit batch over the scenario (warm-up included):
	// write operations per SQLite transaction, from its /metrics; 0 when not known.
	WriteBatch float64
}

// PerRequest divides d over the measured requests.
func (r *Result) PerRequest(d time.Duration) time.Duration {
	if r.Requests == 0 {
		return 0
	}
	return d / time.Duration(r.Requests)
}

// Rate is measured requests per second.
func (r *Result) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// ErrorSummary lists the errors by kind, and the first error body.
func (r *Result) ErrorSummary() string {
	kinds := make([]string, 0, len(r.Kinds))
	for k, n := range r.Kinds {
		kinds = append(kinds, fmt.Sprintf("%d× %s", n, k))
	}
	sort.Strings(kinds)
	s := strings.Join(kinds, ", ")
	if r.Sample != "" {
		s += "; first body: " + r.Sample
	}
	return s
}

// countErrors adds n errors of the given kinds, and sample as the first error body when r has
// none yet.
func (r *Result) countErrors(n int, kinds map[string]int, sample string) {
	r.Errors += n
	for k, v := range kinds {
		r.Kinds[k] += v
	}
	if r.Sample == "" {
		r.Sample = sample
	}
}

// Percentile returns the p-th percentile (0 < p ≤ 100) of sorted by the nearest-rank method: the
// smallest value that at least p percent of the samples do not exceed. It is exact, with no
// interpolation and no buckets.
func Percentile(sorted []time.Duration, p int) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := (p*n + 99) / 100 // ceil(p·n/100)
	if rank < 1 {
		rank = 1
	}
	return sorted[rank-1]
}

// Measure checks the first answer, warms up, then measures t as name. during, when not nil, runs
// alongside the measured phase, given its length (a profile of the server). Server CPU is the sum
// over the server processes given, and so is their peak resident size.
func Measure(ctx context.Context, name string, t Target, cfg Config, during func(ctx context.Context, d time.Duration) error, serverPIDs ...int) (*Result, error) {
	var dials atomic.Int64
	tr := NewTransport(cfg.Connections, &dials)
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: RequestTimeout}
	if err := t.Start(ctx, c, cfg.Connections); err != nil {
		return nil, err
	}

	req, err := t.Request(ctx, 0)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("first request: %w", err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("first request: %w", err)
	} else if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("first request: HTTP %d: %s", resp.StatusCode, Clip(body))
	}
	if err := t.Verify(0, body); err != nil {
		return nil, fmt.Errorf("first answer: %w", err)
	}
	if err := t.Answer(0, body); err != nil {
		return nil, fmt.Errorf("first answer: %w", err)
	}

	perWorker := cfg.MaxRequests / cfg.Connections
	warm := &Result{}
	if cfg.Warmup > 0 {
		warm = run(ctx, c, t, cfg.Connections, cfg.Warmup, perWorker)
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	dialsBefore := dials.Load()
	server0, cpuKnown := sysstat.ProcessesCPU(serverPIDs)
	self0 := sysstat.SelfCPU()
	var samplers []*sysstat.RSSSampler
	for _, pid := range serverPIDs {
		samplers = append(samplers, sysstat.SampleRSS(pid, 200*time.Millisecond))
	}
	var duringErr error
	var duringWG sync.WaitGroup
	if during != nil {
		duringWG.Go(func() { duringErr = during(ctx, cfg.Duration) })
	}
	r := run(ctx, c, t, cfg.Connections, cfg.Duration, perWorker)
	server1, ok := sysstat.ProcessesCPU(serverPIDs)
	r.CPUKnown = cpuKnown && ok
	r.ServerCPU, r.LoadCPU = server1-server0, sysstat.SelfCPU()-self0
	for _, s := range samplers {
		if peak, ok := s.Finish(); ok {
			r.PeakRSS += peak
		}
	}
	duringWG.Wait()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if duringErr != nil {
		return nil, duringErr
	}
	r.Name = name
	r.Dials = dials.Load() - dialsBefore
	r.Warmup = warm.Requests
	r.countErrors(warm.Errors, warm.Kinds, warm.Sample)
	return r, nil
}

// worker is one connection's loop and what it recorded.
type worker struct {
	lat    []time.Duration // preallocated to the worker's share of -max-requests
	errors int
	kinds  map[string]int
	sample string
	capped bool
}

// run runs n workers for d, each sending one request at a time on its own keep-alive connection,
// and returns exact latency percentiles over every request sent.
func run(ctx context.Context, c *http.Client, t Target, n int, d time.Duration, perWorker int) *Result {
	workers := make([]worker, n)
	for w := range workers {
		workers[w] = worker{lat: make([]time.Duration, 0, perWorker), kinds: map[string]int{}}
	}
	start := time.Now()
	deadline := start.Add(d)
	var done atomic.Int64
	stopWindows := make(chan struct{})
	var windows []int
	var wg, wwg sync.WaitGroup
	wwg.Go(func() { windows = countWindows(&done, time.Second, stopWindows) })
	for w := range workers {
		wg.Go(func() { workers[w].run(ctx, c, t, w, deadline, &done) })
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(stopWindows)
	wwg.Wait()

	r := &Result{Elapsed: elapsed, Kinds: map[string]int{}, Windows: windows}
	total := 0
	for _, w := range workers {
		total += len(w.lat)
	}
	all := make([]time.Duration, 0, total)
	for _, w := range workers {
		all = append(all, w.lat...)
		r.countErrors(w.errors, w.kinds, w.sample)
		r.Capped = r.Capped || w.capped
	}
	slices.Sort(all)
	r.Requests = len(all)
	r.P50, r.P99 = Percentile(all, 50), Percentile(all, 99)
	return r
}

// countWindows samples the completed-request counter every interval until stop, and returns the
// requests completed in each whole interval: a stall shows as a window far below the others.
func countWindows(done *atomic.Int64, interval time.Duration, stop <-chan struct{}) []int {
	var out []int
	t := time.NewTicker(interval)
	defer t.Stop()
	last := done.Load()
	for {
		select {
		case <-stop:
			return out
		case <-t.C:
			n := done.Load()
			out = append(out, int(n-last))
			last = n
		}
	}
}

func (wk *worker) run(ctx context.Context, c *http.Client, t Target, w int, deadline time.Time, done *atomic.Int64) {
	var buf bytes.Buffer
	buf.Grow(4 << 10)
	for len(wk.lat) < cap(wk.lat) && ctx.Err() == nil && time.Now().Before(deadline) {
		req, err := t.Request(ctx, w)
		if err != nil {
			wk.fail("build request: "+err.Error(), "")
			return
		}
		t0 := time.Now()
		resp, err := c.Do(req)
		if err != nil {
			if ctx.Err() == nil {
				wk.fail("transport: "+err.Error(), "")
			}
			return // the connection is gone; other workers go on, and the run fails at the end
		}
		buf.Reset()
		_, err = buf.ReadFrom(resp.Body)
		resp.Body.Close()
		wk.lat = append(wk.lat, time.Since(t0))
		done.Add(1)
		switch {
		case err != nil:
			wk.fail("read body: "+err.Error(), "")
		case resp.StatusCode != http.StatusOK:
			wk.fail(fmt.Sprintf("HTTP %d %s", resp.StatusCode, OAuthErrorCode(buf.Bytes())), Clip(buf.Bytes()))
		default:
			if err := t.Answer(w, buf.Bytes()); err != nil {
				wk.fail("answer: "+err.Error(), Clip(buf.Bytes()))
			} else {
				continue
			}
		}
		if err := t.Failed(ctx, c, w); err != nil {
			if ctx.Err() == nil {
				wk.fail("restart: "+err.Error(), "")
			}
			return
		}
	}
	wk.capped = len(wk.lat) == cap(wk.lat) && time.Now().Before(deadline)
}

func (wk *worker) fail(kind, body string) {
	wk.errors++
	wk.kinds[kind]++
	if wk.sample == "" {
		wk.sample = body
	}
}

// Merge adds up the windows of one measurement taken in parts: requests, time, errors, CPU and
// the per-second counts; p50 is the median of the windows' p50s and p99 the highest of their
// p99s, and the peak resident size the highest of theirs.
func Merge(name string, windows []*Result) *Result {
	m := &Result{Name: name, Kinds: map[string]int{}, CPUKnown: true}
	var p50s []time.Duration
	for _, w := range windows {
		m.Requests += w.Requests
		m.Warmup += w.Warmup
		m.Elapsed += w.Elapsed
		m.countErrors(w.Errors, w.Kinds, w.Sample)
		m.Capped = m.Capped || w.Capped
		m.Dials += w.Dials
		m.ServerCPU += w.ServerCPU
		m.LoadCPU += w.LoadCPU
		m.CPUKnown = m.CPUKnown && w.CPUKnown
		m.Windows = append(m.Windows, w.Windows...)
		m.PeakRSS = max(m.PeakRSS, w.PeakRSS)
		m.P99 = max(m.P99, w.P99)
		p50s = append(p50s, w.P50)
	}
	slices.Sort(p50s)
	if len(p50s) > 0 {
		m.P50 = p50s[len(p50s)/2]
	}
	return m
}

// WindowStats returns the smallest and the median per-second completion count.
func WindowStats(w []int) (minimum, median int) {
	if len(w) == 0 {
		return 0, 0
	}
	s := slices.Clone(w)
	slices.Sort(s)
	return s[0], s[len(s)/2]
}

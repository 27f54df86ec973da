package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/internal/token"
	"github.com/keyward/keyward/middleware"
)

// requestTimeout bounds one request, so that a stuck server ends the run instead of hanging it.
const requestTimeout = 10 * time.Second

// newTransport returns a keep-alive transport with exactly one idle slot per connection, so no
// connection is ever closed for lack of room and reopened. It refuses any address but 127.0.0.1
// and counts the connections it opens in dials (when not nil): after the warm-up, a scenario
// should open none.
func newTransport(conns int, dials *atomic.Int64) *http.Transport {
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy: nil, // never a proxy from the environment
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, _, err := net.SplitHostPort(addr)
			if err != nil || host != "127.0.0.1" {
				return nil, fmt.Errorf("the bench only sends load to 127.0.0.1, not %s", addr)
			}
			if dials != nil {
				dials.Add(1)
			}
			return d.DialContext(ctx, network, addr)
		},
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
}

// target is one scenario's workload. Worker w calls its methods only from its own goroutine, so
// per-worker state needs no lock.
type target interface {
	// start prepares state for n workers; it may send requests, which are not measured.
	start(ctx context.Context, c *http.Client, n int) error
	// request builds worker w's next request.
	request(ctx context.Context, w int) (*http.Request, error)
	// answer takes worker w's fully read 200 body; an error counts the request as failed.
	answer(w int, body []byte) error
	// failed tells worker w's state that its request did not succeed, so a chain can restart.
	failed(ctx context.Context, c *http.Client, w int) error
	// verify checks the scenario's first answer in depth: a real token, correctly signed.
	verify(w int, body []byte) error
}

const formContentType = "application/x-www-form-urlencoded"

func postForm(ctx context.Context, url, auth, body string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", formContentType)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	return req, nil
}

// roundRobin gives each worker its own walk through the keys: worker w's j-th request uses key
// (w + j·n) mod len(keys), so every key is used and two connections never share one at a time
// while there are at least as many keys as connections.
type roundRobin struct {
	keys []benchKey
	next []int
	n    int
}

func (rr *roundRobin) init(n int) {
	rr.n, rr.next = n, make([]int, n)
	for w := range n {
		rr.next[w] = w % len(rr.keys)
	}
}

func (rr *roundRobin) take(w int) benchKey {
	k := rr.keys[rr.next[w]]
	rr.next[w] = (rr.next[w] + rr.n) % len(rr.keys)
	return k
}

// ceilingTarget posts the same request an exchange sends to the bare signer.
type ceilingTarget struct {
	url      string
	keys     []benchKey
	tokens   *token.Verifier // of the ceiling's keyring
	template token.Claims
	rr       roundRobin
	// tokenBytes is the length of the first token, to compare with keyward's.
	tokenBytes int
}

func (t *ceilingTarget) start(_ context.Context, _ *http.Client, n int) error {
	t.rr = roundRobin{keys: t.keys}
	t.rr.init(n)
	return nil
}

func (t *ceilingTarget) request(ctx context.Context, w int) (*http.Request, error) {
	return postForm(ctx, t.url, t.rr.take(w).basic, "grant_type=client_credentials")
}

func (t *ceilingTarget) answer(int, []byte) error { return nil }

func (t *ceilingTarget) failed(context.Context, *http.Client, int) error { return nil }

func (t *ceilingTarget) verify(_ int, body []byte) error {
	var tr client.TokenResponse
	if err := json.Unmarshal(body, &tr); err != nil {
		return fmt.Errorf("answer is not JSON: %w", err)
	}
	c, err := t.tokens.Verify(tr.AccessToken)
	if err != nil {
		return fmt.Errorf("ceiling token: %w", err)
	}
	if c.Subject != t.template.Subject || !slices.Equal(c.Scope, t.template.Scope) || c.SessionID != t.template.SessionID {
		return errors.New("the ceiling's token does not have keyward's claims")
	}
	t.tokenBytes = len(tr.AccessToken)
	return nil
}

// endpoint is one keyward instance's token endpoint and the verifier of the tokens it issues.
type endpoint struct {
	url    string
	tokens *middleware.Verifier
}

// endpointOf is kw's token endpoint.
func endpointOf(kw *keywardProc) endpoint {
	return endpoint{url: kw.base + "/oauth/token", tokens: kw.tokens}
}

// exchangeTarget sends client_credentials with HTTP Basic, keys taken round-robin. With several
// instances, worker w keeps to instance w mod n, so the connections are spread evenly.
type exchangeTarget struct {
	to    []endpoint
	keys  []benchKey
	rr    roundRobin
	first string // the key id of worker 0's first request
}

func (t *exchangeTarget) start(_ context.Context, _ *http.Client, n int) error {
	t.rr = roundRobin{keys: t.keys}
	t.rr.init(n)
	t.first = t.keys[t.rr.next[0]].id
	return nil
}

func (t *exchangeTarget) request(ctx context.Context, w int) (*http.Request, error) {
	return postForm(ctx, t.to[w%len(t.to)].url, t.rr.take(w).basic, "grant_type=client_credentials")
}

func (t *exchangeTarget) answer(int, []byte) error { return nil }

func (t *exchangeTarget) failed(context.Context, *http.Client, int) error { return nil }

func (t *exchangeTarget) verify(_ int, body []byte) error {
	_, _, err := checkKeywardAnswer(body, t.to[0].tokens, t.first)
	return err
}

// refreshTarget gives each worker its own session and rotates it in a chain, always with the
// newest refresh token: every request is a real, single-use rotation. Worker w keeps to instance
// w mod n.
type refreshTarget struct {
	to     []endpoint
	keys   []benchKey
	chains []chain
}

type chain struct {
	key     benchKey
	refresh string
	sid     string
}

func (t *refreshTarget) start(ctx context.Context, c *http.Client, n int) error {
	t.chains = make([]chain, n)
	for w := range n {
		t.chains[w].key = t.keys[w%len(t.keys)]
		if err := t.begin(ctx, c, w); err != nil {
			return err
		}
	}
	return nil
}

// begin starts worker w's session with an exchange.
func (t *refreshTarget) begin(ctx context.Context, c *http.Client, w int) error {
	ch, to := &t.chains[w], t.to[w%len(t.to)]
	status, body, err := send(ctx, c, http.MethodPost, to.url, formContentType, ch.key.basic, strings.NewReader("grant_type=client_credentials"))
	if err != nil {
		return fmt.Errorf("exchange to start a session: %w", err)
	} else if status != http.StatusOK {
		return fmt.Errorf("exchange to start a session: HTTP %d: %s", status, clip(body))
	}
	_, caller, err := checkKeywardAnswer(body, to.tokens, ch.key.id)
	if err != nil {
		return fmt.Errorf("exchange to start a session: %w", err)
	}
	ch.sid = caller.SessionID
	ch.refresh, _ = refreshTokenOf(body)
	return nil
}

func (t *refreshTarget) request(ctx context.Context, w int) (*http.Request, error) {
	// Refresh tokens are base64url or base62: nothing to escape in a form.
	return postForm(ctx, t.to[w%len(t.to)].url, "", "grant_type=refresh_token&refresh_token="+t.chains[w].refresh)
}

func (t *refreshTarget) answer(w int, body []byte) error {
	tok, ok := refreshTokenOf(body)
	if !ok {
		return errNoToken
	}
	t.chains[w].refresh = tok
	return nil
}

// failed starts a new session: whatever went wrong, the old chain may be spent or revoked.
func (t *refreshTarget) failed(ctx context.Context, c *http.Client, w int) error {
	return t.begin(ctx, c, w)
}

func (t *refreshTarget) verify(w int, body []byte) error {
	ch := t.chains[w]
	tr, caller, err := checkKeywardAnswer(body, t.to[w%len(t.to)].tokens, ch.key.id)
	if err != nil {
		return err
	}
	if caller.SessionID != ch.sid {
		return fmt.Errorf("the refreshed token belongs to session %q, not %q", caller.SessionID, ch.sid)
	}
	if tr.RefreshToken == ch.refresh {
		return errors.New("the refresh did not rotate the refresh token")
	}
	return nil
}

// result is one scenario's measurement.
type result struct {
	name     string
	requests int // measured requests, failed ones included
	warmup   int // requests sent during the warm-up
	elapsed  time.Duration
	p50, p99 time.Duration
	errors   int            // failed requests, warm-up included
	kinds    map[string]int // errors by kind
	sample   string         // the first error's body, clipped
	capped   bool           // a worker hit its share of -max-requests before the time was up
	dials    int64          // connections opened during the measured phase
	// serverCPU and loadCPU are the CPU time the server process and the load generator used
	// while measuring; cpuKnown is false where the server's cannot be read.
	serverCPU, loadCPU time.Duration
	cpuKnown           bool
	// windows are the requests completed in each second of the measured phase.
	windows []int
	// peakRSS is the largest resident size of the server processes seen while measuring.
	peakRSS int64
	// writeBatch is keyward's average group-commit batch over the scenario (warm-up included):
	// write operations per SQLite transaction, from its /metrics; 0 when not known.
	writeBatch float64
}

// perRequest divides d over the measured requests.
func (r *result) perRequest(d time.Duration) time.Duration {
	if r.requests == 0 {
		return 0
	}
	return d / time.Duration(r.requests)
}

func (r *result) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.requests) / r.elapsed.Seconds()
}

func (r *result) errorSummary() string {
	kinds := make([]string, 0, len(r.kinds))
	for k, n := range r.kinds {
		kinds = append(kinds, fmt.Sprintf("%d× %s", n, k))
	}
	sort.Strings(kinds)
	s := strings.Join(kinds, ", ")
	if r.sample != "" {
		s += "; first body: " + r.sample
	}
	return s
}

// percentile returns the p-th percentile (0 < p ≤ 100) of sorted by the nearest-rank method: the
// smallest value that at least p percent of the samples do not exceed. It is exact, with no
// interpolation and no buckets.
func percentile(sorted []time.Duration, p int) time.Duration {
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

// profileJob fetches a CPU profile from keyward's bench-only hook while the load runs.
type profileJob struct {
	url  string
	path string
}

func (p *profileJob) run(ctx context.Context, d time.Duration) error {
	sec := int(d/time.Second) - 1
	if sec < 1 {
		sec = 1
	}
	c := &http.Client{Timeout: d + 30*time.Second, Transport: newTransport(1, nil)}
	status, body, err := send(ctx, c, http.MethodGet, fmt.Sprintf("%s/cpu?seconds=%d", p.url, sec), "", "", nil)
	if err != nil {
		return fmt.Errorf("CPU profile: %w", err)
	} else if status != http.StatusOK {
		return fmt.Errorf("CPU profile: HTTP %d: %s", status, clip(body))
	}
	return os.WriteFile(p.path, body, 0o644)
}

// runScenario checks the first answer, warms up, then measures. Server CPU is the sum over the
// server processes given.
func runScenario(ctx context.Context, name string, t target, o *options, prof *profileJob, serverPIDs ...int) (*result, error) {
	var dials atomic.Int64
	tr := newTransport(o.connections, &dials)
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: requestTimeout}
	if err := t.start(ctx, c, o.connections); err != nil {
		return nil, err
	}

	req, err := t.request(ctx, 0)
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
		return nil, fmt.Errorf("first request: HTTP %d: %s", resp.StatusCode, clip(body))
	}
	if err := t.verify(0, body); err != nil {
		return nil, fmt.Errorf("first answer: %w", err)
	}
	if err := t.answer(0, body); err != nil {
		return nil, fmt.Errorf("first answer: %w", err)
	}

	perWorker := o.maxRequests / o.connections
	warm := &result{}
	if o.warmup > 0 {
		warm = load(ctx, c, t, o.connections, o.warmup, perWorker)
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	dialsBefore := dials.Load()
	server0, cpuKnown := processesCPU(serverPIDs)
	self0 := selfCPU()
	var samplers []*rssSampler
	for _, pid := range serverPIDs {
		samplers = append(samplers, sampleRSS(pid, 200*time.Millisecond))
	}
	var profErr error
	var profWG sync.WaitGroup
	if prof != nil {
		profWG.Go(func() { profErr = prof.run(ctx, o.duration) })
	}
	r := load(ctx, c, t, o.connections, o.duration, perWorker)
	server1, ok := processesCPU(serverPIDs)
	r.cpuKnown = cpuKnown && ok
	r.serverCPU, r.loadCPU = server1-server0, selfCPU()-self0
	for _, s := range samplers {
		if peak, ok := s.finish(); ok {
			r.peakRSS += peak
		}
	}
	profWG.Wait()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if profErr != nil {
		return nil, profErr
	}
	r.name = name
	r.dials = dials.Load() - dialsBefore
	r.warmup = warm.requests
	r.errors += warm.errors
	for k, n := range warm.kinds {
		r.kinds[k] += n
	}
	if r.sample == "" {
		r.sample = warm.sample
	}
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

// load runs n workers for d, each sending one request at a time on its own keep-alive connection,
// and returns exact latency percentiles over every request sent.
func load(ctx context.Context, c *http.Client, t target, n int, d time.Duration, perWorker int) *result {
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

	r := &result{elapsed: elapsed, kinds: map[string]int{}, windows: windows}
	total := 0
	for _, w := range workers {
		total += len(w.lat)
	}
	all := make([]time.Duration, 0, total)
	for _, w := range workers {
		all = append(all, w.lat...)
		r.errors += w.errors
		for k, v := range w.kinds {
			r.kinds[k] += v
		}
		if r.sample == "" {
			r.sample = w.sample
		}
		r.capped = r.capped || w.capped
	}
	slices.Sort(all)
	r.requests = len(all)
	r.p50, r.p99 = percentile(all, 50), percentile(all, 99)
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

func (wk *worker) run(ctx context.Context, c *http.Client, t target, w int, deadline time.Time, done *atomic.Int64) {
	var buf bytes.Buffer
	buf.Grow(4 << 10)
	for len(wk.lat) < cap(wk.lat) && ctx.Err() == nil && time.Now().Before(deadline) {
		req, err := t.request(ctx, w)
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
			wk.fail(fmt.Sprintf("HTTP %d %s", resp.StatusCode, oauthErrorCode(buf.Bytes())), clip(buf.Bytes()))
		default:
			if err := t.answer(w, buf.Bytes()); err != nil {
				wk.fail("answer: "+err.Error(), clip(buf.Bytes()))
			} else {
				continue
			}
		}
		if err := t.failed(ctx, c, w); err != nil {
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

// oauthErrorCode returns the RFC 6749 error code of an error body, or "" when there is none.
func oauthErrorCode(body []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil || len(e.Error) > 40 {
		return ""
	}
	return e.Error
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/keyward/keyward/bench/internal/proc"
)

// buildExampleAPI compiles examples/containers-api, the resource server the middleware scenario
// measures.
func buildExampleAPI(ctx context.Context, dir string, stderr *os.File) (string, error) {
	root, err := moduleRoot(ctx)
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "containers-api")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./examples/containers-api")
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./examples/containers-api: %w", err)
	}
	return bin, nil
}

// apiProc is the example API, following keyward's revocation feed.
type apiProc struct {
	*proc.Proc
	base string
}

// startExampleAPI runs the example API against keyward and waits until its revocation feed is
// connected (/healthz answers 200 only then).
func startExampleAPI(ctx context.Context, bin, dir string, kw *keywardProc) (*apiProc, error) {
	addr, err := proc.FreeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(dir, "containers-api.log"))
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(bin, "--issuer", kw.base, "--addr", addr)
	cmd.Env = proc.ChildEnv()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	p, err := proc.Start("containers-api", cmd)
	if err != nil {
		return nil, err
	}
	a := &apiProc{Proc: p, base: "http://" + addr}
	c := &http.Client{Timeout: 2 * time.Second}
	for deadline := time.Now().Add(time.Minute); ; {
		if resp, err := c.Get(a.base + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return a, nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			a.Stop()
			return nil, errors.New("the example API's revocation feed did not connect within a minute")
		}
		select {
		case <-a.Exited():
			return nil, fmt.Errorf("the example API exited: %v", a.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// createKey makes one API key of the default project with the bench's permissions.
func createKey(ctx context.Context, c *http.Client, base, adminToken, name string) (benchKey, error) {
	req, _ := json.Marshal(map[string]any{"name": name, "permissions": benchPermissions})
	status, body, err := send(ctx, c, http.MethodPost, base+"/v1/projects/default/api-keys", "application/json", "Bearer "+adminToken, bytes.NewReader(req))
	if err != nil {
		return benchKey{}, fmt.Errorf("create API key: %w", err)
	} else if status != http.StatusCreated {
		return benchKey{}, fmt.Errorf("create API key: HTTP %d, want 201: %s", status, clip(body))
	}
	var k struct {
		ID  string `json:"id"`
		Key string `json:"key"`
	}
	if err := json.Unmarshal(body, &k); err != nil || k.ID == "" || !strings.HasPrefix(k.Key, "kw_") {
		return benchKey{}, errors.New("create API key: no id and kw_ key in the answer")
	}
	return benchKey{id: k.ID, secret: k.Key, basic: basicAuth(k.ID, k.Key)}, nil
}

// revocationDelay deletes a key whose token the example API has already accepted (and so
// cached), then asks the API every 10 ms until it refuses the token: the time from keyward's
// answer to the deletion until the first refusal.
func revocationDelay(ctx context.Context, kw *keywardProc, api *apiProc, s *setup) (time.Duration, error) {
	c := &http.Client{Timeout: 10 * time.Second, Transport: newTransport(4, nil)}
	defer c.CloseIdleConnections()
	name, _ := randomText(6)
	k, err := createKey(ctx, c, kw.base, s.adminToken, "bench-revoke-"+name)
	if err != nil {
		return 0, err
	}
	clients, err := apiClients(ctx, kw, []benchKey{k})
	if err != nil {
		return 0, err
	}
	get := func() (int, error) {
		status, _, err := send(ctx, c, http.MethodGet, api.base+clients[0].path, "", clients[0].auth, nil)
		return status, err
	}
	if status, err := get(); err != nil || status != http.StatusOK {
		return 0, fmt.Errorf("the example API refused a fresh token: HTTP %d %v", status, err)
	}
	status, body, err := send(ctx, c, http.MethodDelete, kw.base+"/v1/projects/default/api-keys/"+k.id, "", "Bearer "+s.adminToken, nil)
	if err != nil || status/100 != 2 {
		return 0, fmt.Errorf("delete API key: HTTP %d %v %s", status, err, clip(body))
	}
	deleted := time.Now()
	for time.Since(deleted) < 10*time.Second {
		status, err := get()
		if err != nil {
			return 0, err
		}
		if status == http.StatusUnauthorized {
			return time.Since(deleted), nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return 0, errors.New("the example API still accepted a deleted key's token after 10 s")
}

// loginRequest builds the admin's password grant.
func loginRequest(ctx context.Context, kw *keywardProc) (*http.Request, error) {
	form := url.Values{"grant_type": {"password"}, "username": {kw.email}, "password": {kw.password}}
	return postForm(ctx, kw.base+"/oauth/token", "", form.Encode())
}

func okStatus(status int, _ []byte) bool { return status == http.StatusOK }

// mixedResult is the mixed-load scenario: exchanges at full speed while logins arrive at a fixed
// rate, then a burst of simultaneous logins.
type mixedResult struct {
	exchange  *result
	logins    *openLoopResult
	loginRate float64
	burst     burstResult
}

type burstResult struct {
	n, ok   int
	kinds   map[string]int
	took    time.Duration
	peakRSS int64
	rssOK   bool
}

// runMixed measures the exchange under o while the admin logs in loginRate times per second,
// open-loop, for the warm-up and the measured time.
func runMixed(ctx context.Context, kw *keywardProc, s *setup, o *options, loginRate float64) (*mixedResult, error) {
	m := &mixedResult{loginRate: loginRate}
	lc := &http.Client{Timeout: 30 * time.Second, Transport: newTransport(64, nil)}
	defer lc.CloseIdleConnections()
	var wg sync.WaitGroup
	wg.Go(func() {
		m.logins = openLoop(ctx, lc, loginRate, o.warmup+o.duration, 64,
			func(ctx context.Context, _ int64) (*http.Request, error) { return loginRequest(ctx, kw) }, okStatus)
	})
	var err error
	m.exchange, err = runScenario(ctx, scenarioMixed, &exchangeTarget{to: []endpoint{endpointOf(kw)}, keys: s.keys}, o, nil, kw.Pid())
	wg.Wait()
	return m, err
}

// loginBurst sends n password logins at once, each on its own connection, and records keyward's
// peak resident size meanwhile: argon2id needs its memory per hash, so unbounded concurrency
// would need n times as much.
func loginBurst(ctx context.Context, kw *keywardProc, n int) burstResult {
	b := burstResult{n: n, kinds: map[string]int{}}
	c := &http.Client{Timeout: 2 * time.Minute, Transport: newTransport(n, nil)}
	defer c.CloseIdleConnections()
	rss := sampleRSS(kw.Pid(), 20*time.Millisecond)
	start := time.Now()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			kind := ""
			req, err := loginRequest(ctx, kw)
			if err == nil {
				var resp *http.Response
				if resp, err = c.Do(req); err == nil {
					var buf bytes.Buffer
					buf.ReadFrom(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						kind = fmt.Sprintf("HTTP %d %s", resp.StatusCode, oauthErrorCode(buf.Bytes()))
					}
				}
			}
			if err != nil {
				kind = "transport: " + err.Error()
			}
			mu.Lock()
			if kind == "" {
				b.ok++
			} else {
				b.kinds[kind]++
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	b.took = time.Since(start)
	b.peakRSS, b.rssOK = rss.finish()
	return b
}

// soakResult is the soak: exchanges at a fixed rate for a long time.
type soakResult struct {
	target  float64 // requests/s asked for
	run     *openLoopResult
	samples []metricsSample
}

// runSoak sends exchanges open-loop at perSecond for d, reading keyward's /metrics every interval.
func runSoak(ctx context.Context, kw *keywardProc, s *setup, o *options, perSecond float64, d, interval time.Duration) (*soakResult, error) {
	res := &soakResult{target: perSecond}
	c := &http.Client{Timeout: requestTimeout, Transport: newTransport(o.connections, nil)}
	defer c.CloseIdleConnections()
	mc := &http.Client{Timeout: 10 * time.Second, Transport: newTransport(1, nil)}
	defer mc.CloseIdleConnections()
	stop := make(chan struct{})
	var scrapeErr error
	var wg sync.WaitGroup
	start := time.Now()
	wg.Go(func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			g, rss, err := scrapeMetrics(ctx, mc, kw.base)
			if err != nil {
				scrapeErr = err
				return
			}
			res.samples = append(res.samples, metricsSample{at: time.Since(start), goroutines: g, rss: rss})
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
	keys := s.keys
	res.run = openLoop(ctx, c, perSecond, d, o.connections, func(ctx context.Context, n int64) (*http.Request, error) {
		return postForm(ctx, kw.base+"/oauth/token", keys[int(n%int64(len(keys)))].basic, "grant_type=client_credentials")
	}, okStatus)
	close(stop)
	wg.Wait()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return res, scrapeErr
}

// series returns one field of the samples.
func (s *soakResult) series(f func(metricsSample) float64) []float64 {
	out := make([]float64, len(s.samples))
	for i, m := range s.samples {
		out[i] = f(m)
	}
	return out
}

// windowStats returns the smallest and the median per-second completion count.
func windowStats(w []int) (minimum, median int) {
	if len(w) == 0 {
		return 0, 0
	}
	s := slices.Clone(w)
	slices.Sort(s)
	return s[0], s[len(s)/2]
}

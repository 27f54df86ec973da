package scenario

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/keyward/keyward/bench/internal/load"
	"github.com/keyward/keyward/bench/internal/sysstat"
	"github.com/keyward/keyward/bench/internal/testbed"
	"github.com/keyward/keyward/bench/internal/units"
)

func init() {
	Register(Scenario{Name: Mixed, Order: 60, Run: func(ctx context.Context, e *Env) error {
		kw, o, kind := e.Procs[0], e.Options, e.Spec.Kind()
		e.Logf("%s, scenario %s: exchange at %d connections and %.0f logins/s, then %d logins at once", kind, Mixed, o.Connections, o.LoginRate, o.Burst)
		m, err := runMixed(ctx, kw, e.Setup, o, o.LoginRate)
		if err != nil {
			return err
		}
		m.Burst = loginBurst(ctx, kw, o.Burst)
		e.Logf("%s, scenario %s: exchange p99 %s; logins %d sent, %d errors; burst %d/%d ok, peak RSS %s", kind, Mixed,
			units.Millis(m.Exchange.P99), m.Logins.Sent, m.Logins.Errors, m.Burst.OK, m.Burst.N, units.MiB(m.Burst.PeakRSS))
		e.Section.Extra.Mixed = m
		e.Section.Results = append(e.Section.Results, m.Exchange)
		return nil
	}})
}

// MixedResult is the mixed-load scenario: exchanges at full speed while logins arrive at a fixed
// rate, then a burst of simultaneous logins.
type MixedResult struct {
	Exchange  *load.Result
	Logins    *load.OpenLoopResult
	LoginRate float64
	Burst     BurstResult
}

// BurstResult is the burst of simultaneous logins after the mixed scenario.
type BurstResult struct {
	N, OK   int
	Kinds   map[string]int
	Took    time.Duration
	PeakRSS int64
	RSSOK   bool
}

// runMixed measures the exchange under o while the admin logs in loginRate times per second,
// open-loop, for the warm-up and the measured time.
func runMixed(ctx context.Context, kw *testbed.Keyward, s *testbed.Setup, o *Options, loginRate float64) (*MixedResult, error) {
	m := &MixedResult{LoginRate: loginRate}
	lc := &http.Client{Timeout: 30 * time.Second, Transport: load.NewTransport(64, nil)}
	defer lc.CloseIdleConnections()
	var wg sync.WaitGroup
	wg.Go(func() {
		m.Logins = load.OpenLoop(ctx, lc, loginRate, o.Warmup+o.Duration, 64,
			func(ctx context.Context, _ int64) (*http.Request, error) { return testbed.LoginRequest(ctx, kw) }, load.OKStatus)
	})
	var err error
	m.Exchange, err = load.Measure(ctx, Mixed, &exchangeTarget{to: []testbed.Endpoint{kw.Endpoint()}, keys: s.Keys}, o.Config, nil, kw.Pid())
	wg.Wait()
	return m, err
}

// loginBurst sends n password logins at once, each on its own connection, and records keyward's
// peak resident size meanwhile: argon2id needs its memory per hash, so unbounded concurrency
// would need n times as much.
func loginBurst(ctx context.Context, kw *testbed.Keyward, n int) BurstResult {
	b := BurstResult{N: n, Kinds: map[string]int{}}
	c := &http.Client{Timeout: 2 * time.Minute, Transport: load.NewTransport(n, nil)}
	defer c.CloseIdleConnections()
	rss := sysstat.SampleRSS(kw.Pid(), 20*time.Millisecond)
	start := time.Now()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			kind := ""
			req, err := testbed.LoginRequest(ctx, kw)
			if err == nil {
				var resp *http.Response
				if resp, err = c.Do(req); err == nil {
					var buf bytes.Buffer
					buf.ReadFrom(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						kind = fmt.Sprintf("HTTP %d %s", resp.StatusCode, load.OAuthErrorCode(buf.Bytes()))
					}
				}
			}
			if err != nil {
				kind = "transport: " + err.Error()
			}
			mu.Lock()
			if kind == "" {
				b.OK++
			} else {
				b.Kinds[kind]++
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	b.Took = time.Since(start)
	b.PeakRSS, b.RSSOK = rss.Finish()
	return b
}

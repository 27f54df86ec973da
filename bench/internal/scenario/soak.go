package scenario

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/keyward/keyward/bench/internal/load"
	"github.com/keyward/keyward/bench/internal/testbed"
)

func init() {
	Register(Scenario{Name: Soak, Stage: AfterSetup, On: func(o *Options) bool { return o.Soak > 0 }, Run: func(ctx context.Context, e *Env) error {
		kind := e.Spec.Kind()
		var top float64
		if r := e.Section.Find(Exchange); r != nil {
			top = r.Rate()
		}
		e.Logf("%s, soak: %s at %.0f exchanges/s, half the measured maximum", kind, e.Options.Soak, top/2)
		soak, err := runSoak(ctx, e.Procs[0], e.Setup, e.Options, top/2, e.Options.Soak, soakInterval(e.Options.Soak))
		if err != nil {
			return err
		}
		e.Logf("%s, soak: %d sent, %d errors", kind, soak.Run.Sent, soak.Run.Errors)
		e.Section.Extra.Soak = soak
		return nil
	}})
}

// soakInterval spaces the /metrics readings of a soak: about forty of them, at most one every
// five seconds.
func soakInterval(d time.Duration) time.Duration {
	return max(5*time.Second, d/40)
}

// SoakResult is the soak: exchanges at a fixed rate for a long time.
type SoakResult struct {
	Target  float64 // requests/s asked for
	Run     *load.OpenLoopResult
	Samples []MetricsSample
}

// runSoak sends exchanges open-loop at perSecond for d, reading keyward's /metrics every interval.
func runSoak(ctx context.Context, kw *testbed.Keyward, s *testbed.Setup, o *Options, perSecond float64, d, interval time.Duration) (*SoakResult, error) {
	res := &SoakResult{Target: perSecond}
	c := &http.Client{Timeout: load.RequestTimeout, Transport: load.NewTransport(o.Connections, nil)}
	defer c.CloseIdleConnections()
	mc := &http.Client{Timeout: 10 * time.Second, Transport: load.NewTransport(1, nil)}
	defer mc.CloseIdleConnections()
	stop := make(chan struct{})
	var scrapeErr error
	var wg sync.WaitGroup
	start := time.Now()
	wg.Go(func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			g, rss, err := scrapeMetrics(ctx, mc, kw.Base)
			if err != nil {
				scrapeErr = err
				return
			}
			res.Samples = append(res.Samples, MetricsSample{At: time.Since(start), Goroutines: g, RSS: rss})
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
	keys := s.Keys
	res.Run = load.OpenLoop(ctx, c, perSecond, d, o.Connections, func(ctx context.Context, n int64) (*http.Request, error) {
		return load.PostForm(ctx, kw.Base+"/oauth/token", keys[int(n%int64(len(keys)))].Basic, "grant_type=client_credentials")
	}, load.OKStatus)
	close(stop)
	wg.Wait()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return res, scrapeErr
}

// Series returns one field of the samples.
func (s *SoakResult) Series(f func(MetricsSample) float64) []float64 {
	out := make([]float64, len(s.Samples))
	for i, m := range s.Samples {
		out[i] = f(m)
	}
	return out
}

// MetricsSample is one reading of keyward's /metrics during the soak.
type MetricsSample struct {
	At         time.Duration // since the soak started
	Goroutines float64
	RSS        float64 // bytes
}

func scrapeMetrics(ctx context.Context, c *http.Client, base string) (goroutines, rss float64, err error) {
	m, err := testbed.FetchMetrics(ctx, c, base, "go_goroutines", "process_resident_memory_bytes")
	if err != nil {
		return 0, 0, err
	}
	return m["go_goroutines"], m["process_resident_memory_bytes"], nil
}

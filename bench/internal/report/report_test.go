package report

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/bench/internal/fill"
	"github.com/keyward/keyward/bench/internal/load"
	"github.com/keyward/keyward/bench/internal/scenario"
	"github.com/keyward/keyward/bench/internal/sysstat"
	"github.com/keyward/keyward/bench/internal/testbed"
)

func TestRenderComparison(t *testing.T) {
	ceiling := &load.Result{Name: scenario.CeilingSign, Requests: 20000, Elapsed: 10 * time.Second}
	mk := func(name string, n int, cpu time.Duration) *load.Result {
		return &load.Result{Name: name, Requests: n, Elapsed: 10 * time.Second, ServerCPU: cpu, CPUKnown: true}
	}
	sections := []scenario.Section{
		{Spec: testbed.SetupSpec{Instances: 1}, Results: []*load.Result{ceiling, mk(scenario.Exchange, 5000, 3*time.Second), mk(scenario.Refresh, 6000, 3*time.Second)},
			Machine: sysstat.Machine{LoadBefore: "3.00", LoadAfter: "4.00"}},
		{Spec: testbed.SetupSpec{DB: "postgres://db/kw", Instances: 2}, Results: []*load.Result{mk(scenario.Exchange, 4000, 4*time.Second), mk(scenario.Refresh, 2000, 4*time.Second)},
			Machine: sysstat.Machine{LoadBefore: "4.00", LoadAfter: "5.00"}},
	}
	got := Comparison(sections, ceiling)
	for _, want := range []string{
		"| SQLite | 500 | 0.25 | 600 | 0.30 | 600 µs | 500 µs |",
		"| PostgreSQL, 2 instances | 400 | 0.20 | 200 | 0.10 | 1,000 µs | 2,000 µs |",
		"2,000 requests/s",
		"SQLite 3.00 → 4.00; PostgreSQL, 2 instances 4.00 → 5.00",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("comparison lacks %q:\n%s", want, got)
		}
	}
}

func TestRenderReport(t *testing.T) {
	o := &scenario.Options{Config: load.Config{Connections: 32, Warmup: 2 * time.Second, Duration: 10 * time.Second}, Keys: 64}
	m := sysstat.Machine{CPU: "Test CPU", Cores: 2, GoVer: "go1.26 linux/amd64", Date: time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)}
	ceiling := &load.Result{Name: scenario.CeilingSign, Requests: 20000, Elapsed: 10 * time.Second, P50: 1500 * time.Microsecond, P99: 4 * time.Millisecond,
		ServerCPU: 2 * time.Second, CPUKnown: true}
	exchange := &load.Result{Name: scenario.Exchange, Requests: 5000, Elapsed: 10 * time.Second, P50: 6 * time.Millisecond, P99: 20 * time.Millisecond, Errors: 3,
		ServerCPU: 3 * time.Second, CPUKnown: true}
	got := Report([]*load.Result{ceiling, exchange}, m, o, "0faed07", "SQLite", 600, 598)
	for _, want := range []string{
		"| ceiling-sign | 2,000 | 1.50 ms | 4.00 ms | 0 | 1.00 | 100 µs |",
		"| exchange | 500 | 6.00 ms | 20.00 ms | 3 | 0.25 | 600 µs |",
		"Test CPU, 2 cores, go1.26 linux/amd64, 2026-01-02",
		"keyward 600 bytes, ceiling 598 bytes",
		"- Code: 0faed07.",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
	exchange.CPUKnown = false
	if got := Report([]*load.Result{exchange}, m, o, "", "SQLite", 600, 0); !strings.Contains(got, "| 3 | — | — |") {
		t.Errorf("without a ceiling the ratio must be blank:\n%s", got)
	}
}

func TestFlat(t *testing.T) {
	for _, tc := range []struct {
		name   string
		series []float64
		want   bool
	}{
		{"steady after warm-up", []float64{10, 50, 50, 51, 50, 52, 50, 51}, true},
		{"growing", []float64{10, 50, 60, 70, 80, 90, 100, 110}, false},
		{"shrinking", []float64{10, 50, 50, 40, 40, 30, 30, 30}, true},
		{"too short", []float64{1, 1, 1}, false},
	} {
		if got, _, _ := flat(tc.series, 0.10, 0); got != tc.want {
			t.Errorf("%s: flat = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func fakeResult(name string, requests int, p99 time.Duration) *load.Result {
	return &load.Result{Name: name, Requests: requests, Elapsed: 10 * time.Second, P50: p99 / 4, P99: p99, Kinds: map[string]int{}}
}

// TestRenderTargets: every target of the issue has a row, and the verdicts follow the figures.
func TestRenderTargets(t *testing.T) {
	o := &scenario.Options{Config: load.Config{Connections: 32}, Keys: 64, Soak: 10 * time.Minute}
	s := &scenario.Section{Results: []*load.Result{
		fakeResult(scenario.CeilingSign, 100000, 5*time.Millisecond), // 10,000/s
		fakeResult(scenario.Exchange, 60000, 8*time.Millisecond),     // 0.6: pass
		fakeResult(scenario.Refresh, 30000, 9*time.Millisecond),      // 0.3: fail
		fakeResult(scenario.CeilingVerify, 50000, 5*time.Millisecond),
		fakeResult(scenario.Middleware, 70000, 3*time.Millisecond),
	}}
	s.Extra.Revocation = 300 * time.Millisecond
	s.Extra.AllocsErr = errors.New("no go toolchain")
	s.Extra.Mixed = &scenario.MixedResult{Exchange: fakeResult(scenario.Mixed, 10000, 30*time.Millisecond), LoginRate: 50,
		Logins: &load.OpenLoopResult{Sent: 500, Elapsed: 10 * time.Second}, Burst: scenario.BurstResult{N: 500, OK: 500, PeakRSS: 100 << 20, RSSOK: true}}
	s.Extra.Soak = &scenario.SoakResult{Target: 100, Run: &load.OpenLoopResult{Sent: 60000, Elapsed: 10 * time.Minute}}
	for i := range 8 {
		s.Extra.Soak.Samples = append(s.Extra.Soak.Samples, scenario.MetricsSample{Goroutines: 20, RSS: float64(40<<20 + i)})
	}
	large := &scenario.ScaleRun{Plan: fill.ForScale(999936, time.Now()), Exchange: fakeResult("x", 9500, 9*time.Millisecond), ExpiredBefore: 100, ExpiredAfter: 0, MinWindow: 900, MedianWindow: 950}
	large.Exchange.PeakRSS = 300 << 20
	small := &scenario.ScaleRun{Plan: fill.ForScale(936, time.Now()), Exchange: fakeResult("y", 10000, 9*time.Millisecond)}
	s.Extra.Scale = &scenario.ScaleResult{Small: small, Large: large}
	out := Targets(s, o, "abc")
	want := map[string]string{
		"Exchange ≥ ½ of the signing ceiling":                              "PASS",
		"Exchange p99 < 10 ms at 32 connections":                           "PASS",
		"Refresh ≥ ⅓ of the signing ceiling":                               "FAIL",
		"Example API through middleware/ ≥ the verifying ceiling":          "PASS",
		"Middleware refuses a deleted key's token within 1 s":              "PASS",
		"Middleware per request: bearer cached, uncached, DPoP (reported)": "FAIL",
		"Scale: exchange with 1,000,000 keys within 10 % of 1,000":         "PASS",
		"Scale: server RSS < 256 MiB":                                      "FAIL",
		"Scale: sweeping expired sessions does not stall requests":         "PASS",
		"Mixed: exchange p99 < 20 ms with 50 logins/s":                     "FAIL",
		"Mixed: 500 simultaneous logins do not exhaust memory":             "PASS",
		"Soak, 10m0s at half the maximum rate: zero errors":                "PASS",
		"Soak: RSS and goroutines flat":                                    "PASS",
	}
	for target, verdict := range want {
		found := false
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(line, "| "+target) {
				found = true
				if !strings.HasSuffix(line, "| "+verdict+" |") {
					t.Errorf("%s: %s, want %s", target, line, verdict)
				}
			}
		}
		if !found {
			t.Errorf("no row for %q in\n%s", target, out)
		}
	}
	if !strings.Contains(out, "- Code: abc.") {
		t.Errorf("the revision is missing:\n%s", out)
	}
	// Without the long parts, their rows say which flag runs them.
	s.Extra.Soak, s.Extra.Scale = nil, nil
	out = Targets(s, o, "")
	for _, flag := range []string{"-scale 1000000", "-soak 10m"} {
		if !strings.Contains(out, "not run ("+flag+")") {
			t.Errorf("no hint for %s:\n%s", flag, out)
		}
	}
}

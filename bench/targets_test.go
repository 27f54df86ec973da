package main

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func fakeResult(name string, requests int, p99 time.Duration) *result {
	return &result{name: name, requests: requests, elapsed: 10 * time.Second, p50: p99 / 4, p99: p99, kinds: map[string]int{}}
}

// TestRenderTargets: every target of the issue has a row, and the verdicts follow the figures.
func TestRenderTargets(t *testing.T) {
	o := &options{connections: 32, keys: 64, soak: 10 * time.Minute}
	s := section{results: []*result{
		fakeResult(scenarioCeiling, 100000, 5*time.Millisecond), // 10,000/s
		fakeResult(scenarioExchange, 60000, 8*time.Millisecond), // 0.6: pass
		fakeResult(scenarioRefresh, 30000, 9*time.Millisecond),  // 0.3: fail
		fakeResult(scenarioCeilingVerify, 50000, 5*time.Millisecond),
		fakeResult(scenarioMiddleware, 70000, 3*time.Millisecond),
	}}
	s.extra.revocation = 300 * time.Millisecond
	s.extra.allocsErr = errors.New("no go toolchain")
	s.extra.mixed = &mixedResult{exchange: fakeResult(scenarioMixed, 10000, 30*time.Millisecond), loginRate: 50,
		logins: &openLoopResult{sent: 500, elapsed: 10 * time.Second}, burst: burstResult{n: 500, ok: 500, peakRSS: 100 << 20, rssOK: true}}
	s.extra.soak = &soakResult{target: 100, run: &openLoopResult{sent: 60000, elapsed: 10 * time.Minute}}
	for i := range 8 {
		s.extra.soak.samples = append(s.extra.soak.samples, metricsSample{goroutines: 20, rss: float64(40<<20 + i)})
	}
	large := &scaleRun{plan: scalePlan(999936, time.Now()), exchange: fakeResult("x", 9500, 9*time.Millisecond), expiredBefore: 100, expiredAfter: 0, minWindow: 900, medianWindow: 950}
	large.exchange.peakRSS = 300 << 20
	small := &scaleRun{plan: scalePlan(936, time.Now()), exchange: fakeResult("y", 10000, 9*time.Millisecond)}
	out := renderTargets(s, &scaleResult{small: small, large: large}, o, "abc")
	want := map[string]string{
		"Exchange ≥ ½ of the signing ceiling":                      "PASS",
		"Exchange p99 < 10 ms at 32 connections":                   "PASS",
		"Refresh ≥ ⅓ of the signing ceiling":                       "FAIL",
		"Example API through middleware/ ≥ the verifying ceiling":  "PASS",
		"Middleware refuses a deleted key's token within 1 s":      "PASS",
		"Middleware allocations per request (reported)":            "FAIL",
		"Scale: exchange with 1,000,000 keys within 10 % of 1,000": "PASS",
		"Scale: server RSS < 256 MiB":                              "FAIL",
		"Scale: sweeping expired sessions does not stall requests": "PASS",
		"Mixed: exchange p99 < 20 ms with 50 logins/s":             "FAIL",
		"Mixed: 500 simultaneous logins do not exhaust memory":     "PASS",
		"Soak, 10m0s at half the maximum rate: zero errors":        "PASS",
		"Soak: RSS and goroutines flat":                            "PASS",
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
	s.extra.soak = nil
	out = renderTargets(s, nil, o, "")
	for _, flag := range []string{"-scale 1000000", "-soak 10m"} {
		if !strings.Contains(out, "not run ("+flag+")") {
			t.Errorf("no hint for %s:\n%s", flag, out)
		}
	}
}

package load_test

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward/bench/internal/fakekeyward"
	"github.com/keyward/keyward/bench/internal/load"
)

func TestPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      int
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one sample is every percentile", ms(7), 99, 7 * time.Millisecond},
		{"median of an even count is the lower middle", ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"median of an odd count is the middle", ms(1, 2, 3, 4, 5), 50, 3 * time.Millisecond},
		{"p99 of 100 is the 99th", hundred, 99, 99 * time.Millisecond},
		{"p50 of 100 is the 50th", hundred, 50, 50 * time.Millisecond},
		{"p100 is the maximum", hundred, 100, 100 * time.Millisecond},
		{"p99 of 10 is the maximum: no interpolation", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 1000), 99, 1000 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := load.Percentile(tt.sorted, tt.p); got != tt.want {
			t.Errorf("%s: load.Percentile(p%d) = %v, want %v", tt.name, tt.p, got, tt.want)
		}
	}
}

func TestTransportOnlyLoopback(t *testing.T) {
	c := &http.Client{Transport: load.NewTransport(1, nil)}
	for _, u := range []string{"http://localhost:9/", "http://192.0.2.1:80/", "http://[::1]:9/"} {
		_, err := c.Get(u)
		if err == nil || !strings.Contains(err.Error(), "only sends load to 127.0.0.1") {
			t.Errorf("GET %s: err = %v, want it refused", u, err)
		}
	}
}

func TestPacer(t *testing.T) {
	start := time.Unix(1000, 0)
	p := load.NewPacer(start, 50)
	for _, tc := range []struct {
		at   time.Duration
		want int64
	}{
		{-time.Millisecond, 0},
		{0, 1},
		{19 * time.Millisecond, 1},
		{20 * time.Millisecond, 2},
		{time.Second - time.Nanosecond, 50},
		{10 * time.Second, 501},
	} {
		if got := p.Count(start.Add(tc.at)); got != tc.want {
			t.Errorf("Count at %s = %d, want %d", tc.at, got, tc.want)
		}
	}
	if got := p.Due(50); !got.Equal(start.Add(time.Second)) {
		t.Errorf("Due(50) = %s, want one second after the start", got.Sub(start))
	}
}

// TestOpenLoopKeepsItsRate: a slow server does not slow the schedule down; the requests queue
// and their latency, counted from the scheduled time, shows it.
func TestOpenLoopKeepsItsRate(t *testing.T) {
	var n atomic.Int64
	url := fakekeyward.Loopback(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		time.Sleep(50 * time.Millisecond)
	}))
	c := &http.Client{Transport: load.NewTransport(2, nil)}
	defer c.CloseIdleConnections()
	// 100 requests/s for 0.5 s through 2 connections that each manage 20/s: 50 are scheduled,
	// all are sent, and the last ones wait far longer than the handler takes.
	r := load.OpenLoop(context.Background(), c, 100, 500*time.Millisecond, 2, func(ctx context.Context, _ int64) (*http.Request, error) {
		return http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	}, load.OKStatus)
	if r.Sent != 50 || n.Load() != 50 {
		t.Fatalf("sent %d, served %d, want 50 scheduled requests", r.Sent, n.Load())
	}
	if r.Errors != 0 {
		t.Fatalf("errors %v", r.Kinds)
	}
	if r.P99 < 500*time.Millisecond {
		t.Errorf("p99 %s: queueing behind a slow server must count in the latency", r.P99)
	}
}

func TestOpenLoopCountsErrors(t *testing.T) {
	url := fakekeyward.Loopback(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`{"error":"temporarily_unavailable"}`))
	}))
	c := &http.Client{Transport: load.NewTransport(2, nil)}
	defer c.CloseIdleConnections()
	r := load.OpenLoop(context.Background(), c, 200, 100*time.Millisecond, 2, func(ctx context.Context, _ int64) (*http.Request, error) {
		return http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	}, load.OKStatus)
	if r.Sent != 20 || r.Errors != 20 || r.Kinds["HTTP 503 temporarily_unavailable"] != 20 {
		t.Fatalf("sent %d, errors %d %v", r.Sent, r.Errors, r.Kinds)
	}
}

func TestWindowStats(t *testing.T) {
	lo, med := load.WindowStats([]int{100, 90, 10, 110, 95})
	if lo != 10 || med != 95 {
		t.Fatalf("windowStats = %d, %d", lo, med)
	}
}

// A measurement taken in windows adds up like one taken at once, and keeps the worst p99.
func TestMerge(t *testing.T) {
	a := &load.Result{Requests: 100, Elapsed: time.Second, P50: 2 * time.Millisecond, P99: 5 * time.Millisecond, Errors: 1,
		Kinds: map[string]int{"HTTP 500": 1}, Windows: []int{100}, CPUKnown: true, PeakRSS: 10}
	b := &load.Result{Requests: 300, Elapsed: time.Second, P50: 1 * time.Millisecond, P99: 9 * time.Millisecond,
		Kinds: map[string]int{}, Windows: []int{300}, CPUKnown: false, PeakRSS: 30}
	m := load.Merge("both", []*load.Result{a, b})
	if m.Name != "both" || m.Requests != 400 || m.Rate() != 200 || m.Errors != 1 || m.Kinds["HTTP 500"] != 1 {
		t.Errorf("merged %+v", m)
	}
	if m.P99 != 9*time.Millisecond || m.PeakRSS != 30 || m.CPUKnown || len(m.Windows) != 2 {
		t.Errorf("merged p99 %s, peak %d, CPU known %v, windows %v", m.P99, m.PeakRSS, m.CPUKnown, m.Windows)
	}
}

package server

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics holds the Prometheus collectors, registered on an injected registry (no globals, so
// tests and several servers in one process do not collide).
type metrics struct {
	tokenRequests *prometheus.CounterVec
	tokenLatency  *prometheus.HistogramVec
	httpRequests  *prometheus.CounterVec
	httpLatency   *prometheus.HistogramVec
}

// writeStats is the store's group-commit counters (sqlstore.DB.WriteStats).
type writeStats func() (ops, transactions int64)

func newMetrics(reg *prometheus.Registry, stats writeStats) *metrics {
	m := &metrics{
		tokenRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keyward_token_requests_total", Help: "Token endpoint requests by grant type and result (ok or the OAuth error code).",
		}, []string{"grant", "result"}),
		tokenLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "keyward_token_request_duration_seconds", Help: "Token endpoint latency by grant type.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .25, .5, 1},
		}, []string{"grant"}),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keyward_http_requests_total", Help: "HTTP requests by area and status code.",
		}, []string{"area", "code"}),
		httpLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "keyward_http_request_duration_seconds", Help: "HTTP latency by area.",
			Buckets: prometheus.DefBuckets,
		}, []string{"area"}),
	}
	reg.MustRegister(m.tokenRequests, m.tokenLatency, m.httpRequests, m.httpLatency,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if stats != nil {
		reg.MustRegister(
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "keyward_store_write_operations_total",
				Help: "Write operations the SQLite store ran (0 on PostgreSQL).",
			}, func() float64 { ops, _ := stats(); return float64(ops) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "keyward_store_write_transactions_total",
				Help: "Transactions they shared (group commit): operations ÷ transactions is the average batch.",
			}, func() float64 { _, tx := stats(); return float64(tx) }))
	}
	return m
}

// ObserveToken implements oauth.Metrics.
func (m *metrics) ObserveToken(grant, result string, d time.Duration) {
	m.tokenRequests.WithLabelValues(grant, result).Inc()
	m.tokenLatency.WithLabelValues(grant).Observe(d.Seconds())
}

// area groups paths into a few labels, so that ids in URLs never blow up label cardinality.
func area(path string) string {
	switch {
	case strings.HasPrefix(path, "/oauth/"):
		return "oauth"
	case strings.HasPrefix(path, "/.well-known/"):
		return "well-known"
	case strings.HasPrefix(path, "/v1/"):
		return "api"
	case path == "/healthz", path == "/readyz", path == "/metrics":
		return "ops"
	}
	return "dashboard"
}

func (m *metrics) observeHTTP(r *http.Request, status int, d time.Duration) {
	a := area(r.URL.Path)
	m.httpRequests.WithLabelValues(a, strconv.Itoa(status)).Inc()
	m.httpLatency.WithLabelValues(a).Observe(d.Seconds())
}

func (m *metrics) handler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}

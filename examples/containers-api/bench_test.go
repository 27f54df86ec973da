package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward/middleware"
)

// BenchmarkRequests is a small load generator: concurrent clients on keep-alive connections send
// GET /v1/projects/{project}/containers to the example API, with the middleware (a real keyward
// process issues the token and serves the JWKS and revocation feed) and without it (the same
// handlers, unguarded). It reports requests per second; keyward itself is idle meanwhile, since
// tokens are verified offline.
//
//	go test -run '^$' -bench Requests -benchtime 20000x ./examples/containers-api
func BenchmarkRequests(b *testing.B) {
	kw := startKeyward(b)
	key := kw.createKey(b, kw.Default.ID, "bench", nil, "containers-view")
	token := kw.token(b, key)
	v, err := middleware.New(context.Background(), middleware.Config{Issuer: kw.URL})
	if err != nil {
		b.Fatal(err)
	}
	defer v.Close()
	s := newStore(time.Now)
	for _, name := range []string{"web-1", "web-2", "worker-1"} {
		s.projects[kw.Default.ID] = append(s.projects[kw.Default.ID], container{Name: name, CreatedAt: time.Now(), CreatedBy: "key:" + key.ID})
	}
	bare := http.NewServeMux()
	bare.HandleFunc("GET /v1/projects/{project}/containers", s.list)

	for _, tt := range []struct {
		name    string
		handler http.Handler
	}{
		{"middleware=on", handler(v, s)},
		{"middleware=off", bare},
	} {
		b.Run(tt.name, func(b *testing.B) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			load(b, srv.URL+"/v1/projects/"+kw.Default.ID+"/containers", token, 8)
		})
	}
}

// load sends b.N requests from workers concurrent clients and reports requests per second.
func load(b *testing.B, url, token string, workers int) {
	transport := &http.Transport{MaxIdleConnsPerHost: workers, MaxConnsPerHost: workers}
	defer transport.CloseIdleConnections()
	hc := &http.Client{Transport: transport, Timeout: 10 * time.Second}
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	var left atomic.Int64
	left.Store(int64(b.N))
	var failed atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range workers {
		wg.Go(func() {
			buf := make([]byte, 4096)
			for left.Add(-1) >= 0 {
				resp, err := hc.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				for {
					if _, err := resp.Body.Read(buf); err != nil {
						break
					}
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d of %d requests failed", n, b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
}

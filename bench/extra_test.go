package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestPacer(t *testing.T) {
	start := time.Unix(1000, 0)
	p := newPacer(start, 50)
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
		if got := p.count(start.Add(tc.at)); got != tc.want {
			t.Errorf("count at %s = %d, want %d", tc.at, got, tc.want)
		}
	}
	if got := p.due(50); !got.Equal(start.Add(time.Second)) {
		t.Errorf("due(50) = %s, want one second after the start", got.Sub(start))
	}
}

// TestOpenLoopKeepsItsRate: a slow server does not slow the schedule down; the requests queue
// and their latency, counted from the scheduled time, shows it.
func TestOpenLoopKeepsItsRate(t *testing.T) {
	var n atomic.Int64
	url := loopbackServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		time.Sleep(50 * time.Millisecond)
	}))
	c := &http.Client{Transport: newTransport(2, nil)}
	defer c.CloseIdleConnections()
	// 100 requests/s for 0.5 s through 2 connections that each manage 20/s: 50 are scheduled,
	// all are sent, and the last ones wait far longer than the handler takes.
	r := openLoop(context.Background(), c, 100, 500*time.Millisecond, 2, func(ctx context.Context, _ int64) (*http.Request, error) {
		return http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	}, okStatus)
	if r.sent != 50 || n.Load() != 50 {
		t.Fatalf("sent %d, served %d, want 50 scheduled requests", r.sent, n.Load())
	}
	if r.errors != 0 {
		t.Fatalf("errors %v", r.kinds)
	}
	if r.p99 < 500*time.Millisecond {
		t.Errorf("p99 %s: queueing behind a slow server must count in the latency", r.p99)
	}
}

func TestOpenLoopCountsErrors(t *testing.T) {
	url := loopbackServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`{"error":"temporarily_unavailable"}`))
	}))
	c := &http.Client{Transport: newTransport(2, nil)}
	defer c.CloseIdleConnections()
	r := openLoop(context.Background(), c, 200, 100*time.Millisecond, 2, func(ctx context.Context, _ int64) (*http.Request, error) {
		return http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	}, okStatus)
	if r.sent != 20 || r.errors != 20 || r.kinds["HTTP 503 temporarily_unavailable"] != 20 {
		t.Fatalf("sent %d, errors %d %v", r.sent, r.errors, r.kinds)
	}
}

func TestParseVmRSS(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"Name:\tkeyward\nVmPeak:\t  900 kB\nVmRSS:\t   12345 kB\nRssAnon:\t 1 kB\n", 12345 << 10, true},
		{"VmRSS:\t0 kB\n", 0, true},
		{"Name:\tkeyward\n", 0, false},
		{"VmRSS:\t12 MB\n", 0, false},
		{"VmRSS:\t-1 kB\n", 0, false},
		{"VmRSS:\tmany kB\n", 0, false},
		{"VmRSSx:\t12 kB\n", 0, false},
	} {
		got, ok := parseVmRSS([]byte(tc.in))
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseVmRSS(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestSampleRSSOfSelf(t *testing.T) {
	if _, ok := processRSS(1); !ok {
		t.Skip("no /proc")
	}
	s := sampleRSS(os.Getpid(), time.Millisecond)
	time.Sleep(5 * time.Millisecond)
	peak, ok := s.finish()
	if !ok || peak < 1<<20 {
		t.Fatalf("peak RSS of the test process = %d, %v", peak, ok)
	}
}

func TestParseMetrics(t *testing.T) {
	text := "# HELP go_goroutines Number of goroutines.\n# TYPE go_goroutines gauge\ngo_goroutines 42\n" +
		"go_gc_duration_seconds{quantile=\"0\"} 1e-05\nprocess_resident_memory_bytes 3.3554432e+07\n" +
		"go_goroutines_total_not_this 7\n"
	m, err := parseMetrics(strings.NewReader(text), "go_goroutines", "process_resident_memory_bytes")
	if err != nil {
		t.Fatal(err)
	}
	if m["go_goroutines"] != 42 || m["process_resident_memory_bytes"] != 32<<20 {
		t.Fatalf("got %v", m)
	}
	if _, err := parseMetrics(strings.NewReader("go_goroutines 1\n"), "go_goroutines", "process_resident_memory_bytes"); err == nil {
		t.Error("a missing metric must be an error")
	}
	if _, err := parseMetrics(strings.NewReader("go_goroutines x\n"), "go_goroutines"); err == nil {
		t.Error("a malformed value must be an error")
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

func TestWindowStats(t *testing.T) {
	lo, med := windowStats([]int{100, 90, 10, 110, 95})
	if lo != 10 || med != 95 {
		t.Fatalf("windowStats = %d, %d", lo, med)
	}
}

func TestParseBenchOutput(t *testing.T) {
	out := "goos: linux\nBenchmarkHandlerCached-2     \t   20000\t      1234 ns/op\t     456 B/op\t       7 allocs/op\n" +
		"BenchmarkHandlerUncached \t   20000\t     98765.5 ns/op\t    5432 B/op\t      80 allocs/op\nPASS\n"
	figs := parseBenchOutput(out)
	if len(figs) != 2 {
		t.Fatalf("got %d figures: %+v", len(figs), figs)
	}
	if f := figs[0]; f.name != "BenchmarkHandlerCached" || f.nsPerOp != 1234 || f.bytes != 456 || f.allocs != 7 {
		t.Errorf("first = %+v", f)
	}
	if f := figs[1]; f.name != "BenchmarkHandlerUncached" || f.nsPerOp != 98765.5 || f.allocs != 80 {
		t.Errorf("second = %+v", f)
	}
}

func TestFillPlanCounts(t *testing.T) {
	p := fillPlan{keys: 10, sessions: 10, tokens: 25, expiredTenths: 3}
	// Each session holds one live token; spent tokens 1..15 belong to sessions 1..10, 1..5:
	// sessions 1–3 hold 1 live + 2 spent tokens each.
	if p.expiredSessions() != 3 || p.spentTokens() != 15 || p.expiredTokens() != 9 {
		t.Fatalf("expired sessions %d, spent %d, expired tokens %d; want 3, 15, 9", p.expiredSessions(), p.spentTokens(), p.expiredTokens())
	}
}

// migrateForFill creates the tables the fill writes to from keyward's SQLite migration, plus the
// rows keyward makes at its first start.
func migrateForFill(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	files, err := filepath.Glob(filepath.Join("..", "internal", "sqlstore", "migrations", "sqlite", "*.sql"))
	if err != nil || len(files) < 4 {
		t.Fatalf("keyward's SQLite migrations: %v, %v", files, err)
	}
	for _, f := range files { // in order: their names start with the version
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		up, _, _ := strings.Cut(string(data), "-- +goose Down")
		if _, err := db.Exec(up); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	if _, err := db.Exec(`INSERT INTO users VALUES ('usr_admin', 'a@example.com', 'x', TRUE, FALSE, 1);
INSERT INTO projects VALUES ('prj_default', 'default', 1)`); err != nil {
		t.Fatal(err)
	}
}

func TestFillDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k.db")
	migrateForFill(t, path)
	now := time.Now()
	p := fillPlan{keys: 200, sessions: 200, tokens: 2000, expiredTenths: 1, now: now}
	if err := fillDatabase(context.Background(), path, p); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	count := func(q string, args ...any) int {
		t.Helper()
		var n int
		if err := db.QueryRow(q, args...).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	if n := count("SELECT count(*) FROM api_keys WHERE project_id = 'prj_default' AND created_by = 'usr_admin'"); n != 200 {
		t.Errorf("%d keys, want 200", n)
	}
	if n := count("SELECT count(*) FROM sessions s JOIN api_keys k ON k.id = s.key_id WHERE s.kind = 'key'"); n != 200 {
		t.Errorf("%d sessions of filled keys, want 200", n)
	}
	if n := count("SELECT count(DISTINCT h) FROM (SELECT hash AS h FROM refresh_tokens UNION ALL SELECT refresh_hash FROM sessions) WHERE length(h) = 32"); n != 2000 {
		t.Errorf("%d distinct 32-byte refresh token hashes, want 2000", n)
	}
	if n := count("SELECT count(*) FROM refresh_tokens r LEFT JOIN sessions s ON s.id = r.session_id WHERE s.id IS NULL"); n != 0 {
		t.Errorf("%d refresh tokens without their session", n)
	}
	// Each session's newest token is live, in its row; the older ones are spent, as after a
	// chain of refreshes.
	if n := count("SELECT count(*) FROM refresh_tokens WHERE consumed_at IS NULL"); n != 0 {
		t.Errorf("%d unspent tokens among the spent ones", n)
	}
	if n := count("SELECT count(*) FROM sessions WHERE id GLOB 'ses_[0-9]*' AND length(id) = 20"); n != 200 {
		t.Errorf("%d sessions with ids of the real shape, want 200", n)
	}
	tokens, sessions, err := expiredRows(context.Background(), path, now)
	if err != nil {
		t.Fatal(err)
	}
	if tokens != int64(p.expiredTokens()) || sessions != 20 {
		t.Errorf("expired: %d tokens, %d sessions; want %d, 20", tokens, sessions, p.expiredTokens())
	}
	// No expired token belongs to a live session, so the sweeper's per-table deletes agree.
	if n := count("SELECT count(*) FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id WHERE (r.expires_at < $1) <> (s.refresh_expires_at < $1)", now.UnixMicro()); n != 0 {
		t.Errorf("%d tokens expire apart from their session", n)
	}
	if err := db.QueryRow("PRAGMA foreign_key_check").Scan(new(any), new(any), new(any), new(any)); err != sql.ErrNoRows {
		t.Errorf("foreign key check: %v", err)
	}
}

// TestVerifyHandler: the verifying ceiling accepts exactly the issuer's tokens that have not
// expired, so its throughput is that of real verification work.
func TestVerifyHandler(t *testing.T) {
	fake, to := newFakeKeyward(t, nil)
	other, _ := newFakeKeyward(t, nil)
	h := &verifyHandler{tokens: to.tokens}
	sign := func(f *fakeKeyward, exp time.Duration) string {
		c := testClaims(fake.url)
		c.IssuedAt, c.Expiry = time.Now().Add(exp-time.Hour), time.Now().Add(exp)
		return f.mint(c)
	}
	good := sign(fake, time.Hour)
	for _, tc := range []struct {
		name, auth string
		want       int
	}{
		{"valid", "Bearer " + good, http.StatusOK},
		{"expired", "Bearer " + sign(fake, -time.Minute), http.StatusUnauthorized},
		{"other key", "Bearer " + sign(other, time.Hour), http.StatusUnauthorized},
		{"tampered", "Bearer " + good[:len(good)-2] + "AA", http.StatusUnauthorized},
		{"no bearer", "Basic abc", http.StatusUnauthorized},
	} {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodGet, "/v1/projects/p/containers", nil)
		r.Header.Set("Authorization", tc.auth)
		h.ServeHTTP(w, r)
		if w.Code != tc.want {
			t.Errorf("%s: HTTP %d, want %d", tc.name, w.Code, tc.want)
		}
		if tc.want == http.StatusOK && w.Body.String() != `{"data":[]}` {
			t.Errorf("%s: body %q", tc.name, w.Body)
		}
	}
}

// TestAPITargetReusesEachClientsToken: every client's token is sent, each by one worker only,
// again and again.
func TestAPITargetReusesEachClientsToken(t *testing.T) {
	var clients []apiClient
	for i := range 6 {
		clients = append(clients, apiClient{auth: fmt.Sprintf("Bearer t%d", i), path: "/v1/projects/p/containers"})
	}
	tg := &apiTarget{base: "http://127.0.0.1:1", clients: clients}
	if err := tg.start(context.Background(), nil, 3); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	owner := map[string]int{}
	for round := range 4 {
		for w := range 3 {
			r, err := tg.request(context.Background(), w)
			if err != nil {
				t.Fatal(err)
			}
			a := r.Header.Get("Authorization")
			seen[a]++
			if o, ok := owner[a]; ok && o != w {
				t.Fatalf("round %d: token %s sent by workers %d and %d", round, a, o, w)
			}
			owner[a] = w
		}
	}
	if len(seen) != 6 {
		t.Fatalf("%d distinct tokens sent, want all 6: %v", len(seen), seen)
	}
	for a, n := range seen {
		if n != 2 {
			t.Errorf("%s sent %d times, want 2", a, n)
		}
	}
}

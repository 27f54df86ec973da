package scenario

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/bench/internal/fakekeyward"
	"github.com/keyward/keyward/bench/internal/load"
	"github.com/keyward/keyward/bench/internal/testbed"
)

// The registry runs the scenarios in the order the report and -only have always had, and each
// long part at its own stage.
func TestRegistry(t *testing.T) {
	if got, want := Names(), []string{CeilingSign, Exchange, Refresh, CeilingVerify, Middleware, Mixed}; !slices.Equal(got, want) {
		t.Errorf("Names() = %q, want %q", got, want)
	}
	var compared []string
	for _, s := range Of(PerSetup) {
		if s.Compared {
			compared = append(compared, s.Name)
		}
	}
	if want := []string{CeilingSign, Exchange, Refresh}; !slices.Equal(compared, want) {
		t.Errorf("compared scenarios %q, want %q", compared, want)
	}
	if a, b := Of(AfterSetup), Of(Alone); len(a) != 1 || a[0].Name != Soak || len(b) != 1 || b[0].Name != Scale {
		t.Errorf("after the setups: %v, alone: %v; want the soak and the scale", a, b)
	}
	o := &Options{}
	if s, _ := Lookup(Soak); s.On(o) {
		t.Error("the soak is on without -soak")
	}
	o.Scale = 1_000_000
	if s, _ := Lookup(Scale); !s.On(o) {
		t.Error("the scale scenario is off with -scale")
	}
	defer func() {
		if recover() == nil {
			t.Error("a second registration of a name: accepted")
		}
	}()
	Register(Scenario{Name: Exchange, Run: func(context.Context, *Env) error { return nil }})
}

func testConfig() load.Config {
	return load.Config{Connections: 4, Duration: time.Second, Warmup: 0, MaxRequests: 400}
}

func TestRefreshChainsNeverReuse(t *testing.T) {
	keys := fakekeyward.Keys(3)
	fake, to := fakekeyward.New(t, keys)
	o := testConfig()
	o.Warmup = 300 * time.Millisecond
	r, err := load.Measure(context.Background(), Refresh, &refreshTarget{to: []testbed.Endpoint{to}, keys: keys}, o, nil, os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	fake.Mu.Lock()
	defer fake.Mu.Unlock()
	if r.Errors != 0 || fake.Reuses != 0 {
		t.Fatalf("errors %d (%s), reuses seen by the server %d; want none", r.Errors, r.ErrorSummary(), fake.Reuses)
	}
	if r.Requests == 0 {
		t.Fatal("no request measured")
	}
	// One exchange per connection to start its chain, and then only refreshes: the first,
	// verified one, the warm-up's and the measured ones.
	if want := 1 + r.Warmup + r.Requests; fake.Exchanges != o.Connections || fake.Refreshes != want {
		t.Errorf("server saw %d exchanges and %d refreshes; want %d and %d", fake.Exchanges, fake.Refreshes, o.Connections, want)
	}
	if r.Dials != 0 {
		t.Errorf("%d connections opened while measuring, after the warm-up opened them all; want them reused", r.Dials)
	}
}

func TestErrorsAreCountedAndChainsRestart(t *testing.T) {
	keys := fakekeyward.Keys(2)
	fake, to := fakekeyward.New(t, keys)
	fake.FailEvery = 7
	o := testConfig()
	o.MaxRequests = 200
	// The first request must succeed for the scenario to start; failures come after it.
	r, err := load.Measure(context.Background(), Refresh, &refreshTarget{to: []testbed.Endpoint{to}, keys: keys}, o, nil, os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if r.Errors == 0 || r.Kinds["HTTP 400 invalid_request"] != r.Errors {
		t.Fatalf("errors %d, kinds %v; want every injected 400 counted", r.Errors, r.Kinds)
	}
	if !strings.Contains(r.Sample, "injected") {
		t.Errorf("error sample %q does not show the body", r.Sample)
	}
	fake.Mu.Lock()
	defer fake.Mu.Unlock()
	if fake.Reuses != 0 {
		t.Errorf("after a failure a chain reused a spent token %d times; it must start a new session", fake.Reuses)
	}
}

func TestExchangeUsesEveryKey(t *testing.T) {
	keys := fakekeyward.Keys(5)
	fake, to := fakekeyward.New(t, keys)
	o := testConfig()
	o.Connections, o.MaxRequests = 3, 60
	r, err := load.Measure(context.Background(), Exchange, &exchangeTarget{to: []testbed.Endpoint{to}, keys: keys}, o, nil, os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if r.Errors != 0 {
		t.Fatalf("errors: %s", r.ErrorSummary())
	}
	fake.Mu.Lock()
	defer fake.Mu.Unlock()
	if len(fake.Used) != len(keys) {
		t.Errorf("%d of %d keys used", len(fake.Used), len(keys))
	}
}

func TestFirstAnswerIsVerified(t *testing.T) {
	keys := fakekeyward.Keys(1)
	// A server that answers 200 with something that is not a token must stop the run.
	url := fakekeyward.Loopback(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"access_token":"not-a-jwt","token_type":"Bearer","refresh_token":"x"}`)
	}))
	_, to := fakekeyward.New(t, keys)
	to.URL = url
	_, err := load.Measure(context.Background(), Exchange, &exchangeTarget{to: []testbed.Endpoint{to}, keys: keys}, testConfig(), nil, os.Getpid())
	if err == nil || !strings.Contains(err.Error(), "first answer") {
		t.Fatalf("err = %v, want the first answer rejected", err)
	}
}

// TestConnectionsSpreadOverInstances: with two instances, every worker keeps to one of them and
// each instance gets half the connections.
func TestConnectionsSpreadOverInstances(t *testing.T) {
	var mu sync.Mutex
	hits := map[string]map[string]bool{} // instance → keys seen
	var urls []string
	for _, name := range []string{"a", "b"} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			if hits[name] == nil {
				hits[name] = map[string]bool{}
			}
			hits[name][r.Header.Get("Authorization")] = true
			mu.Unlock()
			w.WriteHeader(http.StatusTeapot)
		}))
		t.Cleanup(srv.Close)
		urls = append(urls, srv.URL)
	}
	keys := make([]testbed.Key, 8)
	for i := range keys {
		keys[i] = testbed.Key{ID: strconv.Itoa(i), Basic: "Basic " + strconv.Itoa(i)}
	}
	var to []testbed.Endpoint
	for _, u := range urls {
		to = append(to, testbed.Endpoint{URL: u})
	}
	tgt := &exchangeTarget{to: to, keys: keys}
	if err := tgt.Start(context.Background(), nil, 4); err != nil {
		t.Fatal(err)
	}
	for round := range 4 {
		for w := range 4 {
			req, err := tgt.Request(context.Background(), w)
			if err != nil {
				t.Fatal(err)
			}
			if want := urls[w%2]; !strings.HasPrefix(req.URL.String(), want) {
				t.Fatalf("round %d: worker %d sends to %s, want %s", round, w, req.URL, want)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}
	}
	if len(hits["a"]) != 4 || len(hits["b"]) != 4 {
		t.Errorf("keys per instance: a %d, b %d, want 4 and 4 (each key on one instance)", len(hits["a"]), len(hits["b"]))
	}
}

// TestAPITargetReusesEachClientsToken: every client's token is sent, each by one worker only,
// again and again.
func TestAPITargetReusesEachClientsToken(t *testing.T) {
	var clients []testbed.APIClient
	for i := range 6 {
		clients = append(clients, testbed.APIClient{Auth: fmt.Sprintf("Bearer t%d", i), Path: "/v1/projects/p/containers"})
	}
	tg := &apiTarget{base: "http://127.0.0.1:1", clients: clients}
	if err := tg.Start(context.Background(), nil, 3); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	owner := map[string]int{}
	for round := range 4 {
		for w := range 3 {
			r, err := tg.Request(context.Background(), w)
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
func TestParseBenchOutput(t *testing.T) {
	out := "goos: linux\nBenchmarkHandlerCached-2     \t   20000\t      1234 ns/op\t     456 B/op\t       7 allocs/op\n" +
		"BenchmarkHandlerUncached \t   20000\t     98765.5 ns/op\t    5432 B/op\t      80 allocs/op\nPASS\n"
	figs := parseBenchOutput(out)
	if len(figs) != 2 {
		t.Fatalf("got %d figures: %+v", len(figs), figs)
	}
	if f := figs[0]; f.Name != "BenchmarkHandlerCached" || f.NsPerOp != 1234 || f.Bytes != 456 || f.Allocs != 7 {
		t.Errorf("first = %+v", f)
	}
	if f := figs[1]; f.Name != "BenchmarkHandlerUncached" || f.NsPerOp != 98765.5 || f.Allocs != 80 {
		t.Errorf("second = %+v", f)
	}
}

package scenario

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward/bench/internal/load"
	"github.com/keyward/keyward/bench/internal/testbed"
)

func init() {
	Register(Scenario{Name: Middleware, Order: 50, NeedsExampleAPI: true, Run: runMiddleware})
}

// runMiddleware runs the example API against keyward, measures it with the tokens of every key,
// then checks that a deleted key's token is refused, and runs the middleware's own benchmarks for
// its allocations per request.
func runMiddleware(ctx context.Context, e *Env) error {
	kw, s, o, ex := e.Procs[0], e.Setup, e.Options, &e.Section.Extra
	api, err := testbed.StartExampleAPI(o.APIBin, kw)
	if err != nil {
		return err
	}
	defer api.Stop()
	clients, err := testbed.APIClients(ctx, kw, s.Keys)
	if err != nil {
		return err
	}
	e.Logf("scenario %s: the example API at %s, %d clients, %d connections", Middleware, api.Base, len(clients), o.Connections)
	r, err := load.Measure(ctx, Middleware, &apiTarget{base: api.Base, clients: clients}, o.Config, nil, api.Pid())
	if err != nil {
		return err
	}
	e.Logf("scenario %s: %.0f requests/s, %d errors", Middleware, r.Rate(), r.Errors)
	ex.Revocation, ex.RevocationErr = revocationDelay(ctx, kw, api, s)
	api.Stop()
	e.Logf("scenario %s: go test -bench of the middleware, for allocations", Middleware)
	ex.Allocs, ex.AllocsErr = middlewareAllocs(ctx)
	e.Section.Results = append(e.Section.Results, r)
	return nil
}

// revocationDelay deletes a key whose token the example API has already accepted (and so
// cached), then asks the API every 10 ms until it refuses the token: the time from keyward's
// answer to the deletion until the first refusal.
func revocationDelay(ctx context.Context, kw *testbed.Keyward, api *testbed.ExampleAPI, s *testbed.Setup) (time.Duration, error) {
	c := &http.Client{Timeout: 10 * time.Second, Transport: load.NewTransport(4, nil)}
	defer c.CloseIdleConnections()
	name, _ := testbed.RandomText(6)
	k, err := testbed.CreateKey(ctx, c, kw.Base, s.AdminToken, "bench-revoke-"+name)
	if err != nil {
		return 0, err
	}
	clients, err := testbed.APIClients(ctx, kw, []testbed.Key{k})
	if err != nil {
		return 0, err
	}
	get := func() (int, error) {
		status, _, err := load.Send(ctx, c, http.MethodGet, api.Base+clients[0].Path, "", clients[0].Auth, nil)
		return status, err
	}
	if status, err := get(); err != nil || status != http.StatusOK {
		return 0, fmt.Errorf("the example API refused a fresh token: HTTP %d %v", status, err)
	}
	status, body, err := load.Send(ctx, c, http.MethodDelete, kw.Base+"/v1/projects/default/api-keys/"+k.ID, "", "Bearer "+s.AdminToken, nil)
	if err != nil || status/100 != 2 {
		return 0, fmt.Errorf("delete API key: HTTP %d %v %s", status, err, load.Clip(body))
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

// allocsLine matches one result line of `go test -bench -benchmem`.
var allocsLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+([\d.]+) ns/op\s+(\d+) B/op\s+(\d+) allocs/op`)

// BenchFigure is one micro-benchmark's result.
type BenchFigure struct {
	Name          string
	NsPerOp       float64
	Bytes, Allocs int64
}

// parseBenchOutput reads the benchmark lines of `go test -bench -benchmem` output.
func parseBenchOutput(out string) []BenchFigure {
	var figs []BenchFigure
	for _, line := range strings.Split(out, "\n") {
		m := allocsLine.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			continue
		}
		ns, _ := strconv.ParseFloat(m[2], 64)
		b, _ := strconv.ParseInt(m[3], 10, 64)
		a, _ := strconv.ParseInt(m[4], 10, 64)
		figs = append(figs, BenchFigure{Name: m[1], NsPerOp: ns, Bytes: b, Allocs: a})
	}
	return figs
}

// middlewareAllocs runs the middleware package's own handler benchmarks, which send one protected
// request through Handler and RequirePermission: a bearer token cached and uncached, and a
// DPoP-bound token with a fresh proof, side by side in one run.
func middlewareAllocs(ctx context.Context) ([]BenchFigure, error) {
	out, err := testbed.GoTest(ctx, "-run", "^$", "-bench", "^BenchmarkHandler(Cached|Uncached|DPoP)$",
		"-benchmem", "-benchtime", "20000x", "./middleware")
	if err != nil {
		return nil, fmt.Errorf("go test -bench ./middleware: %w\n%s", err, testbed.Tail(string(out), 20))
	}
	figs := parseBenchOutput(string(out))
	if len(figs) == 0 {
		return nil, fmt.Errorf("go test -bench ./middleware printed no benchmark: %s", testbed.Tail(string(out), 20))
	}
	return figs, nil
}

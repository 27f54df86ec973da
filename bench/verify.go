package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward/bench/internal/proc"
	"github.com/keyward/keyward/middleware"
)

// verifyHandler is the verifying ceiling: it checks one bearer token per request through the
// public middleware's Verifier, uncached and without the revocation feed, and answers what the
// example API answers for an empty project. No cache, no revocation feed, no permission check:
// the least a resource server that verifies each request can do.
type verifyHandler struct {
	tokens *middleware.Verifier
}

func (h *verifyHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		http.Error(w, "no bearer token", http.StatusUnauthorized)
		return
	}
	if _, err := h.tokens.Verify(raw); err != nil {
		http.Error(w, "invalid token", http.StatusUnauthorized)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte(`{"data":[]}`))
}

// apiClient is one API client of the verification scenarios: a key's access token, reused on
// every request as real clients do, and the path of its project's containers.
type apiClient struct {
	auth string // "Bearer …"
	path string
}

// apiTarget sends GET requests for a project's containers. Worker w serves the clients w, w+n,
// w+2n… in turn, so every token is in use and each is reused many times.
type apiTarget struct {
	base    string // the example API or the verifying ceiling
	clients []apiClient
	n       int
	next    []int
}

func (t *apiTarget) start(_ context.Context, _ *http.Client, n int) error {
	if len(t.clients) == 0 {
		return errors.New("no API client")
	}
	t.n, t.next = n, make([]int, n)
	for w := range n {
		t.next[w] = w % len(t.clients)
	}
	return nil
}

func (t *apiTarget) request(ctx context.Context, w int) (*http.Request, error) {
	c := t.clients[t.next[w]]
	t.next[w] = (t.next[w] + t.n) % len(t.clients)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.base+c.path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", c.auth)
	return req, nil
}

func (t *apiTarget) answer(int, []byte) error { return nil }

func (t *apiTarget) failed(context.Context, *http.Client, int) error { return nil }

func (t *apiTarget) verify(_ int, body []byte) error {
	var v struct {
		Data []json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &v); err != nil || v.Data == nil {
		return fmt.Errorf("not a container list: %s", clip(body))
	}
	return nil
}

// apiClients exchanges every key once: the tokens the verification scenarios send.
func apiClients(ctx context.Context, kw *keywardProc, keys []benchKey) ([]apiClient, error) {
	c := &http.Client{Timeout: 30 * time.Second, Transport: newTransport(4, nil)}
	defer c.CloseIdleConnections()
	var out []apiClient
	for _, k := range keys {
		status, body, err := send(ctx, c, http.MethodPost, kw.base+"/oauth/token", formContentType, k.basic, strings.NewReader("grant_type=client_credentials"))
		if err != nil || status != http.StatusOK {
			return nil, fmt.Errorf("exchange for the API clients: HTTP %d %v", status, err)
		}
		tr, caller, err := checkKeywardAnswer(body, kw.tokens, k.id)
		if err != nil {
			return nil, err
		}
		out = append(out, apiClient{auth: "Bearer " + tr.AccessToken, path: "/v1/projects/" + caller.Project + "/containers"})
	}
	return out, nil
}

// allocsLine matches one result line of `go test -bench -benchmem`.
var allocsLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+([\d.]+) ns/op\s+(\d+) B/op\s+(\d+) allocs/op`)

// benchFigure is one micro-benchmark's result.
type benchFigure struct {
	name          string
	nsPerOp       float64
	bytes, allocs int64
}

// parseBenchOutput reads the benchmark lines of `go test -bench -benchmem` output.
func parseBenchOutput(out string) []benchFigure {
	var figs []benchFigure
	for _, line := range strings.Split(out, "\n") {
		m := allocsLine.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			continue
		}
		ns, _ := strconv.ParseFloat(m[2], 64)
		b, _ := strconv.ParseInt(m[3], 10, 64)
		a, _ := strconv.ParseInt(m[4], 10, 64)
		figs = append(figs, benchFigure{name: m[1], nsPerOp: ns, bytes: b, allocs: a})
	}
	return figs
}

// middlewareAllocs runs the middleware package's own handler benchmarks, which send one protected
// request through Handler and RequirePermission, cached and uncached.
func middlewareAllocs(ctx context.Context) ([]benchFigure, error) {
	root, err := moduleRoot(ctx)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-bench", "^BenchmarkHandler(Cached|Uncached)$",
		"-benchmem", "-benchtime", "20000x", "./middleware")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("go test -bench ./middleware: %w\n%s", err, proc.Tail(out, 20))
	}
	figs := parseBenchOutput(string(out))
	if len(figs) == 0 {
		return nil, fmt.Errorf("go test -bench ./middleware printed no benchmark: %s", proc.Tail(out, 20))
	}
	return figs, nil
}

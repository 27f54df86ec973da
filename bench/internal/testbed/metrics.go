package testbed

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward/bench/internal/load"
)

// ParseMetrics returns the values of the named unlabelled samples of a Prometheus text
// exposition, such as go_goroutines and process_resident_memory_bytes.
func ParseMetrics(r io.Reader, names ...string) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, rest, ok := strings.Cut(line, " ")
		if !ok || !slices.Contains(names, name) {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return nil, fmt.Errorf("metric %s has no value", name)
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return nil, fmt.Errorf("metric %s: %w", name, err)
		}
		out[name] = v
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for _, n := range names {
		if _, ok := out[n]; !ok {
			return nil, fmt.Errorf("metric %s is missing", n)
		}
	}
	return out, nil
}

// FetchMetrics reads the named samples from base's /metrics.
func FetchMetrics(ctx context.Context, c *http.Client, base string, names ...string) (map[string]float64, error) {
	status, body, err := load.Send(ctx, c, http.MethodGet, base+"/metrics", "", "", nil)
	if err != nil {
		return nil, err
	} else if status != http.StatusOK {
		return nil, fmt.Errorf("/metrics: HTTP %d", status)
	}
	return ParseMetrics(bytes.NewReader(body), names...)
}

// WriteStats reads keyward's group-commit counters from its /metrics.
func WriteStats(ctx context.Context, kw *Keyward) (ops, transactions float64, err error) {
	const opsName, txName = "keyward_store_write_operations_total", "keyward_store_write_transactions_total"
	m, err := FetchMetrics(ctx, &http.Client{Timeout: 5 * time.Second}, kw.Base, opsName, txName)
	if err != nil {
		return 0, 0, err
	}
	return m[opsName], m[txName], nil
}

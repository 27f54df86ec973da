package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// machine describes where the figures were measured; they mean nothing without it.
type machine struct {
	cpu   string
	cores int
	goVer string
	date  time.Time
	// loadBefore and loadAfter are the one-minute load averages around the scenarios: anything
	// far above the core count means other work shared the machine.
	loadBefore, loadAfter string
}

func machineInfo(now time.Time, loadBefore, loadAfter string) machine {
	return machine{cpu: cpuModel("/proc/cpuinfo"), cores: runtime.NumCPU(),
		goVer: runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH, date: now.UTC(),
		loadBefore: loadBefore, loadAfter: loadAfter}
}

// cpuModel returns the first "model name" of a /proc/cpuinfo file, or "unknown CPU".
func cpuModel(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return "unknown CPU"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			if v = strings.TrimSpace(v); v != "" {
				return v
			}
		}
	}
	return "unknown CPU"
}

// renderReport formats the results as Markdown: the table, then what a reader needs to trust it.
func renderReport(results []*result, m machine, o *options, revision, dbKind string, tokenBytes, ceilingBytes int) string {
	var ceiling *result
	for _, r := range results {
		if r.name == scenarioCeiling {
			ceiling = r
		}
	}
	var b strings.Builder
	b.WriteString("| scenario | requests/s | p50 | p99 | errors | vs ceiling | server CPU per request |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range results {
		ratio, cpu := "—", "—"
		if ceiling != nil && ceiling.rate() > 0 {
			ratio = strconv.FormatFloat(r.rate()/ceiling.rate(), 'f', 2, 64)
		}
		if r.cpuKnown && r.requests > 0 {
			cpu = micros(r.perRequest(r.serverCPU))
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %d | %s | %s |\n",
			r.name, thousands(int64(r.rate()+0.5)), millis(r.p50), millis(r.p99), r.errors, ratio, cpu)
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "- Machine: %s, %d cores, %s, %s.", m.cpu, m.cores, m.goVer, m.date.Format("2006-01-02 15:04 MST"))
	if m.loadBefore != "" {
		fmt.Fprintf(&b, " Load average (1 min) %s before the scenarios, %s after.", m.loadBefore, m.loadAfter)
	}
	b.WriteString("\n")
	if revision != "" {
		fmt.Fprintf(&b, "- Code: %s.\n", revision)
	}
	fmt.Fprintf(&b, "- keyward on %s; %d keep-alive connections; %d API keys; %s warm-up, then %s measured per scenario; "+
		"load generator, keyward and the ceiling share the same cores over loopback.\n",
		dbKind, o.connections, o.keys, o.warmup, o.duration)
	var counts, dials, gen []string
	for _, r := range results {
		counts = append(counts, fmt.Sprintf("%s %s", r.name, thousands(int64(r.requests))))
		dials = append(dials, fmt.Sprintf("%s %d", r.name, r.dials))
		gen = append(gen, fmt.Sprintf("%s %s", r.name, micros(r.perRequest(r.loadCPU))))
	}
	fmt.Fprintf(&b, "- Requests measured: %s. Connections opened while measuring: %s.\n",
		strings.Join(counts, ", "), strings.Join(dials, ", "))
	fmt.Fprintf(&b, "- Load generator CPU per request: %s.\n", strings.Join(gen, ", "))
	var batches []string
	for _, r := range results {
		if r.writeBatch > 0 {
			batches = append(batches, fmt.Sprintf("%s %.1f", r.name, r.writeBatch))
		}
	}
	if len(batches) > 0 {
		fmt.Fprintf(&b, "- keyward's average write batch (operations per SQLite transaction, from its /metrics): %s.\n", strings.Join(batches, ", "))
	}
	if ceilingBytes > 0 {
		fmt.Fprintf(&b, "- Access token size: keyward %d bytes, ceiling %d bytes.\n", tokenBytes, ceilingBytes)
	} else {
		fmt.Fprintf(&b, "- Access token size: keyward %d bytes.\n", tokenBytes)
	}
	if dbKind != "SQLite" {
		b.WriteString("- Server CPU counts keyward's own processes only; the database's processes are not in it.\n")
	}
	for _, r := range results {
		if r.capped {
			fmt.Fprintf(&b, "- Warning: %s reached -max-requests before its time was up; raise it for a full-length run.\n", r.name)
		}
	}
	return b.String()
}

// millis formats a latency in milliseconds with two decimals.
func millis(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64) + " ms"
}

// micros formats a duration in whole microseconds.
func micros(d time.Duration) string {
	return thousands(int64((d+500*time.Nanosecond)/time.Microsecond)) + " µs"
}

// thousands formats n with commas between groups of three digits.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

// renderComparison puts the setups of a -compare run side by side: throughput, its ratio to the
// ceiling (measured once, in the first setup) and server CPU per request, summed over a setup's
// keyward processes. The per-setup tables follow it in the report.
func renderComparison(sections []section, ceiling *result) string {
	var b strings.Builder
	b.WriteString("| setup | exchange requests/s | vs ceiling | refresh requests/s | vs ceiling | server CPU per exchange | server CPU per refresh |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|\n")
	for _, s := range sections {
		row := []string{s.spec.kind()}
		var cpus []string
		for _, name := range []string{scenarioExchange, scenarioRefresh} {
			var r *result
			for _, x := range s.results {
				if x.name == name {
					r = x
				}
			}
			rate, ratio, cpu := "—", "—", "—"
			if r != nil {
				rate = thousands(int64(r.rate() + 0.5))
				if ceiling != nil && ceiling.rate() > 0 {
					ratio = strconv.FormatFloat(r.rate()/ceiling.rate(), 'f', 2, 64)
				}
				if r.cpuKnown && r.requests > 0 {
					cpu = micros(r.perRequest(r.serverCPU))
				}
			}
			row = append(row, rate, ratio)
			cpus = append(cpus, cpu)
		}
		b.WriteString("| " + strings.Join(append(row, cpus...), " | ") + " |\n")
	}
	b.WriteString("\n")
	if ceiling != nil {
		fmt.Fprintf(&b, "- Ceiling (a bare ES256 signer, measured once, during the first setup): %s requests/s.\n",
			thousands(int64(ceiling.rate()+0.5)))
	}
	var loads []string
	for _, s := range sections {
		if s.machine.loadBefore != "" {
			loads = append(loads, fmt.Sprintf("%s %s → %s", s.spec.kind(), s.machine.loadBefore, s.machine.loadAfter))
		}
	}
	if len(loads) > 0 {
		fmt.Fprintf(&b, "- Load average (1 min) before → after each setup: %s.\n", strings.Join(loads, "; "))
	}
	b.WriteString("- Setups run one after the other, each with its own keyward processes; with several instances the\n" +
		"  connections are spread evenly across them and server CPU is the sum over them (PostgreSQL's own\n" +
		"  processes are not counted).\n")
	return b.String()
}

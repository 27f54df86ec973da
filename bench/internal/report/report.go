// Package report renders the bench's measurements as Markdown: the targets with PASS or FAIL, the table of each setup, and the comparison of setups.
package report

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/keyward/keyward/bench/internal/load"
	"github.com/keyward/keyward/bench/internal/scenario"
	"github.com/keyward/keyward/bench/internal/sysstat"
	"github.com/keyward/keyward/bench/internal/units"
)

// Report formats the results as Markdown: the table, then what a reader needs to trust it.
func Report(results []*load.Result, m sysstat.Machine, o *scenario.Options, revision, dbKind string, tokenBytes, ceilingBytes int) string {
	var ceiling *load.Result
	for _, r := range results {
		if r.Name == scenario.CeilingSign {
			ceiling = r
		}
	}
	var b strings.Builder
	b.WriteString("| scenario | requests/s | p50 | p99 | errors | vs ceiling | server CPU per request |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range results {
		ratio, cpu := "—", "—"
		if ceiling != nil && ceiling.Rate() > 0 {
			ratio = strconv.FormatFloat(r.Rate()/ceiling.Rate(), 'f', 2, 64)
		}
		if r.CPUKnown && r.Requests > 0 {
			cpu = units.Micros(r.PerRequest(r.ServerCPU))
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %d | %s | %s |\n",
			r.Name, units.Thousands(int64(r.Rate()+0.5)), units.Millis(r.P50), units.Millis(r.P99), r.Errors, ratio, cpu)
	}
	b.WriteString("\n")
	writeMachine(&b, m, revision)
	fmt.Fprintf(&b, "- keyward on %s; %d keep-alive connections; %d API keys; %s warm-up, then %s measured per scenario; "+
		"load generator, keyward and the ceiling share the same cores over loopback.\n",
		dbKind, o.Connections, o.Keys, o.Warmup, o.Duration)
	var counts, dials, gen []string
	for _, r := range results {
		counts = append(counts, fmt.Sprintf("%s %s", r.Name, units.Thousands(int64(r.Requests))))
		dials = append(dials, fmt.Sprintf("%s %d", r.Name, r.Dials))
		gen = append(gen, fmt.Sprintf("%s %s", r.Name, units.Micros(r.PerRequest(r.LoadCPU))))
	}
	fmt.Fprintf(&b, "- Requests measured: %s. Connections opened while measuring: %s.\n",
		strings.Join(counts, ", "), strings.Join(dials, ", "))
	fmt.Fprintf(&b, "- Load generator CPU per request: %s.\n", strings.Join(gen, ", "))
	var batches []string
	for _, r := range results {
		if r.WriteBatch > 0 {
			batches = append(batches, fmt.Sprintf("%s %.1f", r.Name, r.WriteBatch))
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
		if r.Capped {
			fmt.Fprintf(&b, "- Warning: %s reached -max-requests before its time was up; raise it for a full-length run.\n", r.Name)
		}
	}
	return b.String()
}

// writeMachine writes where and on what code the figures were measured: they mean nothing
// without it.
func writeMachine(b *strings.Builder, m sysstat.Machine, revision string) {
	fmt.Fprintf(b, "- Machine: %s, %d cores, %s, %s.", m.CPU, m.Cores, m.GoVer, m.Date.Format("2006-01-02 15:04 MST"))
	if m.LoadBefore != "" {
		fmt.Fprintf(b, " Load average (1 min) %s before the scenarios, %s after.", m.LoadBefore, m.LoadAfter)
	}
	b.WriteString("\n")
	if revision != "" {
		fmt.Fprintf(b, "- Code: %s.\n", revision)
	}
}

// Comparison puts the setups of a -compare run side by side: throughput, its ratio to the
// ceiling (measured once, in the first setup) and server CPU per request, summed over a setup's
// keyward processes. The per-setup tables follow it in the report.
func Comparison(sections []scenario.Section, ceiling *load.Result) string {
	var b strings.Builder
	b.WriteString("| setup | exchange requests/s | vs ceiling | refresh requests/s | vs ceiling | server CPU per exchange | server CPU per refresh |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|\n")
	for _, s := range sections {
		row := []string{s.Spec.Kind()}
		var cpus []string
		for _, name := range []string{scenario.Exchange, scenario.Refresh} {
			var r *load.Result
			for _, x := range s.Results {
				if x.Name == name {
					r = x
				}
			}
			rate, ratio, cpu := "—", "—", "—"
			if r != nil {
				rate = units.Thousands(int64(r.Rate() + 0.5))
				if ceiling != nil && ceiling.Rate() > 0 {
					ratio = strconv.FormatFloat(r.Rate()/ceiling.Rate(), 'f', 2, 64)
				}
				if r.CPUKnown && r.Requests > 0 {
					cpu = units.Micros(r.PerRequest(r.ServerCPU))
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
			units.Thousands(int64(ceiling.Rate()+0.5)))
	}
	var loads []string
	for _, s := range sections {
		if s.Machine.LoadBefore != "" {
			loads = append(loads, fmt.Sprintf("%s %s → %s", s.Spec.Kind(), s.Machine.LoadBefore, s.Machine.LoadAfter))
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

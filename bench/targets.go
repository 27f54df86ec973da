package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// memoryLimit is the bound on the server's resident memory, used for the scale run and
// for the login burst alike.
const memoryLimit = 256 << 20

// verdict is one row of the targets table.
type verdict struct {
	target, measured, result string
}

func passFail(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}

func ratio(a, b float64) string { return strconv.FormatFloat(a/b, 'f', 2, 64) }

func perSecond(r float64) string { return thousands(int64(r+0.5)) + "/s" }

// renderTargets lists every target of the issue with the figure measured in this run and PASS or
// FAIL; a target whose scenario did not run says which flag runs it.
func renderTargets(s section, scale *scaleResult, o *options, revision string) string {
	find := func(name string) *result {
		for _, r := range s.results {
			if r.name == name {
				return r
			}
		}
		return nil
	}
	notRun := func(target, how string) verdict { return verdict{target, "not run (" + how + ")", "—"} }
	var v []verdict
	sign, ex, rf := find(scenarioCeiling), find(scenarioExchange), find(scenarioRefresh)
	switch {
	case sign == nil || ex == nil:
		v = append(v, notRun("Exchange ≥ ½ of the signing ceiling", "needs ceiling-sign and exchange"))
	default:
		v = append(v, verdict{"Exchange ≥ ½ of the signing ceiling",
			fmt.Sprintf("%s vs %s: %s", perSecond(ex.rate()), perSecond(sign.rate()), ratio(ex.rate(), sign.rate())),
			passFail(ex.rate() >= sign.rate()/2)})
	}
	if ex != nil {
		v = append(v,
			verdict{fmt.Sprintf("Exchange p99 < 10 ms at %d connections", o.connections), millis(ex.p99) + " (p50 " + millis(ex.p50) + ")", passFail(ex.p99 < 10*time.Millisecond)},
			verdict{"Exchange: no errors", strconv.Itoa(ex.errors), passFail(ex.errors == 0)})
	}
	switch {
	case sign == nil || rf == nil:
		v = append(v, notRun("Refresh ≥ ⅓ of the signing ceiling", "needs ceiling-sign and refresh"))
	default:
		v = append(v, verdict{"Refresh ≥ ⅓ of the signing ceiling",
			fmt.Sprintf("%s vs %s: %s; p99 %s; %d errors", perSecond(rf.rate()), perSecond(sign.rate()), ratio(rf.rate(), sign.rate()), millis(rf.p99), rf.errors),
			passFail(rf.rate() >= sign.rate()/3 && rf.errors == 0)})
	}
	cv, mw := find(scenarioCeilingVerify), find(scenarioMiddleware)
	switch {
	case cv == nil || mw == nil:
		v = append(v, notRun("Example API through middleware/ ≥ the verifying ceiling", "needs ceiling-verify and middleware"))
	default:
		v = append(v, verdict{"Example API through middleware/ ≥ the verifying ceiling",
			fmt.Sprintf("%s vs %s: %s; p50/p99 %s / %s vs %s / %s; %d errors", perSecond(mw.rate()), perSecond(cv.rate()), ratio(mw.rate(), cv.rate()),
				millis(mw.p50), millis(mw.p99), millis(cv.p50), millis(cv.p99), mw.errors),
			passFail(mw.rate() >= cv.rate() && mw.errors == 0)})
	}
	if mw != nil {
		ex := s.extra
		if ex.revocationErr != nil {
			v = append(v, verdict{"Middleware refuses a deleted key's token within 1 s", ex.revocationErr.Error(), "FAIL"})
		} else {
			v = append(v, verdict{"Middleware refuses a deleted key's token within 1 s", millis(ex.revocation), passFail(ex.revocation < time.Second)})
		}
		if ex.allocsErr != nil {
			v = append(v, verdict{"Middleware allocations per request (reported)", ex.allocsErr.Error(), "FAIL"})
		} else {
			var parts []string
			for _, f := range ex.allocs {
				parts = append(parts, fmt.Sprintf("%s %d allocs, %d B, %s", strings.TrimPrefix(f.name, "BenchmarkHandler"), f.allocs, f.bytes, micros(time.Duration(f.nsPerOp))))
			}
			v = append(v, verdict{"Middleware allocations per request (reported)", strings.Join(parts, "; "), "reported"})
		}
	}
	if scale == nil {
		v = append(v, notRun("Scale: exchange within 10 % of a 1,000-key database", "-scale 1000000"),
			notRun("Scale: server RSS < 256 MiB", "-scale 1000000"),
			notRun("Scale: sweeping expired sessions does not stall requests", "-scale 1000000"))
	} else {
		sm, lg := scale.small, scale.large
		v = append(v,
			verdict{fmt.Sprintf("Scale: exchange with %s keys within 10 %% of %s keys", thousands(int64(lg.plan.keys+o.keys)), thousands(scaleBaselineKeys)),
				fmt.Sprintf("%s vs %s: %s; p99 %s vs %s; %d errors", perSecond(lg.exchange.rate()), perSecond(sm.exchange.rate()), ratio(lg.exchange.rate(), sm.exchange.rate()),
					millis(lg.exchange.p99), millis(sm.exchange.p99), lg.exchange.errors+sm.exchange.errors),
				passFail(lg.exchange.rate() >= 0.9*sm.exchange.rate() && lg.exchange.errors == 0)},
			verdict{"Scale: server RSS < 256 MiB", fmt.Sprintf("peak %s (%s with %s keys)", mib(lg.exchange.peakRSS), mib(sm.exchange.peakRSS), thousands(scaleBaselineKeys)),
				passFail(lg.exchange.peakRSS > 0 && lg.exchange.peakRSS < memoryLimit)})
		swept := lg.expiredBefore - lg.expiredAfter
		sweptS := lg.sessionsBefore - lg.sessionsAfter
		v = append(v, verdict{"Scale: sweeping expired sessions does not stall requests",
			fmt.Sprintf("%s expired tokens and %s sessions swept while measuring; slowest second %s requests, median second %s; p99 %s",
				thousands(swept), thousands(sweptS), thousands(int64(lg.minWindow)), thousands(int64(lg.medianWindow)), millis(lg.exchange.p99)),
			passFail((swept > 0 || sweptS > 0) && lg.minWindow*2 >= lg.medianWindow)})
	}
	if m := s.extra.mixed; m == nil {
		v = append(v, notRun("Mixed: exchange p99 < 20 ms with 50 logins/s", "needs mixed"),
			notRun("Mixed: 500 simultaneous logins do not exhaust memory", "needs mixed"))
	} else {
		v = append(v, verdict{fmt.Sprintf("Mixed: exchange p99 < 20 ms with %.0f logins/s", m.loginRate),
			fmt.Sprintf("p99 %s, %s exchanges; logins %s, p50/p99 %s / %s, %d errors, %d started over 1 s late",
				millis(m.exchange.p99), perSecond(m.exchange.rate()), perSecond(m.logins.rate()), millis(m.logins.p50), millis(m.logins.p99), m.logins.errors, m.logins.late),
			passFail(m.exchange.p99 < 20*time.Millisecond && m.exchange.errors == 0 && m.logins.errors == 0 && m.logins.late == 0)})
		b := m.burst
		v = append(v, verdict{fmt.Sprintf("Mixed: %d simultaneous logins do not exhaust memory", b.n),
			fmt.Sprintf("%d of %d succeeded in %s%s; peak RSS %s (bound: 256 MiB)", b.ok, b.n, b.took.Round(10*time.Millisecond), kindsSuffix(b.kinds), mib(b.peakRSS)),
			passFail(b.ok == b.n && b.rssOK && b.peakRSS < memoryLimit)})
	}
	if sk := s.extra.soak; sk == nil {
		v = append(v, notRun("Soak at half the maximum rate: zero errors", "-soak 10m"),
			notRun("Soak: RSS and goroutines flat", "-soak 10m"))
	} else {
		v = append(v, verdict{fmt.Sprintf("Soak, %s at half the maximum rate: zero errors", o.soak),
			fmt.Sprintf("%s sent at %s (asked %s), %d errors, p50/p99 %s / %s", thousands(int64(sk.run.sent)), perSecond(sk.run.rate()), perSecond(sk.target), sk.run.errors, millis(sk.run.p50), millis(sk.run.p99)),
			passFail(sk.run.errors == 0 && sk.run.rate() >= 0.95*sk.target)})
		gOK, g0, g1 := flat(sk.series(func(m metricsSample) float64 { return m.goroutines }), 0.10, 10)
		rOK, r0, r1 := flat(sk.series(func(m metricsSample) float64 { return m.rss }), 0.10, 8<<20)
		v = append(v, verdict{"Soak: RSS and goroutines flat",
			fmt.Sprintf("RSS %s → %s, goroutines %.0f → %.0f (second quarter → last quarter, %d readings)", mib(int64(r0)), mib(int64(r1)), g0, g1, len(sk.samples)),
			passFail(gOK && rOK)})
	}

	var b strings.Builder
	b.WriteString("| target | measured | result |\n|---|---|---|\n")
	for _, x := range v {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", x.target, x.measured, x.result)
	}
	b.WriteString("\n")
	m := s.machine
	fmt.Fprintf(&b, "- Machine: %s, %d cores, %s, %s.", m.cpu, m.cores, m.goVer, m.date.Format("2006-01-02 15:04 MST"))
	if m.loadBefore != "" {
		fmt.Fprintf(&b, " Load average (1 min) %s before the scenarios, %s after.", m.loadBefore, m.loadAfter)
	}
	b.WriteString("\n")
	if revision != "" {
		fmt.Fprintf(&b, "- Code: %s.\n", revision)
	}
	if scale != nil {
		for _, r := range []*scaleRun{scale.small, scale.large} {
			fmt.Fprintf(&b, "- Scale database of %s keys: %s filled keys, %s sessions, %s refresh tokens (%s expired), filled in %s; %d keys in use; %s measured.\n",
				thousands(int64(r.plan.keys+o.keys)), thousands(int64(r.plan.keys)), thousands(int64(r.plan.sessions)), thousands(int64(r.plan.tokens)),
				thousands(int64(r.plan.expiredTokens())), r.fillTook.Round(time.Second), o.keys, r.exchange.elapsed.Round(time.Second))
			fmt.Fprintf(&b, "  Exchanges completed in each second: %s. Expired refresh tokens %s → %s, expired sessions %s → %s.\n",
				joinInts(r.exchange.windows), thousands(r.expiredBefore), thousands(r.expiredAfter), thousands(r.sessionsBefore), thousands(r.sessionsAfter))
		}
	}
	return b.String()
}

func kindsSuffix(kinds map[string]int) string {
	if len(kinds) == 0 {
		return ""
	}
	var parts []string
	for k, n := range kinds {
		parts = append(parts, fmt.Sprintf("%d× %s", n, k))
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

func joinInts(v []int) string {
	parts := make([]string, len(v))
	for i, n := range v {
		parts[i] = strconv.Itoa(n)
	}
	return strings.Join(parts, " ")
}

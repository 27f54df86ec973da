package report

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward/bench/internal/scenario"
	"github.com/keyward/keyward/bench/internal/units"
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

func perSecond(r float64) string { return units.Thousands(int64(r+0.5)) + "/s" }

// Targets lists every target of the issue with the figure measured in this run and PASS or
// FAIL; a target whose scenario did not run says which flag runs it.
func Targets(s *scenario.Section, o *scenario.Options, revision string) string {
	scale := s.Extra.Scale
	notRun := func(target, how string) verdict { return verdict{target, "not run (" + how + ")", "—"} }
	var v []verdict
	sign, ex, rf := s.Find(scenario.CeilingSign), s.Find(scenario.Exchange), s.Find(scenario.Refresh)
	switch {
	case sign == nil || ex == nil:
		v = append(v, notRun("Exchange ≥ ½ of the signing ceiling", "needs ceiling-sign and exchange"))
	default:
		v = append(v, verdict{"Exchange ≥ ½ of the signing ceiling",
			fmt.Sprintf("%s vs %s: %s", perSecond(ex.Rate()), perSecond(sign.Rate()), ratio(ex.Rate(), sign.Rate())),
			passFail(ex.Rate() >= sign.Rate()/2)})
	}
	if ex != nil {
		v = append(v,
			verdict{fmt.Sprintf("Exchange p99 < 10 ms at %d connections", o.Connections), units.Millis(ex.P99) + " (p50 " + units.Millis(ex.P50) + ")", passFail(ex.P99 < 10*time.Millisecond)},
			verdict{"Exchange: no errors", strconv.Itoa(ex.Errors), passFail(ex.Errors == 0)})
	}
	switch {
	case sign == nil || rf == nil:
		v = append(v, notRun("Refresh ≥ ⅓ of the signing ceiling", "needs ceiling-sign and refresh"))
	default:
		v = append(v, verdict{"Refresh ≥ ⅓ of the signing ceiling",
			fmt.Sprintf("%s vs %s: %s; p99 %s; %d errors", perSecond(rf.Rate()), perSecond(sign.Rate()), ratio(rf.Rate(), sign.Rate()), units.Millis(rf.P99), rf.Errors),
			passFail(rf.Rate() >= sign.Rate()/3 && rf.Errors == 0)})
	}
	cv, mw := s.Find(scenario.CeilingVerify), s.Find(scenario.Middleware)
	switch {
	case cv == nil || mw == nil:
		v = append(v, notRun("Example API through middleware/ ≥ the verifying ceiling", "needs ceiling-verify and middleware"))
	default:
		v = append(v, verdict{"Example API through middleware/ ≥ the verifying ceiling",
			fmt.Sprintf("%s vs %s: %s; p50/p99 %s / %s vs %s / %s; %d errors", perSecond(mw.Rate()), perSecond(cv.Rate()), ratio(mw.Rate(), cv.Rate()),
				units.Millis(mw.P50), units.Millis(mw.P99), units.Millis(cv.P50), units.Millis(cv.P99), mw.Errors),
			passFail(mw.Rate() >= cv.Rate() && mw.Errors == 0)})
	}
	if mw != nil {
		ex := s.Extra
		if ex.RevocationErr != nil {
			v = append(v, verdict{"Middleware refuses a deleted key's token within 1 s", ex.RevocationErr.Error(), "FAIL"})
		} else {
			v = append(v, verdict{"Middleware refuses a deleted key's token within 1 s", units.Millis(ex.Revocation), passFail(ex.Revocation < time.Second)})
		}
		if ex.AllocsErr != nil {
			v = append(v, verdict{"Middleware per request: bearer cached, uncached, DPoP (reported)", ex.AllocsErr.Error(), "FAIL"})
		} else {
			var parts []string
			for _, f := range ex.Allocs {
				parts = append(parts, fmt.Sprintf("%s %d allocs, %d B, %s", strings.TrimPrefix(f.Name, "BenchmarkHandler"), f.Allocs, f.Bytes, units.Micros(time.Duration(f.NsPerOp))))
			}
			v = append(v, verdict{"Middleware per request: bearer cached, uncached, DPoP (reported)", strings.Join(parts, "; "), "reported"})
		}
	}
	if scale == nil {
		v = append(v, notRun("Scale: exchange within 10 % of a 1,000-key database", "-scale 1000000"),
			notRun("Scale: server RSS < 256 MiB", "-scale 1000000"),
			notRun("Scale: sweeping expired sessions does not stall requests", "-scale 1000000"))
	} else {
		sm, lg := scale.Small, scale.Large
		v = append(v,
			verdict{fmt.Sprintf("Scale: exchange with %s keys within 10 %% of %s keys", units.Thousands(int64(lg.Plan.Keys+o.Keys)), units.Thousands(scenario.ScaleBaselineKeys)),
				fmt.Sprintf("%s vs %s: %s; p99 %s vs %s; %d errors", perSecond(lg.Exchange.Rate()), perSecond(sm.Exchange.Rate()), ratio(lg.Exchange.Rate(), sm.Exchange.Rate()),
					units.Millis(lg.Exchange.P99), units.Millis(sm.Exchange.P99), lg.Exchange.Errors+sm.Exchange.Errors),
				passFail(lg.Exchange.Rate() >= 0.9*sm.Exchange.Rate() && lg.Exchange.Errors == 0)},
			verdict{"Scale: server RSS < 256 MiB", fmt.Sprintf("peak %s (%s with %s keys)", units.MiB(lg.Exchange.PeakRSS), units.MiB(sm.Exchange.PeakRSS), units.Thousands(scenario.ScaleBaselineKeys)),
				passFail(lg.Exchange.PeakRSS > 0 && lg.Exchange.PeakRSS < memoryLimit)})
		swept := lg.ExpiredBefore - lg.ExpiredAfter
		sweptS := lg.SessionsBefore - lg.SessionsAfter
		v = append(v, verdict{"Scale: sweeping expired sessions does not stall requests",
			fmt.Sprintf("%s expired tokens and %s sessions swept while measuring; slowest second %s requests, median second %s; p99 %s",
				units.Thousands(swept), units.Thousands(sweptS), units.Thousands(int64(lg.MinWindow)), units.Thousands(int64(lg.MedianWindow)), units.Millis(lg.Exchange.P99)),
			passFail((swept > 0 || sweptS > 0) && lg.MinWindow*2 >= lg.MedianWindow)})
	}
	if m := s.Extra.Mixed; m == nil {
		v = append(v, notRun("Mixed: exchange p99 < 20 ms with 50 logins/s", "needs mixed"),
			notRun("Mixed: 500 simultaneous logins do not exhaust memory", "needs mixed"))
	} else {
		v = append(v, verdict{fmt.Sprintf("Mixed: exchange p99 < 20 ms with %.0f logins/s", m.LoginRate),
			fmt.Sprintf("p99 %s, %s exchanges; logins %s, p50/p99 %s / %s, %d errors, %d started over 1 s late",
				units.Millis(m.Exchange.P99), perSecond(m.Exchange.Rate()), perSecond(m.Logins.Rate()), units.Millis(m.Logins.P50), units.Millis(m.Logins.P99), m.Logins.Errors, m.Logins.Late),
			passFail(m.Exchange.P99 < 20*time.Millisecond && m.Exchange.Errors == 0 && m.Logins.Errors == 0 && m.Logins.Late == 0)})
		b := m.Burst
		v = append(v, verdict{fmt.Sprintf("Mixed: %d simultaneous logins do not exhaust memory", b.N),
			fmt.Sprintf("%d of %d succeeded in %s%s; peak RSS %s (bound: 256 MiB)", b.OK, b.N, b.Took.Round(10*time.Millisecond), kindsSuffix(b.Kinds), units.MiB(b.PeakRSS)),
			passFail(b.OK == b.N && b.RSSOK && b.PeakRSS < memoryLimit)})
	}
	if sk := s.Extra.Soak; sk == nil {
		v = append(v, notRun("Soak at half the maximum rate: zero errors", "-soak 10m"),
			notRun("Soak: RSS and goroutines flat", "-soak 10m"))
	} else {
		v = append(v, verdict{fmt.Sprintf("Soak, %s at half the maximum rate: zero errors", o.Soak),
			fmt.Sprintf("%s sent at %s (asked %s), %d errors, p50/p99 %s / %s", units.Thousands(int64(sk.Run.Sent)), perSecond(sk.Run.Rate()), perSecond(sk.Target), sk.Run.Errors, units.Millis(sk.Run.P50), units.Millis(sk.Run.P99)),
			passFail(sk.Run.Errors == 0 && sk.Run.Rate() >= 0.95*sk.Target)})
		gOK, g0, g1 := flat(sk.Series(func(m scenario.MetricsSample) float64 { return m.Goroutines }), 0.10, 10)
		rOK, r0, r1 := flat(sk.Series(func(m scenario.MetricsSample) float64 { return m.RSS }), 0.10, 8<<20)
		v = append(v, verdict{"Soak: RSS and goroutines flat",
			fmt.Sprintf("RSS %s → %s, goroutines %.0f → %.0f (second quarter → last quarter, %d readings)", units.MiB(int64(r0)), units.MiB(int64(r1)), g0, g1, len(sk.Samples)),
			passFail(gOK && rOK)})
	}

	var b strings.Builder
	b.WriteString("| target | measured | result |\n|---|---|---|\n")
	for _, x := range v {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", x.target, x.measured, x.result)
	}
	b.WriteString("\n")
	writeMachine(&b, s.Machine, revision)
	if scale != nil {
		for _, r := range []*scenario.ScaleRun{scale.Small, scale.Large} {
			fmt.Fprintf(&b, "- Scale database of %s keys: %s filled keys, %s sessions, %s refresh tokens (%s expired), filled in %s; %d keys in use; %s measured.\n",
				units.Thousands(int64(r.Plan.Keys+o.Keys)), units.Thousands(int64(r.Plan.Keys)), units.Thousands(int64(r.Plan.Sessions)), units.Thousands(int64(r.Plan.Tokens)),
				units.Thousands(int64(r.Plan.ExpiredTokens())), r.FillTook.Round(time.Second), o.Keys, r.Exchange.Elapsed.Round(time.Second))
			fmt.Fprintf(&b, "  Exchanges completed in each second: %s. Expired refresh tokens %s → %s, expired sessions %s → %s.\n",
				joinInts(r.Exchange.Windows), units.Thousands(r.ExpiredBefore), units.Thousands(r.ExpiredAfter), units.Thousands(r.SessionsBefore), units.Thousands(r.SessionsAfter))
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

// flat says whether a series did not grow: the mean of its last quarter is within tolerance
// (a fraction) of the mean of its second quarter, plus slack in absolute units. The first
// quarter is left out: caches and pools fill during it.
func flat(series []float64, tolerance, slack float64) (bool, float64, float64) {
	if len(series) < 4 {
		return false, 0, 0
	}
	q := len(series) / 4
	mean := func(s []float64) float64 {
		t := 0.0
		for _, v := range s {
			t += v
		}
		return t / float64(len(s))
	}
	early, late := mean(series[q:2*q]), mean(series[len(series)-q:])
	return late <= early*(1+tolerance)+slack, early, late
}

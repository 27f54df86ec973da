package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// scaleBaselineKeys is the small database the scale scenario compares with.
const scaleBaselineKeys = 1000

// sweepAt is when keyward's first sweep runs after its start (it sweeps once a minute); the
// scale measurement starts just before it so that the sweeper works while the load runs.
const sweepAt = time.Minute

// scaleRounds is how many windows of each database the scale measurement alternates.
const scaleRounds = 4

// scaleRun is the exchange measured on one pre-filled database.
type scaleRun struct {
	plan                          fillPlan
	fillTook                      time.Duration
	exchange                      *result
	expiredBefore, expiredAfter   int64 // refresh tokens
	sessionsBefore, sessionsAfter int64 // sessions
	minWindow, medianWindow       int

	kw      *keywardProc
	setup   *setup
	path    string
	started time.Time
	windows []*result
}

// scaleResult compares a database of scaleBaselineKeys keys with one of -scale keys.
type scaleResult struct {
	small, large *scaleRun
}

// measureScale compares the exchange on a database of scaleBaselineKeys keys with one of keys
// keys. Both keyward processes run at once, each paused (SIGSTOP) while the other is measured,
// and the measurement alternates between them in scaleRounds windows each: whatever else the
// machine does drifts over minutes, and alternating spreads that drift over both, where
// measuring one after the other would charge it to one. A paused process takes no CPU at all,
// its sweeper included, so each database's sweeping happens in its own windows.
func measureScale(ctx context.Context, bin, tmp string, cred credentials, o *options, keys int, logf func(string, ...any)) (*scaleResult, error) {
	small, err := prepareScale(ctx, bin, tmp, cred, o, scaleBaselineKeys, logf)
	if err != nil {
		return nil, fmt.Errorf("scale, %d keys: %w", scaleBaselineKeys, err)
	}
	defer small.kw.stop()
	large, err := prepareScale(ctx, bin, tmp, cred, o, keys, logf)
	if err != nil {
		return nil, fmt.Errorf("scale, %d keys: %w", keys, err)
	}
	defer large.kw.stop()

	// Until a few seconds before the large database's first sweep, so that the sweep starts
	// in its first window (the small one's, of a thousand rows, is over at once).
	if wait := time.Until(large.started.Add(sweepAt - 3*time.Second)); wait > 0 {
		logf("scale: waiting %s for the first sweep", wait.Round(time.Second))
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
	}
	runs := []*scaleRun{small, large}
	for _, r := range runs {
		if r.expiredBefore, r.sessionsBefore, err = expiredRows(ctx, r.path, time.Now()); err != nil {
			return nil, fmt.Errorf("count expired rows: %w", err)
		}
	}
	wo := *o
	wo.warmup = time.Second
	wo.duration = max(o.duration, 20*time.Second) / scaleRounds
	logf("scale: %d rounds of %s per database, alternating", scaleRounds, wo.duration)
	for round := range scaleRounds {
		for _, r := range runs {
			if err := r.kw.Resume(); err != nil {
				return nil, err
			}
			w, err := runScenario(ctx, "window", &exchangeTarget{to: []endpoint{endpointOf(r.kw)}, keys: r.setup.keys}, &wo, nil, r.kw.Pid())
			if err != nil {
				r.kw.dumpLog(logWriter)
				return nil, fmt.Errorf("scale, %d keys, round %d: %w", r.plan.keys+o.keys, round+1, err)
			}
			if err := r.kw.Pause(); err != nil {
				return nil, err
			}
			r.windows = append(r.windows, w)
		}
	}
	for _, r := range runs {
		if err := r.kw.Resume(); err != nil {
			return nil, err
		}
		r.exchange = mergeResults(fmt.Sprintf("exchange, %s keys", thousands(int64(r.plan.keys+o.keys))), r.windows)
		r.minWindow, r.medianWindow = windowStats(r.exchange.windows)
		if r.expiredAfter, r.sessionsAfter, err = expiredRows(ctx, r.path, time.Now()); err != nil {
			return nil, fmt.Errorf("count expired rows: %w", err)
		}
	}
	return &scaleResult{small: small, large: large}, nil
}

// prepareScale starts keyward on a database that holds keys API keys, 10·keys refresh tokens and
// keys sessions besides the keys in use, a tenth of them expired, creates the keys in use, and
// pauses it. keyward migrates the empty file first and is stopped; the bench fills it, then
// starts keyward again.
func prepareScale(ctx context.Context, bin, tmp string, cred credentials, o *options, keys int, logf func(string, ...any)) (*scaleRun, error) {
	dir := filepath.Join(tmp, fmt.Sprintf("scale-%d", keys))
	if err := mkdir(dir); err != nil {
		return nil, err
	}
	spec := setupSpec{instances: 1}
	plan := scalePlan(keys-o.keys, time.Now())
	procs, err := startSetup(ctx, bin, dir, spec, cred, &options{})
	if err != nil {
		return nil, err
	}
	procs[0].stop()
	logf("scale: filling %d keys, %d sessions, %d refresh tokens (%d expired)", plan.keys, plan.sessions, plan.tokens, plan.expiredTokens())
	t0 := time.Now()
	run := &scaleRun{plan: plan, path: filepath.Join(dir, "k.db")}
	if err := fillDatabase(ctx, run.path, plan); err != nil {
		return nil, err
	}
	run.fillTook = time.Since(t0)
	logf("scale: filled in %s", run.fillTook.Round(time.Second))
	procs, err = startSetup(ctx, bin, dir, spec, cred, &options{})
	if err != nil {
		return nil, err
	}
	run.kw = procs[0]
	run.started = time.Now()
	if run.setup, err = prepare(ctx, run.kw, o, logf); err != nil {
		run.kw.dumpLog(logWriter)
		run.kw.stop()
		return nil, err
	}
	if err := run.kw.Pause(); err != nil {
		run.kw.stop()
		return nil, err
	}
	return run, nil
}

// mergeResults adds up the windows of one measurement: requests, time, errors, CPU and the
// per-second counts; p50 is the median of the windows' p50s and p99 the highest of their p99s.
func mergeResults(name string, windows []*result) *result {
	m := &result{name: name, kinds: map[string]int{}, cpuKnown: true}
	var p50s []time.Duration
	for _, w := range windows {
		m.requests += w.requests
		m.warmup += w.warmup
		m.elapsed += w.elapsed
		m.errors += w.errors
		for k, n := range w.kinds {
			m.kinds[k] += n
		}
		if m.sample == "" {
			m.sample = w.sample
		}
		m.capped = m.capped || w.capped
		m.dials += w.dials
		m.serverCPU += w.serverCPU
		m.loadCPU += w.loadCPU
		m.cpuKnown = m.cpuKnown && w.cpuKnown
		m.windows = append(m.windows, w.windows...)
		m.peakRSS = max(m.peakRSS, w.peakRSS)
		m.p99 = max(m.p99, w.p99)
		p50s = append(p50s, w.p50)
	}
	slices.Sort(p50s)
	if len(p50s) > 0 {
		m.p50 = p50s[len(p50s)/2]
	}
	return m
}

func mkdir(dir string) error { return os.MkdirAll(dir, 0o700) }

// logWriter receives keyward's log when a run fails.
var logWriter = os.Stderr

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// scaleBaselineKeys is the small database the scale scenario compares with.
const scaleBaselineKeys = 1000

// sweepAt is when keyward's first sweep runs after its start (it sweeps once a minute); the
// scale measurement is placed around it so that the sweeper works while the load runs.
const sweepAt = time.Minute

// scaleRun is the exchange measured on one pre-filled database.
type scaleRun struct {
	plan                          fillPlan
	fillTook                      time.Duration
	exchange                      *result
	expiredBefore, expiredAfter   int64 // refresh tokens
	sessionsBefore, sessionsAfter int64 // sessions
	minWindow, medianWindow       int
}

// scaleResult compares a database of scaleBaselineKeys keys with one of -scale keys.
type scaleResult struct {
	small, large *scaleRun
}

// measureScale runs the exchange against a keyward whose database holds keys API keys, 10·keys
// refresh tokens and keys sessions besides the keys in use, a tenth of them expired. keyward
// migrates the empty file first and is stopped; the bench fills it, then starts keyward again.
func measureScale(ctx context.Context, bin, tmp string, cred credentials, o *options, keys int, logf func(string, ...any)) (*scaleRun, error) {
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
	path := filepath.Join(dir, "k.db")
	if err := fillDatabase(ctx, path, plan); err != nil {
		return nil, err
	}
	run := &scaleRun{plan: plan, fillTook: time.Since(t0)}
	logf("scale: filled in %s", run.fillTook.Round(time.Second))
	procs, err = startSetup(ctx, bin, dir, spec, cred, &options{})
	if err != nil {
		return nil, err
	}
	kw := procs[0]
	defer kw.stop()
	started := time.Now()
	s, err := prepare(ctx, kw, o, logf)
	if err != nil {
		kw.dumpLog(logWriter)
		return nil, err
	}
	if run.expiredBefore, run.sessionsBefore, err = expiredRows(ctx, path, time.Now()); err != nil {
		return nil, fmt.Errorf("count expired rows: %w", err)
	}
	// Warm up until a few seconds before the first sweep, then measure across it.
	so := *o
	so.warmup = max(o.warmup, time.Until(started.Add(sweepAt-5*time.Second)))
	so.duration = max(o.duration, 20*time.Second)
	logf("scale %d keys: %s warm-up, %s measured", keys, so.warmup.Round(time.Second), so.duration)
	r, err := runScenario(ctx, fmt.Sprintf("exchange, %s keys", thousands(int64(keys))), &exchangeTarget{url: kw.base + "/oauth/token", keys: s.keys, jwks: s.jwks}, &so, nil, kw.cmd.Process.Pid)
	if err != nil {
		kw.dumpLog(logWriter)
		return nil, err
	}
	run.exchange = r
	run.minWindow, run.medianWindow = windowStats(r.windows)
	if run.expiredAfter, run.sessionsAfter, err = expiredRows(ctx, path, time.Now()); err != nil {
		return nil, fmt.Errorf("count expired rows: %w", err)
	}
	return run, nil
}

func mkdir(dir string) error { return os.MkdirAll(dir, 0o700) }

// logWriter receives keyward's log when a run fails.
var logWriter = os.Stderr

package scenario

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/keyward/keyward/bench/internal/fill"
	"github.com/keyward/keyward/bench/internal/load"
	"github.com/keyward/keyward/bench/internal/testbed"
	"github.com/keyward/keyward/bench/internal/units"
)

func init() {
	Register(Scenario{Name: Scale, Stage: Alone, On: func(o *Options) bool { return o.Scale > 0 }, Run: func(ctx context.Context, e *Env) error {
		sc, err := measureScale(ctx, e, e.Options.Scale)
		if err != nil {
			return err
		}
		e.Section.Extra.Scale = sc
		return nil
	}})
}

// ScaleBaselineKeys is the small database the scale scenario compares with.
const ScaleBaselineKeys = 1000

// sweepAt is when keyward's first sweep runs after its start (it sweeps once a minute); the
// scale measurement starts just before it so that the sweeper works while the load runs.
const sweepAt = time.Minute

// scaleRounds is how many windows of each database the scale measurement alternates.
const scaleRounds = 4

// ScaleRun is the exchange measured on one pre-filled database.
type ScaleRun struct {
	Plan                          fill.Plan
	FillTook                      time.Duration
	Exchange                      *load.Result
	ExpiredBefore, ExpiredAfter   int64 // refresh tokens
	SessionsBefore, SessionsAfter int64 // sessions
	MinWindow, MedianWindow       int

	kw      *testbed.Keyward
	setup   *testbed.Setup
	path    string
	started time.Time
	windows []*load.Result
}

// ScaleResult compares a database of ScaleBaselineKeys keys with one of -scale keys.
type ScaleResult struct {
	Small, Large *ScaleRun
}

// measureScale compares the exchange on a database of ScaleBaselineKeys keys with one of keys
// keys. Both keyward processes run at once, each paused (SIGSTOP) while the other is measured,
// and the measurement alternates between them in scaleRounds windows each: whatever else the
// machine does drifts over minutes, and alternating spreads that drift over both, where
// measuring one after the other would charge it to one. A paused process takes no CPU at all,
// its sweeper included, so each database's sweeping happens in its own windows.
func measureScale(ctx context.Context, e *Env, keys int) (*ScaleResult, error) {
	logf := e.Logf
	small, err := prepareScale(ctx, e, ScaleBaselineKeys)
	if err != nil {
		return nil, fmt.Errorf("scale, %d keys: %w", ScaleBaselineKeys, err)
	}
	defer small.kw.Stop()
	large, err := prepareScale(ctx, e, keys)
	if err != nil {
		return nil, fmt.Errorf("scale, %d keys: %w", keys, err)
	}
	defer large.kw.Stop()

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
	runs := []*ScaleRun{small, large}
	for _, r := range runs {
		if r.ExpiredBefore, r.SessionsBefore, err = fill.ExpiredRows(ctx, r.path, time.Now()); err != nil {
			return nil, fmt.Errorf("count expired rows: %w", err)
		}
	}
	o := e.Options
	wo := o.Config
	wo.Warmup = time.Second
	wo.Duration = max(o.Duration, 20*time.Second) / scaleRounds
	logf("scale: %d rounds of %s per database, alternating", scaleRounds, wo.Duration)
	for round := range scaleRounds {
		for _, r := range runs {
			if err := r.kw.Resume(); err != nil {
				return nil, err
			}
			w, err := load.Measure(ctx, "window", &exchangeTarget{to: []testbed.Endpoint{r.kw.Endpoint()}, keys: r.setup.Keys}, wo, nil, r.kw.Pid())
			if err != nil {
				r.kw.DumpLog(os.Stderr)
				return nil, fmt.Errorf("scale, %d keys, round %d: %w", r.Plan.Keys+o.Keys, round+1, err)
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
		r.Exchange = load.Merge(fmt.Sprintf("exchange, %s keys", units.Thousands(int64(r.Plan.Keys+o.Keys))), r.windows)
		r.MinWindow, r.MedianWindow = load.WindowStats(r.Exchange.Windows)
		if r.ExpiredAfter, r.SessionsAfter, err = fill.ExpiredRows(ctx, r.path, time.Now()); err != nil {
			return nil, fmt.Errorf("count expired rows: %w", err)
		}
	}
	return &ScaleResult{Small: small, Large: large}, nil
}

// prepareScale starts keyward on a database that holds keys API keys, 10·keys refresh tokens and
// keys sessions besides the keys in use, a tenth of them expired, creates the keys in use, and
// pauses it. keyward migrates the empty file first and is stopped; the bench fills it, then
// starts keyward again.
func prepareScale(ctx context.Context, e *Env, keys int) (*ScaleRun, error) {
	o, logf := e.Options, e.Logf
	dir := filepath.Join(e.Dir, fmt.Sprintf("scale-%d", keys))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	spec := testbed.SetupSpec{Instances: 1}
	plan := fill.ForScale(keys-o.Keys, time.Now())
	procs, err := testbed.StartSetup(ctx, e.Bin, dir, spec, e.Cred, false)
	if err != nil {
		return nil, err
	}
	procs[0].Stop()
	logf("scale: filling %d keys, %d sessions, %d refresh tokens (%d expired)", plan.Keys, plan.Sessions, plan.Tokens, plan.ExpiredTokens())
	t0 := time.Now()
	run := &ScaleRun{Plan: plan, path: filepath.Join(dir, "k.db")}
	if err := fill.Database(ctx, run.path, plan); err != nil {
		return nil, err
	}
	run.FillTook = time.Since(t0)
	logf("scale: filled in %s", run.FillTook.Round(time.Second))
	procs, err = testbed.StartSetup(ctx, e.Bin, dir, spec, e.Cred, false)
	if err != nil {
		return nil, err
	}
	run.kw = procs[0]
	run.started = time.Now()
	if run.setup, err = testbed.Prepare(ctx, run.kw, o.Keys, logf); err != nil {
		run.kw.DumpLog(os.Stderr)
		run.kw.Stop()
		return nil, err
	}
	if err := run.kw.Pause(); err != nil {
		run.kw.Stop()
		return nil, err
	}
	return run, nil
}

package scenario

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/keyward/keyward/bench/internal/load"
	"github.com/keyward/keyward/bench/internal/sysstat"
	"github.com/keyward/keyward/bench/internal/testbed"
)

// MeasureSetup starts spec's keyward processes, runs the scenarios named in only against them,
// then the AfterSetup ones that are on when first is set, and stops the processes, so that the
// next setup has the cores to itself.
func MeasureSetup(ctx context.Context, e Env, only []string, first bool) (sec Section, err error) {
	sec.Spec = e.Spec
	e.Section = &sec
	procs, err := testbed.StartSetup(ctx, e.Bin, e.Dir, e.Spec, e.Cred, e.Options.Profile != "")
	if err != nil {
		return sec, err
	}
	defer func() {
		for _, kw := range procs {
			kw.Stop()
		}
		if ctx.Err() != nil {
			err = errors.New("interrupted")
		} else if err != nil {
			for _, kw := range procs {
				kw.DumpLog(os.Stderr)
			}
		}
	}()
	e.Procs = procs
	var urls []string
	for _, kw := range procs {
		urls = append(urls, kw.Base+"/oauth/token")
	}
	e.Logf("%s: keyward ready at %s", e.Spec.Kind(), strings.Join(urls, ", "))
	if e.Setup, err = testbed.Prepare(ctx, procs[0], e.Options.Keys, e.Logf); err != nil {
		return sec, err
	}
	sec.TokenBytes = e.Setup.TokenBytes

	loadBefore := sysstat.LoadAverage()
	for _, s := range Of(PerSetup) {
		if !slices.Contains(only, s.Name) || (s.FirstSetupOnly && !first) {
			continue
		}
		if ctx.Err() != nil {
			return sec, ctx.Err()
		}
		if err := s.Run(ctx, &e); err != nil {
			return sec, fmt.Errorf("%s, scenario %s: %w", e.Spec.Kind(), s.Name, err)
		}
	}
	if first {
		for _, s := range Of(AfterSetup) {
			if s.On(e.Options) {
				if err := s.Run(ctx, &e); err != nil {
					return sec, fmt.Errorf("%s: %w", s.Name, err)
				}
			}
		}
	}
	sec.Machine = sysstat.Describe(time.Now(), loadBefore, sysstat.LoadAverage())
	return sec, nil
}

// RunAlone runs the Alone scenarios that are on, recording into sec.
func RunAlone(ctx context.Context, e Env, sec *Section) error {
	e.Section = sec
	for _, s := range Of(Alone) {
		if s.On(e.Options) {
			if err := s.Run(ctx, &e); err != nil {
				return err
			}
		}
	}
	return nil
}

// measure runs the closed-loop load t against the server processes pids as scenario name, logs
// its rate, and records its result. For keyward's own token scenarios it also reads the write
// batch from keyward's /metrics and, with -profile, samples the exchange's CPU profile.
func (e *Env) measure(ctx context.Context, name string, t load.Target, pids ...int) (*load.Result, error) {
	o, kw, kind := e.Options, e.Procs[0], e.Spec.Kind()
	var during func(context.Context, time.Duration) error
	if name == Exchange && o.Profile != "" {
		during = func(ctx context.Context, d time.Duration) error {
			return fetchProfile(ctx, kw.ProfileURL, o.Profile, d)
		}
	}
	keywards := pids == nil
	if keywards {
		for _, p := range e.Procs {
			pids = append(pids, p.Pid())
		}
	}
	e.Logf("%s, scenario %s: %d connections, %s warm-up, %s measured", kind, name, o.Connections, o.Warmup, o.Duration)
	opsBefore, txBefore, statsErr := testbed.WriteStats(ctx, kw)
	r, err := load.Measure(ctx, name, t, o.Config, during, pids...)
	if err != nil {
		return nil, err
	}
	if statsErr == nil && keywards {
		if ops, tx, err := testbed.WriteStats(ctx, kw); err == nil && tx > txBefore {
			r.WriteBatch = (ops - opsBefore) / (tx - txBefore)
		}
	}
	e.Logf("%s, scenario %s: %.0f requests/s, %d errors", kind, name, r.Rate(), r.Errors)
	e.Section.Results = append(e.Section.Results, r)
	return r, nil
}

// endpoints are the token endpoints of the setup's keyward processes.
func (e *Env) endpoints() []testbed.Endpoint {
	var to []testbed.Endpoint
	for _, kw := range e.Procs {
		to = append(to, kw.Endpoint())
	}
	return to
}

// fetchProfile fetches a CPU profile of about d from keyward's bench-only hook at url into path,
// while the load runs.
func fetchProfile(ctx context.Context, url, path string, d time.Duration) error {
	sec := int(d/time.Second) - 1
	if sec < 1 {
		sec = 1
	}
	c := &http.Client{Timeout: d + 30*time.Second, Transport: load.NewTransport(1, nil)}
	status, body, err := load.Send(ctx, c, http.MethodGet, fmt.Sprintf("%s/cpu?seconds=%d", url, sec), "", "", nil)
	if err != nil {
		return fmt.Errorf("CPU profile: %w", err)
	} else if status != http.StatusOK {
		return fmt.Errorf("CPU profile: HTTP %d: %s", status, load.Clip(body))
	}
	return os.WriteFile(path, body, 0o644)
}

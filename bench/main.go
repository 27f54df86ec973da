package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Scenario names, in the order they run.
const (
	scenarioCeiling  = "ceiling-sign"
	scenarioExchange = "exchange"
	scenarioRefresh  = "refresh"
	// scenarioCeilingVerify is a bare handler that verifies one ES256 token per request.
	scenarioCeilingVerify = "ceiling-verify"
	// scenarioMiddleware is the example API behind middleware/, following the revocation feed.
	scenarioMiddleware = "middleware"
	// scenarioMixed is the exchange while password logins arrive at -login-rate, then a burst.
	scenarioMixed = "mixed"
)

var allScenarios = []string{scenarioCeiling, scenarioExchange, scenarioRefresh, scenarioCeilingVerify, scenarioMiddleware, scenarioMixed}

// tokenScenarios are the scenarios a -compare run measures in each setup.
var tokenScenarios = []string{scenarioCeiling, scenarioExchange, scenarioRefresh}

// ceilingCommand is the hidden subcommand the bench re-executes itself with to run the ceiling in
// its own process, so that its scheduler and garbage collector are not the load generator's.
const ceilingCommand = "__ceiling"

func main() {
	if len(os.Args) > 1 && os.Args[1] == ceilingCommand {
		if err := runCeiling(os.Stdin); err != nil {
			fmt.Fprintln(os.Stderr, "bench ceiling:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "bench:", err)
		}
		os.Exit(1)
	}
}

// options are the command-line flags.
type options struct {
	keys        int
	connections int
	duration    time.Duration
	warmup      time.Duration
	maxRequests int
	only        []string
	out         string
	db          string
	instances   int  // keyward processes sharing the database
	compare     bool // SQLite, then PostgreSQL with one instance, then with -instances
	profile     string
	scale       int           // keys in the large database of the scale scenario; 0 skips it
	soak        time.Duration // length of the soak; 0 skips it
	loginRate   float64       // password logins per second in the mixed scenario
	burst       int           // simultaneous logins after the mixed scenario
	apiBin      string        // the example API, built when a scenario needs it
}

// setups lists what to measure, in order.
func (o *options) setups() []setupSpec {
	if o.compare {
		return []setupSpec{{instances: 1}, {db: o.db, instances: 1}, {db: o.db, instances: o.instances}}
	}
	return []setupSpec{{db: o.db, instances: o.instances}}
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: go run ./bench [flags]\n\n"+
			"Builds keyward, starts it on a free loopback port with a temporary database, and measures\n"+
			"the token endpoint next to a bare ES256 signer. Prints a Markdown table.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	fs.IntVar(&o.keys, "keys", 64, "API keys to create and use round-robin")
	fs.IntVar(&o.connections, "connections", 32, "concurrent keep-alive connections, one goroutine each")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "measured time per scenario")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured load before each scenario")
	fs.IntVar(&o.maxRequests, "max-requests", 2_000_000, "upper bound on measured requests per scenario")
	only := fs.String("only", "", "comma-separated scenarios to run (default all: "+strings.Join(allScenarios, ",")+")")
	fs.StringVar(&o.out, "out", "", "also write the Markdown report to this file")
	fs.StringVar(&o.db, "db", "", "database for keyward: postgres://… (default: SQLite in a temporary folder)")
	fs.IntVar(&o.instances, "instances", 1, "keyward processes sharing the -db database, connections spread evenly across them (PostgreSQL only)")
	fs.BoolVar(&o.compare, "compare", false, "measure SQLite, then -db with one instance, then -db with -instances (at least 2), in one run")
	fs.IntVar(&o.scale, "scale", 0, "also measure the exchange on a database pre-filled with this many keys (and ten refresh tokens each), against one of 1,000 keys; 1000000 is the issue's target (long: minutes)")
	fs.DurationVar(&o.soak, "soak", 0, "also run exchanges for this long at half the measured maximum rate, open-loop, watching keyward's memory and goroutines; 10m is the issue's target")
	fs.Float64Var(&o.loginRate, "login-rate", 50, "password logins per second during the mixed scenario")
	fs.IntVar(&o.burst, "login-burst", 500, "simultaneous password logins after the mixed scenario")
	fs.StringVar(&o.profile, "profile", "", "write a CPU profile of keyward under the exchange load to this file (builds keyward with a bench-only profiling hook)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	switch {
	case o.keys < 1:
		return nil, errors.New("-keys must be at least 1")
	case o.connections < 1:
		return nil, errors.New("-connections must be at least 1")
	case o.duration < time.Second:
		return nil, errors.New("-duration must be at least 1s")
	case o.warmup < 0:
		return nil, errors.New("-warmup must not be negative")
	case o.maxRequests < o.connections:
		return nil, errors.New("-max-requests must be at least -connections")
	case o.db != "" && !strings.HasPrefix(o.db, "postgres://") && !strings.HasPrefix(o.db, "postgresql://"):
		return nil, errors.New("-db takes a postgres:// URL; SQLite is the default")
	case o.instances < 1:
		return nil, errors.New("-instances must be at least 1")
	case o.instances > 1 && o.db == "":
		return nil, errors.New("-instances above 1 needs -db postgres://…: SQLite serves one process")
	case o.compare && o.db == "":
		return nil, errors.New("-compare needs -db postgres://… to compare with SQLite")
	case o.scale != 0 && o.scale < 2*scaleBaselineKeys:
		return nil, fmt.Errorf("-scale must be at least %d, twice the baseline's keys", 2*scaleBaselineKeys)
	case o.scale != 0 && (o.db != "" || o.compare):
		return nil, errors.New("-scale fills a SQLite file; leave out -db and -compare")
	case o.soak != 0 && o.soak < time.Minute:
		return nil, errors.New("-soak must be at least 1m")
	case o.loginRate <= 0 || o.burst < 1:
		return nil, errors.New("-login-rate and -login-burst must be positive")
	case o.scale != 0 && o.keys >= scaleBaselineKeys:
		return nil, fmt.Errorf("-scale needs -keys below %d: the keys in use are part of each database", scaleBaselineKeys)
	case o.profile != "" && (o.instances > 1 || o.compare):
		return nil, errors.New("-profile samples one keyward process; leave out -instances and -compare")
	}
	if o.compare {
		o.instances = max(o.instances, 2)
	}
	var err error
	if o.only, err = parseOnly(*only); err != nil {
		return nil, err
	}
	if o.compare && strings.TrimSpace(*only) == "" {
		o.only = slices.Clone(tokenScenarios)
	}
	if o.soak != 0 && !slices.Contains(o.only, scenarioExchange) {
		return nil, errors.New("-soak runs at half the exchange scenario's rate, which -only leaves out")
	}
	if o.profile != "" && !slices.Contains(o.only, scenarioExchange) {
		return nil, errors.New("-profile samples the exchange scenario, which -only leaves out")
	}
	return o, nil
}

// parseOnly returns the scenarios to run, always in their canonical order.
func parseOnly(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return slices.Clone(allScenarios), nil
	}
	want := map[string]bool{}
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		if !slices.Contains(allScenarios, name) {
			return nil, fmt.Errorf("-only: unknown scenario %q (have %s)", name, strings.Join(allScenarios, ", "))
		}
		want[name] = true
	}
	var out []string
	for _, name := range allScenarios {
		if want[name] {
			out = append(out, name)
		}
	}
	return out, nil
}

// run is the whole benchmark. Everything it starts is stopped by its deferred calls, which also
// run when ctx is cancelled by Ctrl-C, because every wait below watches ctx.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	logf := func(format string, a ...any) { fmt.Fprintf(stderr, "bench: "+format+"\n", a...) }

	tmp, err := os.MkdirTemp("", "keyward-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	revision := sourceRevision(ctx)
	logf("building keyward")
	bin, err := buildKeyward(ctx, tmp, o.profile != "", stderr)
	if err != nil {
		return err
	}
	cred, err := newCredentials()
	if err != nil {
		return err
	}
	if slices.Contains(o.only, scenarioMiddleware) {
		logf("building the example API")
		if o.apiBin, err = buildExampleAPI(ctx, tmp, os.Stderr); err != nil {
			return err
		}
	}

	var all []*result
	var sections []section
	var ceiling *result
	ceilingBytes := 0
	for i, spec := range o.setups() {
		s, err := measureSetup(ctx, bin, tmp, spec, cred, o, i == 0, logf)
		if err != nil {
			return err
		}
		for _, r := range s.results {
			if r.name == scenarioCeiling {
				ceiling, ceilingBytes = r, s.ceilingBytes
			}
		}
		s.ceilingBytes = ceilingBytes
		all = append(all, s.results...)
		sections = append(sections, s)
	}

	var scale *scaleResult
	if o.scale > 0 {
		if scale, err = measureScale(ctx, bin, tmp, cred, o, o.scale, logf); err != nil {
			return err
		}
		for _, r := range []*result{scale.small.exchange, scale.large.exchange} {
			all = append(all, r)
		}
	}

	var report string
	if len(sections) == 1 {
		s := sections[0]
		report = renderTargets(s, scale, o, revision) + "\n"
	}
	if len(sections) == 1 {
		s := sections[0]
		report += renderReport(s.results, s.machine, o, revision, s.spec.kind(), s.tokenBytes, s.ceilingBytes)
	} else {
		report = renderComparison(sections, ceiling)
		for _, s := range sections {
			report += "\n### " + s.spec.kind() + "\n\n" +
				renderReport(s.results, s.machine, o, revision, s.spec.kind(), s.tokenBytes, s.ceilingBytes)
		}
	}
	fmt.Fprint(stdout, report)
	if o.out != "" {
		if err := os.WriteFile(o.out, []byte(report), 0o644); err != nil {
			return err
		}
	}
	var failed []string
	if len(sections) == 1 && sections[0].extra.soak != nil && sections[0].extra.soak.run.errors > 0 {
		failed = append(failed, fmt.Sprintf("soak: %d errors", sections[0].extra.soak.run.errors))
	}
	for _, r := range all {
		if r.errors > 0 {
			failed = append(failed, fmt.Sprintf("%s: %d errors (%s)", r.name, r.errors, r.errorSummary()))
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("FAILED: every request must succeed, but\n  %s", strings.Join(failed, "\n  "))
	}
	return nil
}

// section is one setup's measurements.
type section struct {
	spec         setupSpec
	results      []*result
	machine      machine
	tokenBytes   int
	ceilingBytes int
	extra        extras
}

// extras are the figures of the scenarios beyond throughput: what the targets table needs.
type extras struct {
	revocation    time.Duration // deletion of a key to the example API's first refusal
	revocationErr error
	allocs        []benchFigure
	allocsErr     error
	mixed         *mixedResult
	soak          *soakResult
}

// measureSetup starts spec's keyward processes, runs the scenarios against them and stops them,
// so that the next setup has the cores to itself. The ceiling runs in the first setup only: it
// does not depend on keyward's database.
func measureSetup(ctx context.Context, bin, tmp string, spec setupSpec, cred credentials, o *options, first bool, logf func(string, ...any)) (sec section, err error) {
	sec.spec = spec
	procs, err := startSetup(ctx, bin, tmp, spec, cred, o)
	if err != nil {
		return sec, err
	}
	defer func() {
		for _, kw := range procs {
			kw.stop()
		}
		if ctx.Err() != nil {
			err = errors.New("interrupted")
		} else if err != nil {
			for _, kw := range procs {
				kw.dumpLog(os.Stderr)
			}
		}
	}()
	var urls []string
	var to []endpoint
	var pids []int
	for _, kw := range procs {
		urls = append(urls, kw.base+"/oauth/token")
		to = append(to, endpointOf(kw))
		pids = append(pids, kw.Pid())
	}
	kw := procs[0]
	logf("%s: keyward ready at %s", spec.kind(), strings.Join(urls, ", "))

	setup, err := prepare(ctx, kw, o, logf)
	if err != nil {
		return sec, err
	}
	sec.tokenBytes = setup.tokenBytes

	loadBefore := loadAverage()
	for _, name := range o.only {
		if ctx.Err() != nil {
			return sec, ctx.Err()
		}
		if name == scenarioCeiling && !first {
			continue
		}
		var t target
		scenarioPIDs := pids
		var ceil *ceilingProc
		switch name {
		case scenarioCeiling:
			if ceil, err = startCeiling(setup); err != nil {
				return sec, err
			}
			scenarioPIDs = []int{ceil.Pid()}
			t = &ceilingTarget{url: ceil.url, keys: setup.keys, tokens: setup.ceiling.verifier, template: setup.template}
		case scenarioExchange:
			t = &exchangeTarget{to: to, keys: setup.keys}
		case scenarioRefresh:
			t = &refreshTarget{to: to, keys: setup.keys}
		case scenarioCeilingVerify:
			if !first {
				continue
			}
			if ceil, err = startCeilingWith(ceilingConfig{Verify: kw.base}); err != nil {
				return sec, err
			}
			scenarioPIDs = []int{ceil.Pid()}
			clients, err := apiClients(ctx, kw, setup.keys)
			if err != nil {
				return sec, err
			}
			t = &apiTarget{base: strings.TrimSuffix(ceil.url, "/token"), clients: clients}
		case scenarioMiddleware:
			r, err := measureMiddleware(ctx, kw, setup, o, tmp, &sec.extra, logf)
			if err != nil {
				return sec, fmt.Errorf("%s, scenario %s: %w", spec.kind(), name, err)
			}
			sec.results = append(sec.results, r)
			continue
		case scenarioMixed:
			logf("%s, scenario %s: exchange at %d connections and %.0f logins/s, then %d logins at once", spec.kind(), name, o.connections, o.loginRate, o.burst)
			m, err := runMixed(ctx, kw, setup, o, o.loginRate)
			if err != nil {
				return sec, fmt.Errorf("%s, scenario %s: %w", spec.kind(), name, err)
			}
			m.burst = loginBurst(ctx, kw, o.burst)
			logf("%s, scenario %s: exchange p99 %s; logins %d sent, %d errors; burst %d/%d ok, peak RSS %s", spec.kind(), name,
				millis(m.exchange.p99), m.logins.sent, m.logins.errors, m.burst.ok, m.burst.n, mib(m.burst.peakRSS))
			sec.extra.mixed = m
			sec.results = append(sec.results, m.exchange)
			continue
		}
		var prof *profileJob
		if name == scenarioExchange && o.profile != "" {
			prof = &profileJob{url: kw.profileURL, path: o.profile}
		}
		logf("%s, scenario %s: %d connections, %s warm-up, %s measured", spec.kind(), name, o.connections, o.warmup, o.duration)
		opsBefore, txBefore, statsErr := writeStats(ctx, kw)
		r, err := runScenario(ctx, name, t, o, prof, scenarioPIDs...)
		if err == nil && statsErr == nil && ceil == nil {
			if ops, tx, err := writeStats(ctx, kw); err == nil && tx > txBefore {
				r.writeBatch = (ops - opsBefore) / (tx - txBefore)
			}
		}
		if ceil != nil {
			// The ceiling has served its scenario; stopping it frees the cores for the next one.
			ceil.Stop()
		}
		if err != nil {
			return sec, fmt.Errorf("%s, scenario %s: %w", spec.kind(), name, err)
		}
		logf("%s, scenario %s: %.0f requests/s, %d errors", spec.kind(), name, r.rate(), r.errors)
		sec.results = append(sec.results, r)
		if ct, ok := t.(*ceilingTarget); ok {
			sec.ceilingBytes = ct.tokenBytes
		}
	}
	if o.soak > 0 && first {
		var max float64
		for _, r := range sec.results {
			if r.name == scenarioExchange {
				max = r.rate()
			}
		}
		logf("%s, soak: %s at %.0f exchanges/s, half the measured maximum", spec.kind(), o.soak, max/2)
		soak, err := runSoak(ctx, kw, setup, o, max/2, o.soak, soakInterval(o.soak))
		if err != nil {
			return sec, fmt.Errorf("soak: %w", err)
		}
		logf("%s, soak: %d sent, %d errors", spec.kind(), soak.run.sent, soak.run.errors)
		sec.extra.soak = soak
	}
	sec.machine = machineInfo(time.Now(), loadBefore, loadAverage())
	return sec, nil
}

// soakInterval spaces the /metrics readings of a soak: about forty of them, at most one every
// five seconds.
func soakInterval(d time.Duration) time.Duration {
	return max(5*time.Second, d/40)
}

// measureMiddleware runs the example API against kw, measures it with the tokens of every key,
// then checks that a deleted key's token is refused, and runs the middleware's own benchmarks for
// its allocations per request.
func measureMiddleware(ctx context.Context, kw *keywardProc, s *setup, o *options, tmp string, ex *extras, logf func(string, ...any)) (*result, error) {
	api, err := startExampleAPI(ctx, o.apiBin, tmp, kw)
	if err != nil {
		return nil, err
	}
	defer api.Stop()
	clients, err := apiClients(ctx, kw, s.keys)
	if err != nil {
		return nil, err
	}
	logf("scenario %s: the example API at %s, %d clients, %d connections", scenarioMiddleware, api.base, len(clients), o.connections)
	r, err := runScenario(ctx, scenarioMiddleware, &apiTarget{base: api.base, clients: clients}, o, nil, api.Pid())
	if err != nil {
		return nil, err
	}
	logf("scenario %s: %.0f requests/s, %d errors", scenarioMiddleware, r.rate(), r.errors)
	ex.revocation, ex.revocationErr = revocationDelay(ctx, kw, api, s)
	api.Stop()
	logf("scenario %s: go test -bench of the middleware, for allocations", scenarioMiddleware)
	ex.allocs, ex.allocsErr = middlewareAllocs(ctx)
	return r, nil
}

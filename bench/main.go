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
)

var allScenarios = []string{scenarioCeiling, scenarioExchange, scenarioRefresh}

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

	var report string
	if len(sections) == 1 {
		s := sections[0]
		report = renderReport(s.results, s.machine, o, revision, s.spec.kind(), s.tokenBytes, s.ceilingBytes)
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
	var pids []int
	for _, kw := range procs {
		urls = append(urls, kw.base+"/oauth/token")
		pids = append(pids, kw.cmd.Process.Pid)
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
			scenarioPIDs = []int{ceil.cmd.Process.Pid}
			t = &ceilingTarget{url: ceil.url, keys: setup.keys, pub: &setup.ceilingKey.PublicKey, kid: setup.kid, template: setup.template}
		case scenarioExchange:
			t = &exchangeTarget{urls: urls, keys: setup.keys, jwks: setup.jwks}
		case scenarioRefresh:
			t = &refreshTarget{urls: urls, keys: setup.keys, jwks: setup.jwks}
		}
		var prof *profileJob
		if name == scenarioExchange && o.profile != "" {
			prof = &profileJob{url: kw.profileURL, path: o.profile}
		}
		logf("%s, scenario %s: %d connections, %s warm-up, %s measured", spec.kind(), name, o.connections, o.warmup, o.duration)
		r, err := runScenario(ctx, name, t, o, prof, scenarioPIDs...)
		if ceil != nil {
			// The ceiling has served its scenario; stopping it frees the cores for the next one.
			ceil.stop()
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
	sec.machine = machineInfo(time.Now(), loadBefore, loadAverage())
	return sec, nil
}

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

	"github.com/keyward/keyward/bench/internal/ceiling"
	"github.com/keyward/keyward/bench/internal/load"
	"github.com/keyward/keyward/bench/internal/report"
	"github.com/keyward/keyward/bench/internal/scenario"
	"github.com/keyward/keyward/bench/internal/testbed"
	"github.com/keyward/keyward/internal/proctest"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == ceiling.Command {
		if err := ceiling.Run(os.Args[2:], os.Stdin, os.Stderr); err != nil {
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

// options are the command-line flags: those the scenarios read, and those of the run.
type options struct {
	scenario.Options
	only      []string
	out       string
	db        string
	instances int  // keyward processes sharing the database
	compare   bool // SQLite, then PostgreSQL with one instance, then with -instances
}

// setups lists what to measure, in order.
func (o *options) setups() []testbed.SetupSpec {
	if o.compare {
		return []testbed.SetupSpec{{Instances: 1}, {DB: o.db, Instances: 1}, {DB: o.db, Instances: o.instances}}
	}
	return []testbed.SetupSpec{{DB: o.db, Instances: o.instances}}
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
	fs.IntVar(&o.Keys, "keys", 64, "API keys to create and use round-robin")
	fs.IntVar(&o.Connections, "connections", 32, "concurrent keep-alive connections, one goroutine each")
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "measured time per scenario")
	fs.DurationVar(&o.Warmup, "warmup", 2*time.Second, "unmeasured load before each scenario")
	fs.IntVar(&o.MaxRequests, "max-requests", 2_000_000, "upper bound on measured requests per scenario")
	only := fs.String("only", "", "comma-separated scenarios to run (default all: "+strings.Join(scenario.Names(), ",")+")")
	fs.StringVar(&o.out, "out", "", "also write the Markdown report to this file")
	fs.StringVar(&o.db, "db", "", "database for keyward: postgres://… (default: SQLite in a temporary folder)")
	fs.IntVar(&o.instances, "instances", 1, "keyward processes sharing the -db database, connections spread evenly across them (PostgreSQL only)")
	fs.BoolVar(&o.compare, "compare", false, "measure SQLite, then -db with one instance, then -db with -instances (at least 2), in one run")
	fs.IntVar(&o.Scale, "scale", 0, "also measure the exchange on a database pre-filled with this many keys (and ten refresh tokens each), against one of 1,000 keys; 1000000 is the issue's target (long: minutes)")
	fs.DurationVar(&o.Soak, "soak", 0, "also run exchanges for this long at half the measured maximum rate, open-loop, watching keyward's memory and goroutines; 10m is the issue's target")
	fs.Float64Var(&o.LoginRate, "login-rate", 50, "password logins per second during the mixed scenario")
	fs.IntVar(&o.Burst, "login-burst", 500, "simultaneous password logins after the mixed scenario")
	fs.StringVar(&o.Profile, "profile", "", "write a CPU profile of keyward under the exchange load to this file (builds keyward with a bench-only profiling hook)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	switch {
	case o.Keys < 1:
		return nil, errors.New("-keys must be at least 1")
	case o.Connections < 1:
		return nil, errors.New("-connections must be at least 1")
	case o.Duration < time.Second:
		return nil, errors.New("-duration must be at least 1s")
	case o.Warmup < 0:
		return nil, errors.New("-warmup must not be negative")
	case o.MaxRequests < o.Connections:
		return nil, errors.New("-max-requests must be at least -connections")
	case o.db != "" && !strings.HasPrefix(o.db, "postgres://") && !strings.HasPrefix(o.db, "postgresql://"):
		return nil, errors.New("-db takes a postgres:// URL; SQLite is the default")
	case o.instances < 1:
		return nil, errors.New("-instances must be at least 1")
	case o.instances > 1 && o.db == "":
		return nil, errors.New("-instances above 1 needs -db postgres://…: SQLite serves one process")
	case o.compare && o.db == "":
		return nil, errors.New("-compare needs -db postgres://… to compare with SQLite")
	case o.Scale != 0 && o.Scale < 2*scenario.ScaleBaselineKeys:
		return nil, fmt.Errorf("-scale must be at least %d, twice the baseline's keys", 2*scenario.ScaleBaselineKeys)
	case o.Scale != 0 && (o.db != "" || o.compare):
		return nil, errors.New("-scale fills a SQLite file; leave out -db and -compare")
	case o.Soak != 0 && o.Soak < time.Minute:
		return nil, errors.New("-soak must be at least 1m")
	case o.LoginRate <= 0 || o.Burst < 1:
		return nil, errors.New("-login-rate and -login-burst must be positive")
	case o.Scale != 0 && o.Keys >= scenario.ScaleBaselineKeys:
		return nil, fmt.Errorf("-scale needs -keys below %d: the keys in use are part of each database", scenario.ScaleBaselineKeys)
	case o.Profile != "" && (o.instances > 1 || o.compare):
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
		o.only = compared()
	}
	if o.Soak != 0 && !slices.Contains(o.only, scenario.Exchange) {
		return nil, errors.New("-soak runs at half the exchange scenario's rate, which -only leaves out")
	}
	if o.Profile != "" && !slices.Contains(o.only, scenario.Exchange) {
		return nil, errors.New("-profile samples the exchange scenario, which -only leaves out")
	}
	return o, nil
}

// compared are the scenarios a -compare run measures in each setup.
func compared() []string {
	var out []string
	for _, s := range scenario.Of(scenario.PerSetup) {
		if s.Compared {
			out = append(out, s.Name)
		}
	}
	return out
}

// parseOnly returns the scenarios to run, always in their canonical order.
func parseOnly(s string) ([]string, error) {
	allScenarios := scenario.Names()
	if strings.TrimSpace(s) == "" {
		return allScenarios, nil
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
	defer proctest.Clean()

	revision := testbed.SourceRevision(ctx)
	logf("building keyward")
	bin, err := testbed.BuildKeyward(o.Profile != "")
	if err != nil {
		return err
	}
	cred, err := testbed.NewCredentials()
	if err != nil {
		return err
	}
	if needsExampleAPI(o.only) {
		logf("building the example API")
		if o.APIBin, err = testbed.BuildExampleAPI(); err != nil {
			return err
		}
	}

	env := scenario.Env{Options: &o.Options, Bin: bin, Dir: tmp, Cred: cred, Logf: logf}
	var sections []scenario.Section
	var ceilingResult *load.Result
	ceilingBytes := 0
	for i, spec := range o.setups() {
		env.Spec = spec
		s, err := scenario.MeasureSetup(ctx, env, o.only, i == 0)
		if err != nil {
			return err
		}
		if r := s.Find(scenario.CeilingSign); r != nil {
			ceilingResult, ceilingBytes = r, s.CeilingBytes
		}
		s.CeilingBytes = ceilingBytes
		sections = append(sections, s)
	}
	if err := scenario.RunAlone(ctx, env, &sections[0]); err != nil {
		return err
	}

	var out string
	if len(sections) == 1 {
		s := &sections[0]
		out = report.Targets(s, &o.Options, revision) + "\n" +
			report.Report(s.Results, s.Machine, &o.Options, revision, s.Spec.Kind(), s.TokenBytes, s.CeilingBytes)
	} else {
		out = report.Comparison(sections, ceilingResult)
		for _, s := range sections {
			out += "\n### " + s.Spec.Kind() + "\n\n" +
				report.Report(s.Results, s.Machine, &o.Options, revision, s.Spec.Kind(), s.TokenBytes, s.CeilingBytes)
		}
	}
	fmt.Fprint(stdout, out)
	if o.out != "" {
		if err := os.WriteFile(o.out, []byte(out), 0o644); err != nil {
			return err
		}
	}
	var failed []string
	for _, s := range sections {
		failed = append(failed, s.Failures()...)
	}
	if len(failed) > 0 {
		return fmt.Errorf("FAILED: every request must succeed, but\n  %s", strings.Join(failed, "\n  "))
	}
	return nil
}

// needsExampleAPI says whether a scenario in only runs the example API.
func needsExampleAPI(only []string) bool {
	for _, name := range only {
		if s, ok := scenario.Lookup(name); ok && s.NeedsExampleAPI {
			return true
		}
	}
	return false
}

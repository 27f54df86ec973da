// Package scenario holds the bench's scenarios, each in its own file registering itself, and runs them against a setup of keyward processes.
package scenario

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/keyward/keyward/bench/internal/load"
	"github.com/keyward/keyward/bench/internal/sysstat"
	"github.com/keyward/keyward/bench/internal/testbed"
)

// Names of the scenarios the report and the flags refer to.
const (
	CeilingSign = "ceiling-sign"
	Exchange    = "exchange"
	Refresh     = "refresh"
	// CeilingVerify is a bare handler that verifies one ES256 token per request.
	CeilingVerify = "ceiling-verify"
	// Middleware is the example API behind middleware/, following the revocation feed.
	Middleware = "middleware"
	// Mixed is the exchange while password logins arrive at -login-rate, then a burst.
	Mixed = "mixed"
	Soak  = "soak"
	Scale = "scale"
)

// Stage says when a scenario runs.
type Stage int

const (
	// PerSetup scenarios run against each setup's keyward processes when -only names them.
	PerSetup Stage = iota
	// AfterSetup scenarios run once, against the first setup after its PerSetup scenarios, when
	// their flag is on.
	AfterSetup
	// Alone scenarios run after every setup is stopped, with keyward processes of their own,
	// when their flag is on.
	Alone
)

// Scenario is one part of a run.
type Scenario struct {
	Name string
	// Order places the scenario among those of its stage, and in -only's list.
	Order int
	Stage Stage
	// FirstSetupOnly scenarios are measured once, in the first setup: the ceilings, which do
	// not depend on keyward's database.
	FirstSetupOnly bool
	// Compared scenarios are what a -compare run measures in every setup by default.
	Compared bool
	// NeedsExampleAPI scenarios need the example API built (Options.APIBin).
	NeedsExampleAPI bool
	// On says whether a scenario of the AfterSetup or Alone stage runs.
	On func(o *Options) bool
	// Run measures, recording its figures in e.Section.
	Run func(ctx context.Context, e *Env) error
}

var registry = map[string]Scenario{}

// Register adds s to the scenarios; each file of this package registers its own.
func Register(s Scenario) {
	if _, dup := registry[s.Name]; dup || s.Name == "" || s.Run == nil {
		panic(fmt.Sprintf("scenario: bad or duplicate registration %q", s.Name))
	}
	if s.Stage != PerSetup && s.On == nil {
		panic(fmt.Sprintf("scenario: %q runs after the setups but no flag turns it on", s.Name))
	}
	registry[s.Name] = s
}

// Lookup returns the scenario called name.
func Lookup(name string) (Scenario, bool) {
	s, ok := registry[name]
	return s, ok
}

// Of returns the scenarios of stage st in their order.
func Of(st Stage) []Scenario {
	var out []Scenario
	for _, s := range registry {
		if s.Stage == st {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b Scenario) int { return a.Order - b.Order })
	return out
}

// Names are the PerSetup scenarios' names in their order: what -only chooses from.
func Names() []string {
	var out []string
	for _, s := range Of(PerSetup) {
		out = append(out, s.Name)
	}
	return out
}

// Options are the flags the scenarios read.
type Options struct {
	load.Config
	Keys      int
	Profile   string        // a CPU profile of keyward under the exchange load goes to this file
	Scale     int           // keys in the large database of the scale scenario; 0 skips it
	Soak      time.Duration // length of the soak; 0 skips it
	LoginRate float64       // password logins per second in the mixed scenario
	Burst     int           // simultaneous logins after the mixed scenario
	APIBin    string        // the example API, built when a scenario needs it
}

// Env is what a scenario runs with.
type Env struct {
	Options *Options
	Spec    testbed.SetupSpec
	// Procs are the setup's keyward processes and Setup what Prepare made of the first; both
	// are nil for an Alone scenario.
	Procs []*testbed.Keyward
	Setup *testbed.Setup
	// Bin is keyward's executable, Dir the run's temporary folder and Cred the credentials every
	// process gets: what an Alone scenario starts its own processes with.
	Bin, Dir string
	Cred     testbed.Credentials
	Section  *Section
	Logf     func(format string, a ...any)
}

// Section is one setup's measurements.
type Section struct {
	Spec         testbed.SetupSpec
	Results      []*load.Result
	Machine      sysstat.Machine
	TokenBytes   int
	CeilingBytes int
	Extra        Extras
}

// Extras are the figures of the scenarios beyond throughput: what the targets table needs.
type Extras struct {
	Revocation    time.Duration // deletion of a key to the example API's first refusal
	RevocationErr error
	Allocs        []BenchFigure
	AllocsErr     error
	Mixed         *MixedResult
	Soak          *SoakResult
	Scale         *ScaleResult
}

// Find returns the result of the scenario called name, or nil.
func (s *Section) Find(name string) *load.Result {
	for _, r := range s.Results {
		if r.Name == name {
			return r
		}
	}
	return nil
}

// Failures lists what failed in the section: every request of the bench must succeed.
func (s *Section) Failures() []string {
	var failed []string
	if sk := s.Extra.Soak; sk != nil && sk.Run.Errors > 0 {
		failed = append(failed, fmt.Sprintf("soak: %d errors", sk.Run.Errors))
	}
	all := s.Results
	if sc := s.Extra.Scale; sc != nil {
		all = append(slices.Clone(all), sc.Small.Exchange, sc.Large.Exchange)
	}
	for _, r := range all {
		if r.Errors > 0 {
			failed = append(failed, fmt.Sprintf("%s: %d errors (%s)", r.Name, r.Errors, r.ErrorSummary()))
		}
	}
	return failed
}

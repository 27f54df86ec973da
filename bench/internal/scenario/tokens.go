package scenario

import (
	"context"
	"fmt"

	"github.com/keyward/keyward/bench/internal/ceiling"
	"github.com/keyward/keyward/bench/internal/testbed"
)

// The token scenarios: the bare signer, and keyward's two grants a machine client uses.
func init() {
	Register(Scenario{Name: CeilingSign, Order: 10, FirstSetupOnly: true, Compared: true, Run: runCeilingSign})
	Register(Scenario{Name: Exchange, Order: 20, Compared: true, Run: func(ctx context.Context, e *Env) error {
		_, err := e.measure(ctx, Exchange, &exchangeTarget{to: e.endpoints(), keys: e.Setup.Keys})
		return err
	}})
	Register(Scenario{Name: Refresh, Order: 30, Compared: true, Run: func(ctx context.Context, e *Env) error {
		_, err := e.measure(ctx, Refresh, &refreshTarget{to: e.endpoints(), keys: e.Setup.Keys})
		return err
	}})
}

// runCeilingSign measures the signing ceiling, in a process of its own with a keyring of its
// own, on the request an exchange sends and with the claims of keyward's token.
func runCeilingSign(ctx context.Context, e *Env) error {
	s, kw := e.Setup, e.Procs[0]
	keys, err := ceiling.NewKeys(ctx, s.Lifetime, kw.Base, kw.Base)
	if err != nil {
		return err
	}
	ceil, err := ceiling.Start(ceiling.Config{Keys: keys.Keys, TokenTTL: keys.TokenTTL, Template: s.Template, Lifetime: s.Lifetime})
	if err != nil {
		return err
	}
	// Stopped as soon as it has served its scenario, to free the cores for the next one.
	defer ceil.Stop()
	t := &ceilingTarget{url: ceil.URL, keys: s.Keys, tokens: keys.Verifier, template: s.Template}
	if _, err := e.measure(ctx, CeilingSign, t, ceil.Pid()); err != nil {
		return ceilingError(err, ceil)
	}
	e.Section.CeilingBytes = t.tokenBytes
	return nil
}

// ceilingError adds the end of the ceiling's log to err.
func ceilingError(err error, ceil *ceiling.Process) error {
	return fmt.Errorf("%w\n--- last lines of the ceiling's log ---\n%s---", err, testbed.Tail(ceil.Logs(), 20))
}

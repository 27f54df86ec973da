package scenario

import (
	"context"
	"strings"

	"github.com/keyward/keyward/bench/internal/ceiling"
	"github.com/keyward/keyward/bench/internal/testbed"
)

func init() {
	Register(Scenario{Name: CeilingVerify, Order: 40, FirstSetupOnly: true, Run: runCeilingVerify})
}

// runCeilingVerify measures the verifying ceiling, in a process of its own, with the very tokens
// the middleware scenario sends the example API.
func runCeilingVerify(ctx context.Context, e *Env) error {
	kw := e.Procs[0]
	ceil, err := ceiling.Start(ceiling.Config{Verify: kw.Base})
	if err != nil {
		return err
	}
	defer ceil.Stop()
	clients, err := testbed.APIClients(ctx, kw, e.Setup.Keys)
	if err != nil {
		return err
	}
	if _, err := e.measure(ctx, CeilingVerify, &apiTarget{base: strings.TrimSuffix(ceil.URL, "/token"), clients: clients}, ceil.Pid()); err != nil {
		return ceilingError(err, ceil)
	}
	return nil
}

package testbed

import (
	"time"

	"github.com/keyward/keyward/internal/proctest"
)

// ExampleAPI is the example API, following keyward's revocation feed.
type ExampleAPI struct {
	*proctest.Process
	Base string
}

// StartExampleAPI runs the example API against keyward and waits until its revocation feed is
// connected (/healthz answers 200 only then).
func StartExampleAPI(bin string, kw *Keyward) (*ExampleAPI, error) {
	p, err := proctest.Run(proctest.Spec{Name: "the example API", Bin: bin, Args: []string{"--issuer", kw.Base},
		Ready: "containers-api listening", Health: "/healthz"})
	if err != nil {
		return nil, err
	}
	if err := p.WaitReady(time.Minute); err != nil {
		p.Stop()
		return nil, err
	}
	return &ExampleAPI{Process: p, Base: "http://" + p.Addr()}, nil
}

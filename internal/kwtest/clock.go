package kwtest

import (
	"time"

	"github.com/keyward/keyward/internal/fakeclock"
)

// Clock is a settable clock for server.Config.Now, so that tests make refresh tokens, keys and
// sessions expire by moving time forward instead of sleeping.
type Clock = fakeclock.Clock

// NewClock returns a clock that stands still at t until it is advanced.
func NewClock(t time.Time) *Clock { return fakeclock.New(t) }

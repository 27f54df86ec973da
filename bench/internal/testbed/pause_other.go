//go:build !linux

package testbed

import "errors"

// Pause is Linux-only: the scale scenario's interleaved windows need it.
func (kw *Keyward) Pause() error { return errors.New("pausing a server process needs Linux") }

// Resume does nothing outside Linux, where nothing was paused.
func (kw *Keyward) Resume() error { return nil }

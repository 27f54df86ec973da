//go:build !linux

package proc

import (
	"errors"
	"syscall"
)

// childAttr has no parent-death signal outside Linux; the deferred cleanup still stops children.
func childAttr() *syscall.SysProcAttr { return nil }

// Pause is Linux-only: the scale scenario's interleaved windows need it.
func (p *Proc) Pause() error { return errors.New("pausing a server process needs Linux") }

// Resume does nothing outside Linux, where nothing was paused.
func (p *Proc) Resume() error { return nil }

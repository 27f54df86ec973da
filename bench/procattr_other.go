//go:build !linux

package main

import (
	"errors"
	"syscall"
)

// childAttr has no parent-death signal outside Linux; the deferred cleanup still stops children.
func childAttr() *syscall.SysProcAttr { return nil }

// pauseProc is Linux-only: the scale scenario's interleaved windows need it.
func pauseProc(*proc) error { return errors.New("pausing a server process needs Linux") }

// resumeProc does nothing outside Linux, where nothing was paused.
func resumeProc(*proc) error { return nil }

//go:build linux

package testbed

import "syscall"

// Pause stops the process (SIGSTOP) so that it takes no CPU at all, its timers included, while
// another one is measured.
func (kw *Keyward) Pause() error { return kw.Signal(syscall.SIGSTOP) }

// Resume lets a paused process run again (SIGCONT); a no-op for one that runs.
func (kw *Keyward) Resume() error { return kw.Signal(syscall.SIGCONT) }

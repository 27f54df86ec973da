//go:build linux

package proc

import "syscall"

// childAttr asks the kernel to kill a child when the bench dies without cleaning up (kill -9, a
// crash), so no server is left holding a port. The signal follows the parent thread, and the Go
// runtime only ends threads of goroutines that locked them, which the bench never does.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// Pause stops the process (SIGSTOP) so that it takes no CPU at all, its timers included, while
// another one is measured.
func (p *Proc) Pause() error { return p.cmd.Process.Signal(syscall.SIGSTOP) }

// Resume lets a paused process run again (SIGCONT); a no-op for one that runs.
func (p *Proc) Resume() error { return p.cmd.Process.Signal(syscall.SIGCONT) }

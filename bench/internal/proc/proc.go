// Package proc starts and stops the bench's child processes: keyward, the example API and the ceilings.
package proc

import (
	"fmt"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Proc is a child process the bench started and must stop.
type Proc struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has exited
	err    error         // Wait's result, valid after exited is closed
	once   sync.Once
}

// Start starts cmd and watches it. The caller must call Stop.
func Start(name string, cmd *exec.Cmd) (*Proc, error) {
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Proc{cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// Pid is the process id, for reading its CPU time and memory.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Exited is closed once the process has exited.
func (p *Proc) Exited() <-chan struct{} { return p.exited }

// Err is how the process ended; valid once Exited is closed.
func (p *Proc) Err() error { return p.err }

// Stop asks the process to shut down gracefully, then kills it if it lingers. It is idempotent.
func (p *Proc) Stop() {
	p.once.Do(func() {
		select {
		case <-p.exited:
			return
		default:
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		_ = p.Resume() // a paused process takes its SIGTERM once it runs again
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
}

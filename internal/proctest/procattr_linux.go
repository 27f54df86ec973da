//go:build linux

package proctest

import "syscall"

// childAttr asks the kernel to kill a child when the test process dies without cleaning up
// (a timeout panic, kill -9), so that no server is left holding a port and a database.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

//go:build linux

package clustertest

import "syscall"

// childAttr asks the kernel to kill an instance when the test process dies without cleaning up
// (a timeout panic, kill -9), so that no server is left holding a port and a database.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

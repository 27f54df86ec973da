//go:build !linux

package proctest

import "syscall"

// childAttr has no parent-death signal outside Linux; cleanups still stop children.
func childAttr() *syscall.SysProcAttr { return nil }

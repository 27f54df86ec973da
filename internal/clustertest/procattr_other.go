//go:build !linux

package clustertest

import "syscall"

// childAttr has no parent-death signal outside Linux; the tests' cleanups still stop instances.
func childAttr() *syscall.SysProcAttr { return nil }

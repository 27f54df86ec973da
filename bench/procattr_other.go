//go:build !linux

package main

import "syscall"

// childAttr has no parent-death signal outside Linux; the deferred cleanup still stops children.
func childAttr() *syscall.SysProcAttr { return nil }

//go:build !linux

package sqlstore

import "time"

// setUserTimeout does nothing where TCP_USER_TIMEOUT does not exist; keepalives remain.
func setUserTimeout(uintptr, time.Duration) error { return nil }

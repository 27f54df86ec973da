// Package ratelimit owns the throttling of failed attempts (logins, key exchanges), keyed by address, username or key id.
package ratelimit

// Package netguard decides which addresses keyward may connect to on behalf of its users.
package netguard

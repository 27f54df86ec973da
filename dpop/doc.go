// Package dpop verifies and builds DPoP proofs (RFC 9449), the one home of their rules for
// keyward's token endpoint, its middleware and its client.
package dpop

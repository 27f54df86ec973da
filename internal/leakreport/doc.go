// Package leakreport checks the signatures of secret-scanning reports sent by GitHub's partner
// program, against the public keys the reporter publishes.
package leakreport

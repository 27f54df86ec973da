// Package twofactor enrols and checks the second factors of sign-in: TOTP codes (RFC 6238) and
// single-use recovery codes.
package twofactor

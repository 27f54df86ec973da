// Package authn decides who is calling keyward: a bearer access token, a password, or a session whose credential must still be live.
package authn

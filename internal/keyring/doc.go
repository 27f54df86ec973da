// Package keyring owns the access-token signing keys: it generates them, seals them at rest, rotates them in stages that every instance agrees on, and publishes the JWKS.
package keyring

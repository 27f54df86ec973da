// Package token owns keyward's access tokens (RFC 9068 JWTs: claims, minting, verification) and the format of its opaque refresh tokens.
package token

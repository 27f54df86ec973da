// Package oauth serves keyward's OAuth 2 endpoints: the token endpoint with its three grants,
// revocation, introspection, server metadata and the JWKS, with RFC 6749 errors.
package oauth

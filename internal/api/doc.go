// Package api serves keyward's /v1 management API: JSON handlers, their authorization, RFC 9457
// problem responses, the revocation feed and the OpenAPI document of the whole HTTP surface.
package api

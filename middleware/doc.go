// Package middleware lets a platform's HTTP API accept keyward access tokens, and only them.
//
// A Verifier discovers the issuer's metadata and JWKS, verifies each request's bearer token
// offline (signature with an algorithm allow-list, typ at+jwt, no unknown crit, iss, aud, exp and
// nbf with a small leeway), follows the issuer's revocation feed so that a deleted key's or
// revoked session's tokens are refused within a second, and checks the request's client address
// against the networks a key is restricted to. RequirePermission guards a route with the
// permissions it needs and, when its pattern has a {project} wildcard, with the project: a token
// of another project, or of none, is refused there (RequireProject does the same for a wildcard
// of another name). Handlers find the caller with FromContext:
//
//	v, err := middleware.New(ctx, middleware.Config{Issuer: "https://auth.example.com"})
//	if err != nil {
//		log.Fatal(err)
//	}
//	defer v.Close()
//	mux := http.NewServeMux()
//	mux.Handle("GET /v1/projects/{project}/containers",
//		middleware.RequirePermission("containers-view")(http.HandlerFunc(listContainers)))
//	log.Fatal(http.ListenAndServe(":8000", v.Handler(mux)))
//
// Refusals follow RFC 6750: 401 with WWW-Authenticate: Bearer error="invalid_token" for a
// missing, malformed, expired, revoked or foreign token (a raw API key gets advice to exchange it
// first), 400 invalid_request for a malformed Authorization header, 403 insufficient_scope from
// RequirePermission (with the missing permissions in scope=) and RequireProject, and 503
// temporarily_unavailable once the revocation feed has been unreachable for longer than
// Config.MaxStaleness (unless Config.FailOpen). A JWKS refetch for an unknown kid is rate-limited
// and bounded, and no other request waits for it.
//
// A token bound to a key (cnf.jkt, RFC 9449) is accepted only as Authorization: DPoP with a DPoP
// header holding a proof signed by that key, for the request's method and URL (Config.PublicURL
// behind a proxy), carrying the token's hash, issued within the last minute and never seen
// before (a bounded replay cache remembers each jti until its window closes). Such a token sent
// as Bearer, or an unbound one sent as DPoP, is refused with a DPoP challenge naming the accepted
// algorithms; Config.RequireDPoP refuses bearer tokens altogether. With Config.PublicURL, Handler
// serves RFC 9728 protected resource metadata and every challenge names it (resource_metadata).
//
// Verifying an ES256 signature costs tens to hundreds of microseconds, so a token verified once is kept in a
// bounded cache until it expires, keyed by its SHA-256; revocation, expiry and the client address
// are still checked on every request. The package depends only on go-jose and the standard
// library.
package middleware

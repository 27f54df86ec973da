// Package clientip answers "which address is this request from": the TCP peer, or the address
// that trusted reverse proxies recorded, by the rules keyward's server and middleware share.
//
// It depends on the standard library only, so a platform's API can use it beside keyward's
// middleware and judge a key's networks exactly as the token endpoint does.
package clientip

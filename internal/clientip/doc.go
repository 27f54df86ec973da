// Package clientip owns the answer to "which address is this request from": the TCP peer, or the address that trusted reverse proxies recorded, and the parsing of network lists.
package clientip

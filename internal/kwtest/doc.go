// Package kwtest starts complete keyward servers for end-to-end tests and speaks the HTTP contract to them.
package kwtest

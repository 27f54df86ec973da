// Package keyward holds the domain types, error codes and storage contract shared by every part of the keyward authorization server.
//
// It depends on the standard library only; technologies (SQLite, PostgreSQL, HTTP, JOSE) live in
// subpackages that import this one, never the other way round.
package keyward

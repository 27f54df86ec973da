// Package storetest owns the conformance suite that every keyward.Store backend must pass unchanged.
package storetest

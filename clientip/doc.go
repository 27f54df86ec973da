// Package clientip owns the network rules keyward's server and middleware share: which address a request is from, and how lists of allowed networks are read and written.
package clientip

// Package server is keyward's composition root: it opens the store, the keyring and the
// endpoints, wires them into one http.Server, and runs the background jobs.
package server

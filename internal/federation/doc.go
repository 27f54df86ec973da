// Package federation checks the identity tokens workloads present to trade them for keyward
// tokens: which issuers may be trusted, how their keys are found and cached, what a token must
// satisfy, and which rule's conditions it meets.
package federation

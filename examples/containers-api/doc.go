// Command containers-api is an example platform API, containers in projects, that accepts only
// keyward access tokens, verified by the middleware package.
package main

package federation

import (
	"net/http"

	"github.com/keyward/keyward/internal/netguard"
)

// dialPolicy decides which addresses the fetches of discovery documents and key sets may
// connect to (see netguard.Policy for why). Private addresses stay allowed: a Kubernetes
// cluster's issuer (https://kubernetes.default.svc) is one. This machine is reachable only when
// the operator admits local issuers.
func dialPolicy(allowInsecure bool) netguard.Policy {
	return netguard.Policy{Loopback: allowInsecure, Private: true,
		Hint: "keyward serve --federation-allow-insecure admits local issuers"}
}

// httpClient is the client of the fetches: a bounded time, redirects only within the host, and
// connections only where p allows.
func httpClient(p netguard.Policy) *http.Client {
	return &http.Client{Timeout: fetchTimeout, CheckRedirect: sameHost, Transport: p.Transport(fetchTimeout)}
}

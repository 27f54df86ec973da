package federation

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// dialPolicy decides which addresses the fetches of discovery documents and key sets may
// connect to. An issuer is named by whoever may manage a project's federation, so without it
// keyward would fetch, on their behalf, from its own machine or a cloud's metadata service,
// which hands out the instance's credentials (server-side request forgery). Private addresses
// stay allowed: a Kubernetes cluster's issuer (https://kubernetes.default.svc) is one. It is
// checked on the address actually dialled, after name resolution, so a name that resolves
// elsewhere later (DNS rebinding) gains nothing.
type dialPolicy struct {
	loopback bool // 127.0.0.0/8 and ::1: a local issuer, tests (AllowInsecure)
}

// check is nil when addr (an IP address) may be dialled.
func (p dialPolicy) check(ip netip.Addr) error {
	ip = ip.Unmap()
	switch {
	case ip.IsLoopback():
		if p.loopback {
			return nil
		}
		return fmt.Errorf("%s is a loopback address; keyward serve --federation-allow-insecure admits local issuers", ip)
	case ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast(), ip.IsInterfaceLocalMulticast(), ip.IsMulticast(), ip.IsUnspecified():
		// Link-local holds the cloud metadata services (169.254.169.254): never an issuer.
		return fmt.Errorf("%s is not an address an issuer can have", ip)
	}
	return nil
}

// control is a net.Dialer Control function that applies p to the address being dialled.
func (p dialPolicy) control(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("dialling %q: not an IP address", host)
	}
	return p.check(ip)
}

// httpClient is the client of the fetches: a bounded time, redirects only within the host, and
// connections only where p allows.
func (p dialPolicy) httpClient() *http.Client {
	dialer := &net.Dialer{Timeout: fetchTimeout, KeepAlive: 30 * time.Second, Control: p.control}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		return dialer.DialContext(ctx, network, addr)
	}
	return &http.Client{Timeout: fetchTimeout, CheckRedirect: sameHost, Transport: t}
}

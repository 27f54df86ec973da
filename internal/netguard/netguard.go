package netguard

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// Policy says which addresses an outgoing connection may reach. The URLs keyward fetches or
// posts to (federation issuers, webhooks) are named by whoever manages a project, so without a
// policy keyward would connect, on their behalf, to its own machine, the networks behind it or
// a cloud's metadata service, which hands out the instance's credentials (server-side request
// forgery). The policy is applied to the address actually dialled, after name resolution, so a
// name that resolves elsewhere later (DNS rebinding) gains nothing.
//
// Link-local addresses (169.254.0.0/16 with the metadata services, fe80::/10), multicast and
// the unspecified addresses are refused whatever the policy.
type Policy struct {
	Loopback bool // 127.0.0.0/8 and ::1
	Private  bool // RFC 1918, 100.64.0.0/10 (carrier-grade NAT), fc00::/7 (unique local)
	// Hint ends the refusal of a loopback or private address: what admits it, such as a flag.
	Hint string
}

// thisNetwork is 0.0.0.0/8, which Linux routes to the machine itself.
var thisNetwork = netip.MustParsePrefix("0.0.0.0/8")

// cgnat is the shared address space of RFC 6598, which netip.Addr.IsPrivate leaves out.
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// Check is nil when ip may be dialled. IPv4-mapped and IPv4-compatible IPv6 forms are judged
// as the IPv4 address they carry.
func (p Policy) Check(ip netip.Addr) error {
	ip = unwrap(ip)
	switch {
	case ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast(), ip.IsInterfaceLocalMulticast(), ip.IsMulticast(), ip.IsUnspecified(),
		thisNetwork.Contains(ip):
		return fmt.Errorf("%s is a link-local, multicast or unspecified address, which keyward never connects to", ip)
	case ip.IsLoopback():
		if p.Loopback {
			return nil
		}
		return p.refuse(ip, "a loopback address")
	case ip.IsPrivate() || cgnat.Contains(ip):
		if p.Private {
			return nil
		}
		return p.refuse(ip, "a private network address")
	}
	return nil
}

func (p Policy) refuse(ip netip.Addr, what string) error {
	if p.Hint == "" {
		return fmt.Errorf("%s is %s", ip, what)
	}
	return fmt.Errorf("%s is %s; %s", ip, what, p.Hint)
}

// unwrap returns the IPv4 address an IPv6 address carries: in its IPv4-mapped (::ffff:a.b.c.d)
// or IPv4-compatible (::a.b.c.d, deprecated but still routed by some stacks) form, behind the
// well-known NAT64 prefix (64:ff9b::/96, RFC 6052) or the IPv4-translated one (::ffff:0:0:0/96),
// or in a 6to4 address (2002:AABB:CCDD::/48,
// RFC 3056), since a gateway on the way delivers those to the IPv4 address.
func unwrap(ip netip.Addr) netip.Addr {
	ip = ip.Unmap()
	if !ip.Is6() {
		return ip
	}
	b := ip.As16()
	switch {
	case [12]byte(b[:12]) == [12]byte{} && !ip.IsUnspecified() && !ip.IsLoopback():
		return netip.AddrFrom4([4]byte(b[12:]))
	case nat64.Contains(ip), translated.Contains(ip):
		return netip.AddrFrom4([4]byte(b[12:]))
	case sixToFour.Contains(ip):
		return netip.AddrFrom4([4]byte(b[2:6]))
	}
	return ip
}

var (
	nat64      = netip.MustParsePrefix("64:ff9b::/96")
	translated = netip.MustParsePrefix("::ffff:0:0:0/96") // IPv4-translated, RFC 2765
	sixToFour  = netip.MustParsePrefix("2002::/16")
)

// Control is a net.Dialer Control function that applies p to the address being dialled.
func (p Policy) Control(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("dialling %q: not an IP address", host)
	}
	return p.Check(ip)
}

// Transport returns http.DefaultTransport's settings with connections only where p allows,
// each dial bounded by timeout, and no proxy: through a proxy the address dialled would be the
// proxy's, and the policy would judge it instead of the target's.
func (p Policy) Transport(timeout time.Duration) *http.Transport {
	d := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Control: p.Control}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	t.DialContext = d.DialContext
	return t
}

package webhook

import (
	"errors"
	"net/netip"
)

// dialable is nil when the sender may connect to ip: never to link-local addresses (the cloud
// metadata services), multicast or unspecified ones; to loopback and private networks only
// when the operator allows them.
func dialable(ip netip.Addr, allowPrivate bool) error {
	ip = ip.Unmap()
	switch {
	case ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast(), ip.IsInterfaceLocalMulticast(), ip.IsMulticast(), ip.IsUnspecified():
		return errors.New("an address no webhook may have (link-local, multicast or unspecified)")
	case allowPrivate:
		return nil
	case ip.IsLoopback():
		return errors.New("a loopback address; keyward serve --webhook-allow-private admits local receivers")
	case ip.IsPrivate(), cgnat.Contains(ip):
		return errors.New("a private network address; keyward serve --webhook-allow-private admits them")
	}
	return nil
}

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

package clientip

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// MaxNetworks bounds a network list, because every request is checked against it.
const MaxNetworks = 100

// ParseNetworks parses a list of IPv4 and IPv6 addresses (each becomes a /32 or /128) and
// CIDR prefixes, as operators write them for --trusted-proxies and users for an API key's ips.
// Surrounding spaces are trimmed; IPv4-mapped IPv6 becomes IPv4, so that it compares as IPv4;
// repeated networks are kept once, in first-seen order. Empty entries, zones, prefixes with
// host bits set (ambiguous: a typo or a misunderstanding) and more than MaxNetworks entries are
// rejected with an error whose message names the entry and is safe to show the user who wrote
// it. An empty list gives nil.
func ParseNetworks(list []string) ([]netip.Prefix, error) {
	if len(list) > MaxNetworks {
		return nil, networkErrorf("At most %d networks are allowed; got %d.", MaxNetworks, len(list))
	}
	var out []netip.Prefix
	seen := make(map[netip.Prefix]bool, len(list))
	for _, entry := range list {
		p, err := parseNetwork(strings.TrimSpace(entry))
		if err != nil {
			return nil, err
		}
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out, nil
}

func parseNetwork(s string) (netip.Prefix, error) {
	if s == "" {
		return netip.Prefix{}, networkErrorf("The network list has an empty entry.")
	}
	if strings.ContainsRune(s, '%') {
		return netip.Prefix{}, networkErrorf("%s: zoned addresses (with %%) are not allowed.", quote(s))
	}
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, networkErrorf("%s is not an IP address or a CIDR network.", quote(s))
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, networkErrorf("%s is not an IP address or a CIDR network.", quote(s))
	}
	if m := p.Masked(); m != p {
		return netip.Prefix{}, networkErrorf("%s has host bits set; did you mean %s?", p, m)
	}
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p, nil
}

// NetworkError is why a network list was refused: a sentence that names the entry, safe to show
// the person who wrote it.
type NetworkError struct{ message string }

func (e *NetworkError) Error() string { return e.message }

func networkErrorf(format string, args ...any) error {
	return &NetworkError{message: fmt.Sprintf(format, args...)}
}

// quote makes an entry safe and short enough to repeat in a message shown to a user.
func quote(s string) string {
	const max = 50 // characters of the quoted form, escapes included
	q := strconv.QuoteToASCII(s)
	if len(q) <= max {
		return q
	}
	s = s[:min(len(s), max)]
	for q = strconv.QuoteToASCII(s); len(q) > max; q = strconv.QuoteToASCII(s) {
		s = s[:len(s)-1]
	}
	return q + "…"
}

// FormatNetworks writes networks as ParseNetworks reads them, single addresses without their
// /32 or /128.
func FormatNetworks(networks []netip.Prefix) []string {
	out := make([]string, len(networks))
	for i, p := range networks {
		if p.IsSingleIP() {
			out[i] = p.Addr().String()
		} else {
			out[i] = p.String()
		}
	}
	return out
}

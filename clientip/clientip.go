package clientip

import (
	"net/http"
	"net/netip"
	"strings"
)

// Resolver finds a request's client address. The zero Resolver trusts no proxy and returns the
// TCP peer.
//
// When the peer is inside Trusted, the forwarding headers are walked from right to left (each
// proxy appends the address it received the request from), skipping trusted addresses; the first
// address not in Trusted is the client, because everything to its left was written by the client
// itself or by proxies nobody vouches for. If every hop is trusted, the left-most counts. A hop
// that cannot be parsed (garbage, an "unknown" or obfuscated RFC 7239 node, a Forwarded element
// without for=) stops the walk, and the last address believed is returned: never the garbage,
// never anything to its left. Empty list elements are skipped, as RFC 9110 §5.6.1 asks. After
// 32 trusted hops the walk stops at the next one.
//
// Which header: a client can add either header, and typical proxies (nginx, HAProxy, Envoy,
// cloud load balancers) append to one and pass the other through untouched. Preferring either
// header whenever both are present would therefore let clients behind one kind of proxy choose
// their own address. So a request with only X-Forwarded-For or only Forwarded uses that header;
// a request with both believes them only when both walks reach the same address, and otherwise
// gets the zero Addr, which matches no allow-list. Proxies that write both headers agree by
// construction.
type Resolver struct {
	Trusted []netip.Prefix
}

// ClientIP returns the client address of req, unmapped (IPv4-mapped IPv6 becomes IPv4) and
// without zone. It returns the zero Addr when it cannot tell: the peer address is not an IP
// (a Unix socket), or the forwarding headers contradict each other.
func (r Resolver) ClientIP(req *http.Request) netip.Addr {
	peer, ok := parsePeer(req.RemoteAddr)
	if !ok || !r.trusted(peer) {
		return peer
	}
	xff := req.Header.Values("X-Forwarded-For")
	fwd := req.Header.Values("Forwarded")
	switch {
	case len(fwd) == 0:
		return r.walk(peer, xff, cutList, parseXFFHop)
	case len(xff) == 0:
		return r.walk(peer, fwd, cutForwarded, parseForwardedHop)
	}
	a := r.walk(peer, xff, cutList, parseXFFHop)
	if b := r.walk(peer, fwd, cutForwarded, parseForwardedHop); a != b {
		return netip.Addr{}
	}
	return a
}

// maxHops bounds the work one request can cause. Chains of up to maxHops trusted proxies are
// walked in full; only a client whose own address is trusted can put more trusted hops in a
// row, so stopping early changes nothing for anyone else.
const maxHops = 32

func (r Resolver) trusted(a netip.Addr) bool {
	for _, p := range r.Trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// walk goes through the hops of the header lines from the last line's last element to the first
// line's first. Each line is split on its own, so that a broken quote in a client's line cannot
// swallow the lines proxies appended.
func (r Resolver) walk(believed netip.Addr, lines []string,
	cut func(string) (before, elem string, more, ok bool),
	parse func(string) (netip.Addr, bool),
) netip.Addr {
	hops := 0
	for i := len(lines) - 1; i >= 0; i-- {
		for s, more := lines[i], true; more; {
			var elem string
			var ok bool
			s, elem, more, ok = cut(s)
			if !ok {
				return believed
			}
			if isOWS(elem) {
				continue
			}
			addr, ok := parse(elem)
			if !ok {
				return believed
			}
			if !r.trusted(addr) {
				return addr
			}
			believed = addr
			if hops++; hops > maxHops {
				return believed
			}
		}
	}
	return believed
}

func parsePeer(remoteAddr string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(remoteAddr); err == nil {
		return clean(ap.Addr()), true
	}
	if a, err := netip.ParseAddr(remoteAddr); err == nil {
		return clean(a), true
	}
	return netip.Addr{}, false
}

func clean(a netip.Addr) netip.Addr {
	return a.WithZone("").Unmap()
}

// cutList splits s at its last comma.
func cutList(s string) (before, elem string, more, ok bool) {
	i := strings.LastIndexByte(s, ',')
	if i < 0 {
		return "", s, false, true
	}
	return s[:i], s[i+1:], true, true
}

// parseXFFHop accepts an address, optionally with a port, IPv6 optionally in brackets: what
// proxies are seen to write into X-Forwarded-For.
func parseXFFHop(s string) (netip.Addr, bool) {
	s = trimOWS(s)
	if a, err := netip.ParseAddr(s); err == nil {
		return clean(a), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return clean(ap.Addr()), true
	}
	if inner, ok := strings.CutPrefix(s, "["); ok {
		if inner, ok := strings.CutSuffix(inner, "]"); ok {
			if a, err := netip.ParseAddr(inner); err == nil && a.Is6() {
				return clean(a), true
			}
		}
	}
	return netip.Addr{}, false
}

// cutForwarded splits s at its last comma outside a quoted string, scanning from the right so
// that what proxies appended is read before anything a client wrote. ok is false when a quoted
// string is still open at the start of s.
func cutForwarded(s string) (before, elem string, more, ok bool) {
	inQuote := false
	for i := len(s) - 1; i >= 0; i-- {
		switch s[i] {
		case '"':
			if !inQuote {
				inQuote = true
				break
			}
			// Inside a quoted string, a quote preceded by an odd run of backslashes is escaped.
			n := 0
			for j := i - 1; j >= 0 && s[j] == '\\'; j-- {
				n++
			}
			if n%2 == 0 {
				inQuote = false
			}
		case ',':
			if !inQuote {
				return s[:i], s[i+1:], true, true
			}
		}
	}
	return "", s, false, !inQuote
}

// parseForwardedHop parses one RFC 7239 forwarded-element and returns the address of its for=
// parameter.
func parseForwardedHop(elem string) (netip.Addr, bool) {
	var node string
	found := false
	for s := elem; ; {
		s = trimOWSLeft(s)
		if s == "" {
			break
		}
		if s[0] == ';' {
			s = s[1:]
			continue
		}
		var name, value string
		name, s = cutToken(s)
		if name == "" || s == "" || s[0] != '=' {
			return netip.Addr{}, false
		}
		s = s[1:]
		if s != "" && s[0] == '"' {
			var ok bool
			if value, s, ok = cutQuoted(s); !ok {
				return netip.Addr{}, false
			}
		} else if value, s = cutToken(s); value == "" {
			return netip.Addr{}, false
		}
		if strings.EqualFold(name, "for") {
			if found { // RFC 7239 §4: a parameter occurs at most once per element
				return netip.Addr{}, false
			}
			node, found = value, true
		}
		if s = trimOWSLeft(s); s != "" && s[0] != ';' {
			return netip.Addr{}, false
		}
	}
	if !found {
		return netip.Addr{}, false
	}
	return parseNode(node)
}

// parseNode parses an RFC 7239 node: IPv4 or a bracketed IPv6 address, each with an optional
// port. "unknown" and obfuscated identifiers ("_hidden") name no address.
func parseNode(node string) (netip.Addr, bool) {
	var a netip.Addr
	var err error
	port := ""
	if rest, ok := strings.CutPrefix(node, "["); ok {
		host, after, ok := strings.Cut(rest, "]")
		if !ok {
			return netip.Addr{}, false
		}
		if a, err = netip.ParseAddr(host); err != nil || !a.Is6() {
			return netip.Addr{}, false
		}
		port = after
	} else {
		host, after, hasPort := strings.Cut(node, ":")
		if a, err = netip.ParseAddr(host); err != nil || !a.Is4() {
			return netip.Addr{}, false
		}
		if hasPort {
			port = ":" + after
		}
	}
	if port != "" {
		if p, ok := strings.CutPrefix(port, ":"); !ok || !validPort(p) {
			return netip.Addr{}, false
		}
	}
	return clean(a), true
}

// validPort accepts RFC 7239 node-port: 1 to 5 digits, or "_" and an obfuscated identifier.
func validPort(p string) bool {
	if obf, ok := strings.CutPrefix(p, "_"); ok {
		if obf == "" {
			return false
		}
		for i := 0; i < len(obf); i++ {
			if c := obf[i]; !isAlnum(c) && c != '.' && c != '_' && c != '-' {
				return false
			}
		}
		return true
	}
	if p == "" || len(p) > 5 {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
	}
	return true
}

// cutToken returns the RFC 9110 token at the start of s and the rest.
func cutToken(s string) (token, rest string) {
	i := 0
	for i < len(s) && isTokenChar(s[i]) {
		i++
	}
	return s[:i], s[i:]
}

// cutQuoted unquotes the RFC 9110 quoted-string at the start of s.
func cutQuoted(s string) (value, rest string, ok bool) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			return b.String(), s[i+1:], true
		case c == '\\':
			i++
			if i == len(s) || !isQuotedPairChar(s[i]) {
				return "", "", false
			}
			b.WriteByte(s[i])
		case c == '\t' || c == ' ' || c == 0x21 || 0x23 <= c && c <= 0x7e && c != '\\' || c >= 0x80:
			b.WriteByte(c)
		default:
			return "", "", false
		}
	}
	return "", "", false
}

func isQuotedPairChar(c byte) bool { return c == '\t' || 0x20 <= c && c != 0x7f }

func isTokenChar(c byte) bool {
	return isAlnum(c) || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func isAlnum(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

func trimOWS(s string) string     { return strings.Trim(s, " \t") }
func trimOWSLeft(s string) string { return strings.TrimLeft(s, " \t") }
func isOWS(s string) bool         { return trimOWS(s) == "" }

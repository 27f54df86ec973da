package clientip

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

func mustNetworks(t testing.TB, list ...string) []netip.Prefix {
	t.Helper()
	p := make([]netip.Prefix, len(list))
	var err error
	for i, s := range list {
		if !strings.Contains(s, "/") {
			s += "/128"
			if strings.Contains(s, ".") {
				s = strings.Replace(s, "/128", "/32", 1)
			}
		}
		if p[i], err = netip.ParsePrefix(s); err != nil {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func request(remote string, headers ...string) *http.Request {
	r := &http.Request{RemoteAddr: remote, Header: http.Header{}}
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Add(headers[i], headers[i+1])
	}
	return r
}

const (
	xff = "X-Forwarded-For"
	fwd = "Forwarded"
)

func TestClientIP(t *testing.T) {
	trusted := mustNetworks(t, "10.0.0.0/8", "192.168.1.1", "fd00::/8")
	tests := []struct {
		name    string
		remote  string
		headers []string
		want    string // "" means the zero Addr
	}{
		// The peer itself.
		{"no proxy", "203.0.113.7:5555", nil, "203.0.113.7"},
		{"untrusted peer ignores headers", "203.0.113.7:5555", []string{xff, "198.51.100.1"}, "203.0.113.7"},
		{"untrusted peer ignores Forwarded", "203.0.113.7:5555", []string{fwd, "for=198.51.100.1"}, "203.0.113.7"},
		{"IPv6 peer", "[2001:db8::1]:443", nil, "2001:db8::1"},
		{"IPv4-mapped peer", "[::ffff:203.0.113.7]:443", nil, "203.0.113.7"},
		{"zoned peer", "[fe80::1%eth0]:443", nil, "fe80::1"},
		{"peer without port", "203.0.113.7", nil, "203.0.113.7"},
		{"unix socket peer", "@", nil, ""},
		{"empty peer", "", []string{xff, "198.51.100.1"}, ""},
		{"trusted peer, no headers", "10.0.0.2:1", nil, "10.0.0.2"},

		// X-Forwarded-For.
		{"one hop", "10.0.0.2:1", []string{xff, "198.51.100.1"}, "198.51.100.1"},
		{"right-most untrusted wins", "10.0.0.2:1", []string{xff, "6.6.6.6, 198.51.100.1"}, "198.51.100.1"},
		{"trusted hops skipped", "10.0.0.2:1", []string{xff, "6.6.6.6, 198.51.100.1, 10.9.9.9, 192.168.1.1"}, "198.51.100.1"},
		{"all trusted: left-most", "10.0.0.2:1", []string{xff, "10.1.1.1, 10.2.2.2"}, "10.1.1.1"},
		{"several lines are one list", "10.0.0.2:1", []string{xff, "6.6.6.6, 198.51.100.1", xff, "10.3.3.3"}, "198.51.100.1"},
		{"later lines are nearer", "10.0.0.2:1", []string{xff, "198.51.100.1", xff, "198.51.100.2"}, "198.51.100.2"},
		{"no spaces", "10.0.0.2:1", []string{xff, "6.6.6.6,198.51.100.1"}, "198.51.100.1"},
		{"tabs", "10.0.0.2:1", []string{xff, "6.6.6.6,\t198.51.100.1\t"}, "198.51.100.1"},
		{"IPv6 hop", "10.0.0.2:1", []string{xff, "2001:db8::9"}, "2001:db8::9"},
		{"IPv6 hop in brackets", "10.0.0.2:1", []string{xff, "[2001:db8::9]"}, "2001:db8::9"},
		{"IPv6 hop with port", "10.0.0.2:1", []string{xff, "[2001:db8::9]:4711"}, "2001:db8::9"},
		{"IPv4 hop with port", "10.0.0.2:1", []string{xff, "198.51.100.1:4711"}, "198.51.100.1"},
		{"IPv4-mapped hop", "10.0.0.2:1", []string{xff, "::ffff:198.51.100.1"}, "198.51.100.1"},
		{"IPv4-mapped trusted hop is skipped", "10.0.0.2:1", []string{xff, "198.51.100.1, ::ffff:10.5.5.5"}, "198.51.100.1"},
		{"zoned hop", "10.0.0.2:1", []string{xff, "fe80::1%eth0"}, "fe80::1"},
		{"trusted IPv6 peer", "[fd00::1]:1", []string{xff, "198.51.100.1"}, "198.51.100.1"},
		{"mapped trusted peer", "[::ffff:10.0.0.2]:1", []string{xff, "198.51.100.1"}, "198.51.100.1"},
		{"empty elements skipped", "10.0.0.2:1", []string{xff, "198.51.100.1, , 10.3.3.3,"}, "198.51.100.1"},
		{"empty line", "10.0.0.2:1", []string{xff, ""}, "10.0.0.2"},
		{"32 trusted hops", "10.0.0.2:1", []string{xff, "198.51.100.1, " + strings.Repeat("10.3.3.3, ", 31) + "10.4.4.4"}, "198.51.100.1"},
		{"more than 32 trusted hops", "10.0.0.2:1", []string{xff, "198.51.100.1, 10.5.5.5, " + strings.Repeat("10.3.3.3, ", 31) + "10.4.4.4"}, "10.5.5.5"},

		// Garbage stops the walk at the last address believed.
		{"garbage right-most", "10.0.0.2:1", []string{xff, "198.51.100.1, garbage"}, "10.0.0.2"},
		{"garbage behind a trusted hop", "10.0.0.2:1", []string{xff, "198.51.100.1, garbage, 10.3.3.3"}, "10.3.3.3"},
		{"garbage left of the client", "10.0.0.2:1", []string{xff, "garbage, 198.51.100.1"}, "198.51.100.1"},
		{"unknown", "10.0.0.2:1", []string{xff, "198.51.100.1, unknown"}, "10.0.0.2"},
		{"hostname", "10.0.0.2:1", []string{xff, "198.51.100.1, proxy.example"}, "10.0.0.2"},
		{"leading zeros", "10.0.0.2:1", []string{xff, "198.51.100.1, 010.0.0.1"}, "10.0.0.2"},
		{"prefix is not an address", "10.0.0.2:1", []string{xff, "198.51.100.0/24"}, "10.0.0.2"},
		{"garbage in a later line", "10.0.0.2:1", []string{xff, "198.51.100.1", xff, "nonsense"}, "10.0.0.2"},

		// Forwarded (RFC 7239).
		{"fwd one hop", "10.0.0.2:1", []string{fwd, "for=198.51.100.1"}, "198.51.100.1"},
		{"fwd quoted", "10.0.0.2:1", []string{fwd, `for="198.51.100.1"`}, "198.51.100.1"},
		{"fwd with port", "10.0.0.2:1", []string{fwd, `for="198.51.100.1:4711"`}, "198.51.100.1"},
		{"fwd obfuscated port", "10.0.0.2:1", []string{fwd, `for="198.51.100.1:_p0rt"`}, "198.51.100.1"},
		{"fwd IPv6", "10.0.0.2:1", []string{fwd, `for="[2001:db8:cafe::17]"`}, "2001:db8:cafe::17"},
		{"fwd IPv6 with port", "10.0.0.2:1", []string{fwd, `for="[2001:db8:cafe::17]:4711"`}, "2001:db8:cafe::17"},
		{"fwd parameter name case", "10.0.0.2:1", []string{fwd, "For=198.51.100.1"}, "198.51.100.1"},
		{"fwd other parameters", "10.0.0.2:1", []string{fwd, "proto=https;for=198.51.100.1;by=10.0.0.2;host=x.test"}, "198.51.100.1"},
		{"fwd quoted comma in another parameter", "10.0.0.2:1", []string{fwd, `for=198.51.100.1;host="a,b", for=10.3.3.3`}, "198.51.100.1"},
		{"fwd escaped quote", "10.0.0.2:1", []string{fwd, `for=198.51.100.1;x="a\"b", for=10.3.3.3`}, "198.51.100.1"},
		{"fwd escaped backslash before closing quote", "10.0.0.2:1", []string{fwd, `for=198.51.100.1;x="a\\", for=10.3.3.3`}, "198.51.100.1"},
		{"fwd right-most untrusted", "10.0.0.2:1", []string{fwd, "for=6.6.6.6, for=198.51.100.1, for=10.3.3.3"}, "198.51.100.1"},
		{"fwd several lines", "10.0.0.2:1", []string{fwd, "for=6.6.6.6", fwd, "for=198.51.100.1"}, "198.51.100.1"},
		{"fwd all trusted", "10.0.0.2:1", []string{fwd, "for=10.1.1.1, for=10.2.2.2"}, "10.1.1.1"},
		{"fwd empty pairs", "10.0.0.2:1", []string{fwd, ";for=198.51.100.1;;proto=http;"}, "198.51.100.1"},
		{"fwd unknown", "10.0.0.2:1", []string{fwd, "for=198.51.100.1, for=unknown"}, "10.0.0.2"},
		{"fwd obfuscated", "10.0.0.2:1", []string{fwd, "for=198.51.100.1, for=_hidden, for=10.3.3.3"}, "10.3.3.3"},
		{"fwd no for", "10.0.0.2:1", []string{fwd, "for=198.51.100.1, proto=https"}, "10.0.0.2"},
		{"fwd for twice", "10.0.0.2:1", []string{fwd, "for=198.51.100.1;for=6.6.6.6"}, "10.0.0.2"},
		{"fwd unquoted IPv6", "10.0.0.2:1", []string{fwd, "for=2001:db8::1"}, "10.0.0.2"},
		{"fwd unquoted port", "10.0.0.2:1", []string{fwd, "for=198.51.100.1:80"}, "10.0.0.2"},
		{"fwd IPv4 in brackets", "10.0.0.2:1", []string{fwd, `for="[198.51.100.1]"`}, "10.0.0.2"},
		{"fwd IPv6 without brackets", "10.0.0.2:1", []string{fwd, `for="2001:db8::1"`}, "10.0.0.2"},
		{"fwd bad port", "10.0.0.2:1", []string{fwd, `for="198.51.100.1:123456"`}, "10.0.0.2"},
		{"fwd missing value", "10.0.0.2:1", []string{fwd, "for="}, "10.0.0.2"},
		{"fwd space instead of semicolon", "10.0.0.2:1", []string{fwd, "for=198.51.100.1 proto=http"}, "10.0.0.2"},
		{"fwd control character in quotes", "10.0.0.2:1", []string{fwd, "for=\"198.51.100.1\x01\""}, "10.0.0.2"},
		{"fwd open quote left of proxy's hop", "10.0.0.2:1", []string{fwd, `for="6.6.6.6, for=198.51.100.1`}, "198.51.100.1"},
		{"fwd open quote right-most", "10.0.0.2:1", []string{fwd, `for=198.51.100.1, for="10.3.3.3`}, "10.0.0.2"},
		{"fwd stray quote in client's line", "10.0.0.2:1", []string{fwd, `for="6.6.6.6`, fwd, "for=198.51.100.1"}, "198.51.100.1"},

		// Both headers: believed only when they agree.
		{"both agree", "10.0.0.2:1", []string{xff, "198.51.100.1", fwd, `for="198.51.100.1:80"`}, "198.51.100.1"},
		{"both agree after different client parts", "10.0.0.2:1", []string{xff, "1.1.1.1, 198.51.100.1", fwd, "for=2.2.2.2, for=198.51.100.1"}, "198.51.100.1"},
		{"forged Forwarded behind an X-Forwarded-For proxy", "10.0.0.2:1", []string{fwd, "for=10.7.7.7", xff, "198.51.100.1"}, ""},
		{"forged X-Forwarded-For behind a Forwarded proxy", "10.0.0.2:1", []string{xff, "10.7.7.7", fwd, "for=198.51.100.1"}, ""},
		{"both, untrusted peer", "203.0.113.7:1", []string{xff, "1.1.1.1", fwd, "for=2.2.2.2"}, "203.0.113.7"},
	}
	r := Resolver{Trusted: trusted}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := r.ClientIP(request(tt.remote, tt.headers...))
			var want netip.Addr
			if tt.want != "" {
				want = netip.MustParseAddr(tt.want)
			}
			if got != want {
				t.Fatalf("ClientIP = %v, want %v", got, want)
			}
		})
	}
}

func TestZeroResolverTrustsNobody(t *testing.T) {
	got := Resolver{}.ClientIP(request("127.0.0.1:80", xff, "198.51.100.1", fwd, "for=198.51.100.1"))
	if got != netip.MustParseAddr("127.0.0.1") {
		t.Fatalf("ClientIP = %v; the zero Resolver must return the peer", got)
	}
}

// FuzzClientIP checks that no header content panics the resolver or yields a zoned or mapped
// address, that headers never matter when the peer is untrusted, and that whatever a client
// writes cannot hide the address a trusted proxy appends after it.
func FuzzClientIP(f *testing.F) {
	f.Add("6.6.6.6, 198.51.100.1", "", true)
	f.Add("", `for="[2001:db8::1]:80";proto=https, for=unknown`, true)
	f.Add("garbage", `for="unterminated`, false)
	f.Add("", `for="a\"b\\", for=_x`, true)
	trusted := Resolver{Trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}}
	client := netip.MustParseAddr("203.0.113.9")
	f.Fuzz(func(t *testing.T, xffValue, fwdValue string, peerTrusted bool) {
		peer := "198.51.100.7:1"
		if peerTrusted {
			peer = "10.0.0.2:1"
		}
		var headers []string
		if xffValue != "" {
			headers = append(headers, xff, xffValue)
		}
		if fwdValue != "" {
			headers = append(headers, fwd, fwdValue)
		}
		got := trusted.ClientIP(request(peer, headers...))
		if !got.IsValid() && (xffValue == "" || fwdValue == "") {
			t.Fatalf("ClientIP = zero Addr with at most one forwarding header")
		}
		if got.IsValid() && (got.Zone() != "" || got.Is4In6()) {
			t.Fatalf("ClientIP = %v, zoned or IPv4-mapped", got)
		}
		if !peerTrusted && got != netip.MustParseAddr("198.51.100.7") {
			t.Fatalf("untrusted peer, ClientIP = %v", got)
		}
		if !peerTrusted {
			return
		}
		// A proxy appends the client's address, on the same line or on a new one.
		for _, h := range [][]string{
			{xff, xffValue + ", " + client.String()},
			{xff, xffValue, xff, client.String()},
		} {
			if got := trusted.ClientIP(request(peer, h...)); got != client {
				t.Fatalf("after %q, ClientIP = %v, want the appended %v", h, got, client)
			}
		}
		for _, h := range [][]string{
			{fwd, fwdValue + ", for=" + client.String()},
			{fwd, fwdValue, fwd, `for="` + client.String() + `:443"`},
		} {
			if got := trusted.ClientIP(request(peer, h...)); got != client {
				t.Fatalf("after %q, ClientIP = %v, want the appended %v", h, got, client)
			}
		}
	})
}

func BenchmarkClientIP(b *testing.B) {
	r := Resolver{Trusted: mustNetworks(b, "10.0.0.0/8", "fd00::/8")}
	req := request("10.0.0.2:1", xff, strings.Repeat("6.6.6.6, ", 5)+"198.51.100.1, 10.1.1.1",
		fwd, `for="6.6.6.6", for=198.51.100.1;proto=https, for="[fd00::1]:80"`)
	delete(req.Header, fwd)
	for b.Loop() {
		r.ClientIP(req)
	}
}

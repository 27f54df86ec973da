package middleware

import (
	"net/http"
	"net/netip"
	"testing"

	"github.com/keyward/keyward/clientip"
)

// TestClientIPRules covers the rules shared with keyward's server (SPEC §5), so that a key's
// networks are judged alike at the token endpoint and at the API.
func TestClientIPRules(t *testing.T) {
	r := clientip.Resolver{Trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}}
	tests := []struct {
		name, remote string
		headers      []string
		want         string // "" is the zero Addr, which no network contains
	}{
		{"peer", "203.0.113.7:1", nil, "203.0.113.7"},
		{"untrusted peer's headers are ignored", "203.0.113.7:1", []string{"X-Forwarded-For", "198.51.100.1", "Forwarded", "for=198.51.100.1"}, "203.0.113.7"},
		{"mapped peer", "[::ffff:203.0.113.7]:1", nil, "203.0.113.7"},
		{"right-most untrusted hop", "10.0.0.2:1", []string{"X-Forwarded-For", "6.6.6.6, 198.51.100.1, 10.9.9.9"}, "198.51.100.1"},
		{"all hops trusted", "10.0.0.2:1", []string{"X-Forwarded-For", "10.1.1.1, 10.2.2.2"}, "10.1.1.1"},
		{"garbage stops the walk", "10.0.0.2:1", []string{"X-Forwarded-For", "198.51.100.1, garbage"}, "10.0.0.2"},
		{"Forwarded", "10.0.0.2:1", []string{"Forwarded", `for=6.6.6.6, for="[2001:db8::1]:443"`}, "2001:db8::1"},
		{"both headers agree", "[fd00::1]:1", []string{"X-Forwarded-For", "198.51.100.1", "Forwarded", "for=198.51.100.1"}, "198.51.100.1"},
		{"both headers disagree", "10.0.0.2:1", []string{"X-Forwarded-For", "198.51.100.1", "Forwarded", "for=10.7.7.7"}, ""},
		{"not an IP peer", "@", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := &http.Request{RemoteAddr: tt.remote, Header: http.Header{}}
			for i := 0; i+1 < len(tt.headers); i += 2 {
				req.Header.Add(tt.headers[i], tt.headers[i+1])
			}
			var want netip.Addr
			if tt.want != "" {
				want = netip.MustParseAddr(tt.want)
			}
			if got := r.ClientIP(req); got != want {
				t.Fatalf("ClientIP = %v; want %v", got, want)
			}
		})
	}
}

package netguard

import (
	"net/netip"
	"strings"
	"testing"
)

// TestPolicy: public addresses are always allowed; loopback and private ones only when the
// policy admits them, in whatever form they are written; link-local (the cloud metadata
// services), multicast and unspecified ones never.
func TestPolicy(t *testing.T) {
	cases := []struct {
		addr string
		// allowed by Policy{}, {Loopback}, {Private}, {Loopback, Private}
		none, loopback, private, both bool
	}{
		{"203.0.113.7", true, true, true, true},
		{"2001:db8::1", true, true, true, true},
		{"8.8.8.8", true, true, true, true},
		{"127.0.0.1", false, true, false, true},
		{"127.8.9.10", false, true, false, true},
		{"::1", false, true, false, true},
		{"::ffff:127.0.0.1", false, true, false, true},
		{"10.96.0.1", false, false, true, true},
		{"172.16.0.1", false, false, true, true},
		{"192.168.1.1", false, false, true, true},
		{"100.64.0.1", false, false, true, true},
		{"100.127.255.254", false, false, true, true},
		{"100.128.0.1", true, true, true, true}, // just past carrier-grade NAT
		{"fd00::1", false, false, true, true},
		{"fc00::1", false, false, true, true},
		{"::ffff:10.0.0.1", false, false, true, true},
		{"::ffff:192.168.0.1", false, false, true, true},
		{"::10.0.0.1", false, false, true, true}, // IPv4-compatible
		{"169.254.169.254", false, false, false, false},
		{"::ffff:169.254.169.254", false, false, false, false},
		{"fe80::1", false, false, false, false},
		{"0.0.0.0", false, false, false, false},
		{"0.1.2.3", false, false, false, false},
		{"::", false, false, false, false},
		{"::ffff:0.0.0.0", false, false, false, false},
		{"224.0.0.1", false, false, false, false},
		{"ff02::1", false, false, false, false},
		// Through a NAT64 or 6to4 gateway, to the IPv4 address they carry.
		{"64:ff9b::a9fe:a9fe", false, false, false, false}, // 169.254.169.254
		{"64:ff9b::7f00:1", false, true, false, true},      // 127.0.0.1
		{"64:ff9b::a00:1", false, false, true, true},       // 10.0.0.1
		{"64:ff9b::808:808", true, true, true, true},       // 8.8.8.8
		{"::ffff:0:a9fe:a9fe", false, false, false, false},
		{"2002:a9fe:a9fe::1", false, false, false, false},
		{"2002:c0a8:101::1", false, false, true, true}, // 192.168.1.1
		{"2002:cb00:7107::1", true, true, true, true},  // 203.0.113.7
	}
	for _, c := range cases {
		ip := netip.MustParseAddr(c.addr)
		for _, p := range []struct {
			policy Policy
			want   bool
		}{
			{Policy{}, c.none},
			{Policy{Loopback: true}, c.loopback},
			{Policy{Private: true}, c.private},
			{Policy{Loopback: true, Private: true}, c.both},
		} {
			if err := p.policy.Check(ip); (err == nil) != p.want {
				t.Errorf("%s with %+v: %v, want allowed %v", c.addr, p.policy, err, p.want)
			}
		}
	}
}

// TestRefusalSaysWhatAdmits: a refusal names the address, what it is and, for what the operator
// may allow, how.
func TestRefusalSaysWhatAdmits(t *testing.T) {
	p := Policy{Hint: "--allow-it admits it"}
	err := p.Check(netip.MustParseAddr("10.1.2.3"))
	if err == nil || !strings.Contains(err.Error(), "10.1.2.3 is a private network address; --allow-it admits it") {
		t.Errorf("private: %v", err)
	}
	err = p.Check(netip.MustParseAddr("169.254.169.254"))
	if err == nil || strings.Contains(err.Error(), "--allow-it") {
		t.Errorf("link-local: %v (nothing admits it)", err)
	}
}

// TestControl: the dial hook judges the address dialled and refuses anything but an address.
func TestControl(t *testing.T) {
	if err := (Policy{}).Control("tcp4", "127.0.0.1:443", nil); err == nil {
		t.Error("loopback dialled")
	}
	if err := (Policy{}).Control("tcp6", "[::ffff:127.0.0.1]:443", nil); err == nil {
		t.Error("mapped loopback dialled")
	}
	if err := (Policy{}).Control("tcp4", "203.0.113.7:443", nil); err != nil {
		t.Errorf("public address: %v", err)
	}
	if err := (Policy{}).Control("tcp", "example.com:443", nil); err == nil {
		t.Error("a name passed as an address")
	}
}

package clientip_test

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/clientip"
)

func TestParseNetworks(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want []string // FormatNetworks of the result
		msg  string   // part of the error message; "" means valid
	}{
		{"nil", nil, []string{}, ""},
		{"IPv4 address", []string{"192.0.2.1"}, []string{"192.0.2.1"}, ""},
		{"IPv4 CIDR", []string{"10.0.0.0/8"}, []string{"10.0.0.0/8"}, ""},
		{"IPv4 /32", []string{"192.0.2.1/32"}, []string{"192.0.2.1"}, ""},
		{"IPv6 address", []string{"2001:db8::1"}, []string{"2001:db8::1"}, ""},
		{"IPv6 CIDR", []string{"2001:db8::/32"}, []string{"2001:db8::/32"}, ""},
		{"IPv6 /128", []string{"2001:db8::1/128"}, []string{"2001:db8::1"}, ""},
		{"IPv6 canonical form", []string{"2001:DB8:0:0::1"}, []string{"2001:db8::1"}, ""},
		{"everything", []string{"0.0.0.0/0", "::/0"}, []string{"0.0.0.0/0", "::/0"}, ""},
		{"spaces trimmed", []string{"  10.0.0.0/8\t", " 192.0.2.1 "}, []string{"10.0.0.0/8", "192.0.2.1"}, ""},
		{"mapped address", []string{"::ffff:192.0.2.1"}, []string{"192.0.2.1"}, ""},
		{"mapped CIDR", []string{"::ffff:10.0.0.0/104"}, []string{"10.0.0.0/8"}, ""},
		{"duplicates", []string{"10.0.0.0/8", "192.0.2.1", "10.0.0.0/8", "192.0.2.1/32", "::ffff:192.0.2.1"}, []string{"10.0.0.0/8", "192.0.2.1"}, ""},
		{"overlap kept", []string{"10.0.0.0/8", "10.1.0.0/16"}, []string{"10.0.0.0/8", "10.1.0.0/16"}, ""},
		{"exactly the maximum", slices.Repeat([]string{"192.0.2.1"}, 100), []string{"192.0.2.1"}, ""},

		{"empty entry", []string{"10.0.0.0/8", ""}, nil, "empty entry"},
		{"blank entry", []string{"   "}, nil, "empty entry"},
		{"host bits", []string{"10.0.0.1/8"}, nil, "10.0.0.1/8 has host bits set; did you mean 10.0.0.0/8?"},
		{"IPv6 host bits", []string{"2001:db8::1/32"}, nil, "did you mean 2001:db8::/32?"},
		{"zone", []string{"fe80::1%eth0"}, nil, "zoned"},
		{"zone in CIDR", []string{"fe80::%eth0/64"}, nil, "zoned"},
		{"hostname", []string{"proxy.example"}, nil, `"proxy.example" is not an IP address`},
		{"leading zeros", []string{"010.0.0.1"}, nil, "not an IP address"},
		{"prefix too long", []string{"10.0.0.0/33"}, nil, "not an IP address"},
		{"prefix length missing", []string{"10.0.0.0/"}, nil, "not an IP address"},
		{"comma list in one entry", []string{"10.0.0.0/8,192.0.2.1"}, nil, "not an IP address"},
		{"port", []string{"192.0.2.1:80"}, nil, "not an IP address"},
		{"range", []string{"192.0.2.1-192.0.2.9"}, nil, "not an IP address"},
		{"too many", slices.Repeat([]string{"192.0.2.1"}, 101), nil, "At most 100"},
		{"escaped", []string{"10.0.0.0\x1b[31m"}, nil, `"10.0.0.0\x1b[31m"`},
		{"shortened", []string{strings.Repeat("x", 500)}, nil, `"` + strings.Repeat("x", 48) + `"…`},
		{"shortened after escaping", []string{strings.Repeat("\xc9", 500)}, nil, `"` + strings.Repeat(`\xc9`, 12) + `"…`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := clientip.ParseNetworks(tt.in)
			if tt.msg == "" {
				if err != nil {
					t.Fatalf("clientip.ParseNetworks = %v", err)
				}
				if f := clientip.FormatNetworks(got); !slices.Equal(f, tt.want) {
					t.Fatalf("clientip.ParseNetworks = %q, want %q", f, tt.want)
				}
				for _, p := range got {
					if p.Addr().Is4In6() || p.Addr().Zone() != "" || p != p.Masked() {
						t.Errorf("%v is mapped, zoned or not masked", p)
					}
				}
				return
			}
			if got != nil || err == nil {
				t.Fatalf("clientip.ParseNetworks = %v, %v; want nil and an error", got, err)
			}
			if msg := err.Error(); !strings.Contains(msg, tt.msg) {
				t.Fatalf("message %q does not contain %q", msg, tt.msg)
			}
			if len(err.Error()) > 160 {
				t.Errorf("message of %d bytes; keep it short", len(err.Error()))
			}
		})
	}
}

func TestParsedNetworksMatchMappedClients(t *testing.T) {
	nets, err := clientip.ParseNetworks([]string{"::ffff:10.0.0.0/104"})
	if err != nil {
		t.Fatal(err)
	}
	k := keyward.APIKey{IPs: nets}
	for addr, want := range map[string]bool{"10.1.2.3": true, "::ffff:10.1.2.3": true, "11.0.0.1": false} {
		if got := k.AllowsIP(netip.MustParseAddr(addr)); got != want {
			t.Errorf("AllowsIP(%s) = %v, want %v", addr, got, want)
		}
	}
}

func FuzzParseNetworks(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8", "2001:db8::1", "::ffff:10.0.0.0/104", "fe80::1%eth0", " 1.2.3.4 ", "10.0.0.1/8", ""} {
		f.Add(s, "192.0.2.1")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		got, err := clientip.ParseNetworks([]string{a, b})
		if err != nil {
			if len(err.Error()) > 120 {
				t.Fatalf("message too long: %q", err.Error())
			}
			return
		}
		if len(got) < 1 || len(got) > 2 {
			t.Fatalf("two entries gave %d networks", len(got))
		}
		for _, p := range got {
			if !p.IsValid() || p.Addr().Is4In6() || p.Addr().Zone() != "" || p != p.Masked() {
				t.Fatalf("%v is invalid, mapped, zoned or not masked", p)
			}
		}
		// What FormatNetworks writes parses back to the same networks.
		again, err := clientip.ParseNetworks(clientip.FormatNetworks(got))
		if err != nil || !slices.Equal(again, got) {
			t.Fatalf("round trip of %v: %v, %v", got, again, err)
		}
	})
}

func ExampleFormatNetworks() {
	nets, err := clientip.ParseNetworks([]string{"10.0.0.0/8", " 192.0.2.1/32", "::ffff:198.51.100.7", "10.0.0.0/8"})
	if err != nil {
		panic(err)
	}
	fmt.Println(clientip.FormatNetworks(nets))
	_, err = clientip.ParseNetworks([]string{"10.0.0.1/8"})
	fmt.Println(err)
	// Output:
	// [10.0.0.0/8 192.0.2.1 198.51.100.7]
	// 10.0.0.1/8 has host bits set; did you mean 10.0.0.0/8?
}

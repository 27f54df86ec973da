package federation

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/netguard"
)

// TestDialPolicy: the fetches of issuers' documents never reach this machine unless the operator
// admits local issuers, nor the link-local addresses where clouds serve instance credentials;
// public and private (a cluster's issuer) addresses are fine.
func TestDialPolicy(t *testing.T) {
	cases := []struct {
		addr             string
		strict, loopback bool // allowed with no flag, with AllowInsecure
	}{
		{"203.0.113.7", true, true},
		{"2001:db8::1", true, true},
		{"10.96.0.1", true, true},
		{"100.64.0.1", true, true},
		{"fd00::1", true, true},
		{"127.0.0.1", false, true},
		{"::1", false, true},
		{"::ffff:127.0.0.1", false, true},
		{"169.254.169.254", false, false},
		{"fe80::1", false, false},
		{"0.0.0.0", false, false},
		{"224.0.0.1", false, false},
	}
	for _, c := range cases {
		ip := netip.MustParseAddr(c.addr)
		for _, p := range []struct {
			policy netguard.Policy
			want   bool
		}{{dialPolicy(false), c.strict}, {dialPolicy(true), c.loopback}} {
			if err := p.policy.Check(ip); (err == nil) != p.want {
				t.Errorf("%s with %+v: %v, want allowed %v", c.addr, p.policy, err, p.want)
			}
		}
	}
}

// TestFetchRefusesLoopbackWithoutTheFlag: an issuer on this machine is not fetched unless the
// operator allowed local issuers, whatever its name resolves to.
func TestFetchRefusesLoopbackWithoutTheFlag(t *testing.T) {
	fetched := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fetched = true }))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = httpClient(dialPolicy(false)).Do(req)
	if err == nil || !strings.Contains(err.Error(), "loopback") || fetched {
		t.Fatalf("fetch from %s without the flag: %v (reached: %v)", srv.URL, err, fetched)
	}
	resp, err := httpClient(dialPolicy(true)).Do(req.Clone(ctx))
	if err != nil {
		t.Fatalf("fetch with loopback allowed: %v", err)
	}
	resp.Body.Close()
	if !fetched {
		t.Fatal("the request did not arrive")
	}
}

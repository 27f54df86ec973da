package webhook

import (
	"strings"
	"testing"

	"github.com/keyward/keyward"
)

// TestCheckURL: a webhook URL is an https URL keyward may post to; every refusal is EINVALID
// with a sentence that says what to change.
func TestCheckURL(t *testing.T) {
	cases := []struct {
		raw          string
		allowPrivate bool
		want         string // "" for refused
		says         string // part of the refusal
	}{
		{"https://example.com/hooks", false, "https://example.com/hooks", ""},
		{"https://example.com:8443/hooks?token=abc", false, "https://example.com:8443/hooks?token=abc", ""},
		{"HTTPS://Example.com/x", false, "https://Example.com/x", ""},
		{"https://203.0.113.7/x", false, "https://203.0.113.7/x", ""},
		{"https://[2001:db8::1]/x", false, "https://[2001:db8::1]/x", ""},
		{"http://example.com/x", false, "", "https"},
		{"http://127.0.0.1:9000/x", true, "http://127.0.0.1:9000/x", ""},
		{"https://10.0.0.5/x", true, "https://10.0.0.5/x", ""},
		{"https://10.0.0.5/x", false, "", "private network"},
		{"https://100.64.1.1/x", false, "", "private network"},
		{"https://127.0.0.1/x", false, "", "loopback"},
		{"https://[::1]/x", false, "", "loopback"},
		{"https://[::ffff:127.0.0.1]/x", false, "", "loopback"},
		{"https://localhost/x", false, "", "this machine"},
		{"https://api.localhost/x", false, "", "this machine"},
		{"https://localhost/x", true, "https://localhost/x", ""},
		{"https://169.254.169.254/latest/meta-data", true, "", "link-local"},
		{"https://[fe80::1]/x", true, "", "link-local"},
		{"https://0.0.0.0/x", true, "", "unspecified"},
		{"https://[::]/x", true, "", "unspecified"},
		{"https://user:pass@example.com/x", false, "", "user or password"},
		{"https://example.com/x#frag", false, "", "fragment"},
		{"https://example.com/x#", false, "", "fragment"},
		{"ftp://example.com/x", false, "", "https"},
		{"javascript:alert(1)", false, "", "absolute"},
		{"https:example.com", false, "", "absolute"},
		{"/hooks", false, "", "absolute"},
		{"https://", false, "", "absolute"},
		{"https://:443/x", false, "", "absolute"},
		{"", false, "", "absolute"},
		{"https://example.com/\x00", false, "", "absolute"},
		{"https://example.com/" + strings.Repeat("a", MaxURLLen), false, "", "longer than 2048"},
		// Under the bound as typed, three times over it once each é is percent-encoded.
		{"https://example.com/" + strings.Repeat("é", 1000), false, "", "once encoded"},
	}
	for _, c := range cases {
		got, err := CheckURL(c.raw, c.allowPrivate)
		if c.want != "" {
			if err != nil || got != c.want {
				t.Errorf("CheckURL(%q, %v) = %q, %v; want %q", c.raw, c.allowPrivate, got, err, c.want)
			}
			continue
		}
		if keyward.ErrorCode(err) != keyward.EINVALID || !strings.Contains(keyward.ErrorMessage(err), c.says) {
			t.Errorf("CheckURL(%q, %v) = %q, %v; want EINVALID saying %q", c.raw, c.allowPrivate, got, err, c.says)
		}
	}
}

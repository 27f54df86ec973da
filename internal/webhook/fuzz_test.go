package webhook

import (
	"net/netip"
	"net/url"
	"strings"
	"testing"
)

// FuzzCheckURL: whatever is typed as a webhook's URL, CheckURL either refuses it or returns a
// URL that parses back to itself, over https (http only when private receivers are allowed),
// with a host, no user information and no fragment, whose literal address, if any, the sender
// may dial; and checking that URL again accepts it unchanged.
func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{
		"https://hooks.example.com/keyward", "http://127.0.0.1:9999/hook", "https://[::ffff:169.254.169.254]/",
		"https://user:pass@example.com/", "https://example.com/#frag", "https://example.com/?token=abc",
		"https:///path", "ftp://example.com/", "https://10.0.0.1/", "https://[fc00::1]/", "https://0.0.0.0/",
		"https://example.com:99999/", "https://ex%41mple.com/", "//example.com/", "https://localhost/",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, raw string, allowPrivate bool) {
		out, err := CheckURL(raw, allowPrivate)
		if err != nil {
			if out != "" {
				t.Fatalf("refused %q but returned %q", raw, out)
			}
			return
		}
		u, err := url.Parse(out)
		if err != nil {
			t.Fatalf("accepted %q as %q, which does not parse: %v", raw, out, err)
		}
		if u.Scheme != "https" && !(allowPrivate && u.Scheme == "http") {
			t.Fatalf("accepted %q with scheme %q", raw, u.Scheme)
		}
		if u.Host == "" || u.User != nil || u.Fragment != "" || strings.Contains(out, "#") || len(out) > MaxURLLen {
			t.Fatalf("accepted %q as %q", raw, out)
		}
		if ip, err := netip.ParseAddr(strings.Trim(u.Hostname(), "[]")); err == nil {
			if perr := Policy(allowPrivate).Check(ip); perr != nil {
				t.Fatalf("accepted %q, whose address %s the sender refuses: %v", raw, ip, perr)
			}
		}
		if again, err := CheckURL(out, allowPrivate); err != nil || again != out {
			t.Fatalf("CheckURL(%q) = %q, %v; want it unchanged", out, again, err)
		}
	})
}

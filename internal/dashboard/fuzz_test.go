package dashboard

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzLocalPath: whatever a login link carries as next, the redirect after sign-in stays on this
// site.
func FuzzLocalPath(f *testing.F) {
	for _, s := range []string{"/projects", "//evil.example", "/\\evil", "https://evil.example/x", "/a?b=c#d", "/%2F%2Fevil", "\t/x", "/x\r\nLocation: y", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, next string) {
		got := localPath(next)
		u, err := url.Parse(got)
		if err != nil || u.Scheme != "" || u.Host != "" || !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") ||
			strings.ContainsAny(got, "\\\r\n\t") {
			t.Fatalf("localPath(%q) = %q, which leaves the site", next, got)
		}
	})
}

func TestSplitNetworks(t *testing.T) {
	for in, want := range map[string]string{
		"":                                    "",
		"10.0.0.1":                            "10.0.0.1",
		" 10.0.0.1,10.0.0.2 ,\n2001:db8::/32": "10.0.0.1|10.0.0.2|2001:db8::/32",
		"a\r\nb\tc":                           "a|b|c",
		",,,":                                 "",
	} {
		if got := strings.Join(splitNetworks(in), "|"); got != want {
			t.Errorf("splitNetworks(%q) = %q, want %q", in, got, want)
		}
	}
}

package webhook

import (
	"net/netip"
	"net/url"
	"strings"

	"github.com/keyward/keyward"
)

// maxURLLen bounds a webhook's URL.
const maxURLLen = 2048

// CheckURL checks a webhook's URL as someone sets it and returns it as stored: an absolute
// https URL (http too when allowPrivate, for local receivers) with a host, no user name or
// password and no fragment. A host that is an IP address must be one the sender may dial; a
// host name is checked on every dial, on the address it then resolves to.
func CheckURL(raw string, allowPrivate bool) (string, error) {
	bad := func(why string) error {
		return keyward.Errorf(keyward.EINVALID, "The webhook URL %s.", why)
	}
	if raw == "" || len(raw) > maxURLLen || strings.ContainsFunc(raw, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return "", bad("must be an https URL of at most 2048 characters, without spaces")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return "", bad("must be an absolute https URL, such as https://example.com/keyward")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && allowPrivate:
	case u.Scheme == "http":
		return "", bad("must use https (http is admitted only with keyward serve --webhook-allow-private)")
	default:
		return "", bad("must be an absolute https URL, such as https://example.com/keyward")
	}
	if u.User != nil {
		return "", bad("must not hold a user name or password")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return "", bad("must not hold a fragment (#…)")
	}
	if ip, err := netip.ParseAddr(strings.Trim(u.Hostname(), "[]")); err == nil {
		if err := dialable(ip, allowPrivate); err != nil {
			return "", bad("points at " + err.Error())
		}
	}
	return u.String(), nil
}

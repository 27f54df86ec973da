package webhook

import (
	"net/netip"
	"net/url"
	"strings"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/netguard"
)

// MaxURLLen bounds a webhook's URL.
const MaxURLLen = 2048

// Policy is where deliveries may connect: public addresses, and loopback and private networks
// only when the operator allows them (local receivers, tests). A webhook's URL is chosen by
// whoever manages a project's webhooks, who must not reach keyward's own machine or the
// networks behind it through it.
func Policy(allowPrivate bool) netguard.Policy {
	return netguard.Policy{Loopback: allowPrivate, Private: allowPrivate,
		Hint: "keyward serve --webhook-allow-private admits such receivers"}
}

// CheckURL returns the URL a webhook may have, or a *keyward.Error EINVALID that says what is
// wrong with raw: an absolute https URL with a host, no user information nor fragment, at most
// MaxURLLen long (http too when allowPrivate: local receivers). A host written as an IP address
// must be one Policy allows; a name is checked on every delivery, on the address it resolves to
// then.
func CheckURL(raw string, allowPrivate bool) (string, error) {
	invalid := func(format string, args ...any) (string, error) {
		return "", keyward.Errorf(keyward.EINVALID, format, args...)
	}
	if len(raw) > MaxURLLen {
		return invalid("The webhook URL is longer than %d characters.", MaxURLLen)
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Opaque != "" || u.Hostname() == "" {
		return invalid("The webhook URL must be an absolute URL such as https://example.com/hooks.")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && allowPrivate:
	case u.Scheme == "http":
		return invalid("The webhook URL must use https.")
	default:
		return invalid("The webhook URL must be an https URL.")
	}
	if u.User != nil {
		return invalid("The webhook URL must not carry a user or password; put a token in its path or query instead.")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return invalid("The webhook URL must not have a fragment (#…).")
	}
	host := strings.ToLower(u.Hostname())
	if ip, err := netip.ParseAddr(host); err == nil {
		if err := Policy(allowPrivate).Check(ip); err != nil {
			return invalid("The webhook URL cannot be used: %v.", err)
		}
	} else if !allowPrivate && (host == "localhost" || strings.HasSuffix(host, ".localhost")) {
		return invalid("The webhook URL cannot be used: %s is this machine; keyward serve --webhook-allow-private admits such receivers.", host)
	}
	// Stored as written back, which percent-encodes what was not: the bound holds for that.
	out := u.String()
	if len(out) > MaxURLLen {
		return invalid("The webhook URL is longer than %d characters once encoded.", MaxURLLen)
	}
	return out, nil
}

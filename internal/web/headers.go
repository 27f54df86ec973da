package web

import (
	"net/http"
	"slices"
)

// The security headers of each surface, all here so that they can be read and compared at once.

// CommonHeaders are on every response keyward sends, /oauth and the health checks included: no
// content sniffing, no referrer that could leak a URL, no framing.
func CommonHeaders() http.Header {
	return http.Header{
		"X-Content-Type-Options": {"nosniff"},
		"Referrer-Policy":        {"no-referrer"},
		"X-Frame-Options":        {"DENY"},
	}
}

// APIHeaders are the /v1 API's: its responses carry secrets (a new key) or tenant data, which no
// cache may keep.
func APIHeaders() http.Header {
	h := CommonHeaders()
	h.Set("Cache-Control", "no-store")
	return h
}

// pageCSP allows the dashboard's own script and style sheet and nothing else: no inline script or
// style, no plugins, no framing, forms posting only back here, and the script's requests (the
// passkey ceremonies) going only back here too.
const pageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// PageHeaders are the dashboard's: a strict content security policy, isolation from other
// origins' windows and loads, no powerful browser features, and no caching of pages that show
// tenant data and, once, a key's secret (static files override Cache-Control).
func PageHeaders() http.Header {
	h := CommonHeaders()
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()")
	h.Set("Cache-Control", "no-store")
	return h
}

// SetHeaders sets every header of src on dst. The values are copied, so that a handler adding to
// one response's header never reaches the next response's.
func SetHeaders(dst, src http.Header) {
	for k, v := range src {
		dst[k] = slices.Clone(v)
	}
}

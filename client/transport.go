package client

import (
	"context"
	"io"
	"net/http"
	"strings"

	"golang.org/x/oauth2"
)

// refusable is a token source that can be told that an API refused one of its access tokens.
type refusable interface {
	refused(accessToken string)
}

// HTTPClient returns an HTTP client that sends the access tokens of ts, as oauth2.NewClient does,
// and recovers when an API refuses a token before its expiry (401 with error="invalid_token"):
// revoked because its key was narrowed, say. For a source from TokenSource, it drops the token,
// so that the source renews it (exchanging the key again when the session has ended), and sends
// the request once more. A request whose body cannot be sent again (no GetBody) is not retried.
//
// ctx supplies the base client, as with oauth2.NewClient: the one stored under
// oauth2.HTTPClient, if any.
func HTTPClient(ctx context.Context, ts oauth2.TokenSource) *http.Client {
	base := http.DefaultTransport
	if hc, ok := ctx.Value(oauth2.HTTPClient).(*http.Client); ok && hc != nil && hc.Transport != nil {
		base = hc.Transport
	}
	return &http.Client{Transport: &retryTransport{src: ts, base: base}}
}

type retryTransport struct {
	src  oauth2.TokenSource
	base http.RoundTripper
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	tok, err := t.src.Token()
	if err != nil {
		closeBody(req)
		return nil, err
	}
	first := req.Clone(req.Context())
	tok.SetAuthHeader(first)
	resp, err := t.base.RoundTrip(first)
	r, ok := t.src.(refusable)
	if err != nil || !ok || !tokenRefused(resp) || (req.Body != nil && req.Body != http.NoBody && req.GetBody == nil) {
		return resp, err
	}
	again := req.Clone(req.Context())
	if req.GetBody != nil {
		body, err := req.GetBody()
		if err != nil {
			return resp, nil
		}
		again.Body = body
	}
	r.refused(tok.AccessToken)
	tok, err = t.src.Token()
	if err != nil {
		return resp, nil // the refusal says more than the failed renewal
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBytes))
	resp.Body.Close()
	tok.SetAuthHeader(again)
	return t.base.RoundTrip(again)
}

// tokenRefused reports whether resp refuses the access token itself (RFC 6750 §3.1).
func tokenRefused(resp *http.Response) bool {
	if resp.StatusCode != http.StatusUnauthorized {
		return false
	}
	for _, v := range resp.Header.Values("WWW-Authenticate") {
		if strings.Contains(v, `error="invalid_token"`) {
			return true
		}
	}
	return false
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// refused drops the cached access token if it is still accessToken: the next Token call renews it.
func (s *keySource) refused(accessToken string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tok != nil && s.tok.AccessToken == accessToken {
		s.tok = nil
	}
}

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
// For a source from TokenSource with Config.DPoP, every request carries the token with the DPoP
// scheme and a fresh proof signed by the key, bound to the token and to the request's method and
// URL (RFC 9449 §7); when the API asks for a nonce (401 with error="use_dpop_nonce" and a
// DPoP-Nonce header) the request is sent once more with a proof that carries it.
//
// ctx supplies the base client, as with oauth2.NewClient: the one stored under
// oauth2.HTTPClient, if any.
func HTTPClient(ctx context.Context, ts oauth2.TokenSource) *http.Client {
	base := http.DefaultTransport
	if hc, ok := ctx.Value(oauth2.HTTPClient).(*http.Client); ok && hc != nil && hc.Transport != nil {
		base = hc.Transport
	}
	t := &retryTransport{src: ts, base: base}
	if s, ok := ts.(*keySource); ok {
		t.dpop = s.ep.dpop
	}
	return &http.Client{Transport: t}
}

type retryTransport struct {
	src  oauth2.TokenSource
	base http.RoundTripper
	dpop *prover // the source's key, nil for bearer tokens
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	tok, err := t.src.Token()
	if err != nil {
		closeBody(req)
		return nil, err
	}
	resp, nonce, err := t.send(req, req, tok)
	if err != nil {
		return nil, err
	}
	if t.dpop != nil && t.dpop.remember(req.URL, resp.Header, nonce) && nonceChallenged(resp) {
		if resp, nonce, err = t.again(req, resp, tok); err != nil {
			return nil, err
		}
		if t.dpop.remember(req.URL, resp.Header, nonce) && nonceChallenged(resp) {
			return resp, nil // asked for a nonce again: once is the bound
		}
	}
	r, ok := t.src.(refusable)
	if !ok || !tokenRefused(resp) || (req.Body != nil && req.Body != http.NoBody && req.GetBody == nil) {
		return resp, nil
	}
	r.refused(tok.AccessToken)
	if tok, err = t.src.Token(); err != nil {
		return resp, nil // the refusal says more than the failed renewal
	}
	resp, _, err = t.again(req, resp, tok)
	return resp, err
}

// send sends a copy of req, whose body is body's, authorised with tok. It returns the nonce its
// DPoP proof carried.
func (t *retryTransport) send(req, body *http.Request, tok *oauth2.Token) (*http.Response, string, error) {
	out := req.Clone(req.Context())
	out.Body = body.Body
	if t.dpop == nil {
		tok.SetAuthHeader(out)
		resp, err := t.base.RoundTrip(out)
		return resp, "", err
	}
	proof, nonce, err := t.dpop.proof(req.Method, req.URL, tok.AccessToken)
	if err != nil {
		closeBody(out)
		return nil, "", err
	}
	out.Header.Set("Authorization", "DPoP "+tok.AccessToken)
	out.Header.Set("DPoP", proof)
	resp, err := t.base.RoundTrip(out)
	return resp, nonce, err
}

// again sends req once more with tok after the API refused it with resp, which is then closed.
// When req's body cannot be sent again, resp is the answer.
func (t *retryTransport) again(req *http.Request, resp *http.Response, tok *oauth2.Token) (*http.Response, string, error) {
	body := replayable(req)
	if body == nil {
		return resp, "", nil
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBytes))
	resp.Body.Close()
	return t.send(req, body, tok)
}

// replayable returns a request carrying a fresh copy of req's body, or nil when the body cannot
// be sent again.
func replayable(req *http.Request) *http.Request {
	if req.Body == nil || req.Body == http.NoBody {
		return req
	}
	if req.GetBody == nil {
		return nil
	}
	body, err := req.GetBody()
	if err != nil {
		return nil
	}
	return &http.Request{Body: body}
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

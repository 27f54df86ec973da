// Package load drives HTTP load at a server: closed loop (each connection sends its next request when the last is answered) and open loop (requests on a fixed schedule), with exact latency percentiles.
package load

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// RequestTimeout bounds one request, so that a stuck server ends the run instead of hanging it.
const RequestTimeout = 10 * time.Second

// NewTransport returns a keep-alive transport with exactly one idle slot per connection, so no
// connection is ever closed for lack of room and reopened. It refuses any address but 127.0.0.1
// and counts the connections it opens in dials (when not nil): after the warm-up, a scenario
// should open none.
func NewTransport(conns int, dials *atomic.Int64) *http.Transport {
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy: nil, // never a proxy from the environment
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, _, err := net.SplitHostPort(addr)
			if err != nil || host != "127.0.0.1" {
				return nil, fmt.Errorf("the bench only sends load to 127.0.0.1, not %s", addr)
			}
			if dials != nil {
				dials.Add(1)
			}
			return d.DialContext(ctx, network, addr)
		},
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
}

// FormContentType is the content type of a token request.
const FormContentType = "application/x-www-form-urlencoded"

// PostForm builds a form POST with an optional Authorization header.
func PostForm(ctx context.Context, url, auth, body string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", FormContentType)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	return req, nil
}

// Send does one request and returns the status and the whole body.
func Send(ctx context.Context, c *http.Client, method, u, contentType, auth string, body io.Reader) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return 0, nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, data, err
}

// Clip shortens an error body for a message. Error bodies never carry secrets.
func Clip(b []byte) string {
	const max = 300
	if len(b) > max {
		return string(b[:max]) + "…"
	}
	return string(b)
}

// OAuthErrorCode returns the RFC 6749 error code of an error body, or "" when there is none.
func OAuthErrorCode(body []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil || len(e.Error) > 40 {
		return ""
	}
	return e.Error
}

// OKStatus accepts exactly HTTP 200, whatever the body.
func OKStatus(status int, _ []byte) bool { return status == http.StatusOK }

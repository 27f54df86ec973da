package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// DeviceClientID is the client_id keyward's CLI signs in with through the browser. The CLI is a
// public client: the id proves nothing; the person who approves the code in the dashboard does.
const DeviceClientID = "keyward-cli"

// deviceSlowDown is how much a slow_down answer grows the polling interval (RFC 8628 §3.5).
const deviceSlowDown = 5 * time.Second

// DeviceLogin signs a user in through the browser with the device authorization grant (RFC
// 8628): it asks the server for a code, hands it to prompt to show to the user, who approves it
// in the dashboard at VerificationURI, and polls the token endpoint until the user approves or
// denies, or the code expires. project, when not empty, asks for tokens narrowed to that project.
// The HTTP client is the one stored in ctx under oauth2.HTTPClient, if any; cancel ctx to give up.
func DeviceLogin(ctx context.Context, server, project string, prompt func(*DeviceAuthorization)) (*TokenResponse, error) {
	ep := &endpoint{server: server, hc: httpClient(ctx, nil)}
	d, err := ep.authorizeDevice(ctx, project)
	if err != nil {
		return nil, err
	}
	prompt(d)
	interval := time.Duration(max(d.Interval, 1)) * time.Second
	deadline := time.Now().Add(time.Duration(d.ExpiresIn) * time.Second)
	form := url.Values{"grant_type": {GrantDeviceCode}, "device_code": {d.DeviceCode}, "client_id": {DeviceClientID}}
	wait := interval
	for {
		if time.Now().Add(wait).After(deadline) {
			return nil, errors.New("keyward: the sign-in code expired before it was approved; sign in again")
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		tr, err := ep.token(ctx, nil, form, "", "")
		wait = interval
		var re *oauth2.RetrieveError
		switch {
		case err == nil:
			return tr, nil
		case !errors.As(err, &re):
			return nil, err
		case re.Response != nil && re.Response.StatusCode == http.StatusTooManyRequests:
			// The address is throttled (other clients' failures behind the same NAT): the
			// approval keeps until the code expires, so wait as told and ask again.
			if secs, err := strconv.Atoi(re.Response.Header.Get("Retry-After")); err == nil && secs > 0 {
				wait = max(interval, time.Duration(secs)*time.Second)
			}
		case re.ErrorCode == "authorization_pending":
		case re.ErrorCode == "slow_down":
			interval += deviceSlowDown
		case re.ErrorCode == "access_denied":
			return nil, fmt.Errorf("keyward: the sign-in was denied in the browser: %w", err)
		case re.ErrorCode == "expired_token":
			return nil, fmt.Errorf("keyward: the sign-in code expired before it was approved; sign in again: %w", err)
		default:
			return nil, err
		}
	}
}

// authorizeDevice asks the server's device authorization endpoint for a code.
func (e *endpoint) authorizeDevice(ctx context.Context, project string) (*DeviceAuthorization, error) {
	if _, err := e.tokenURL(ctx); err != nil {
		return nil, err
	}
	deviceURL := e.deviceURL
	u, err := url.Parse(deviceURL)
	switch {
	case deviceURL == "":
		return nil, errors.New("keyward: this server does not offer sign-in through the browser; sign in with a password")
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		return nil, errors.New("keyward: the server metadata has no usable device_authorization_endpoint")
	case strings.HasPrefix(e.server, "https:") && u.Scheme != "https":
		return nil, fmt.Errorf("keyward: the server's device authorization endpoint %s is not https", deviceURL)
	}
	form := url.Values{"client_id": {DeviceClientID}}
	if project != "" {
		form.Set("project", project)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, deviceURL, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("keyward: device authorization request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := e.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("keyward: device authorization request: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return nil, fmt.Errorf("keyward: reading the device authorization response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("keyward: device authorization refused: %w", retrieveError(resp, body))
	}
	var d DeviceAuthorization
	if err := json.Unmarshal(body, &d); err != nil || d.DeviceCode == "" || d.UserCode == "" || d.VerificationURI == "" || d.ExpiresIn <= 0 {
		return nil, errors.New("keyward: the device authorization response lacks a code, a verification URI or a lifetime")
	}
	return &d, nil
}

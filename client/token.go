package client

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/apikey"
)

const (
	// defaultExpiryDelta is how long before its expiry an access token is renewed, so that a
	// token handed out is not already expired when it reaches the API.
	defaultExpiryDelta = 10 * time.Second
	// maxResponseBytes bounds what is read from a token or metadata response; real ones are a few
	// kilobytes, and a bound keeps a hostile or broken server from exhausting memory.
	maxResponseBytes = 1 << 20
	metadataPath     = "/.well-known/oauth-authorization-server"
)

// Grant types, as the token endpoint names them.
const (
	GrantClientCredentials = "client_credentials"
	GrantRefreshToken      = "refresh_token"
	GrantPassword          = "password"
	// GrantDeviceCode is the device authorization grant (RFC 8628), with which `keyward login
	// --web` signs in through the browser.
	GrantDeviceCode = "urn:ietf:params:oauth:grant-type:device_code"
)

// ErrLoginRequired is in the chain of the error a session's TokenSource returns once the session
// can no longer be refreshed (expired, revoked, or the refresh token was already spent): the user
// must log in again.
var ErrLoginRequired = errors.New("keyward: the login session has ended; log in again")

// Config is the configuration of a TokenSource built from an API key.
type Config struct {
	// Server is the keyward server's issuer URL, such as "https://auth.example.com". The token
	// endpoint is discovered from its RFC 8414 metadata.
	Server string
	// Key is the API key ("kw_…"). It is sent only to the token endpoint, in the HTTP Basic header.
	Key string
	// Scope optionally narrows the tokens to some of the key's permissions; empty means all of them.
	Scope []string
	// HTTPClient makes the requests. Nil means the client stored in the context under
	// oauth2.HTTPClient, or else a client with a 30-second timeout.
	HTTPClient *http.Client
	// ExpiryDelta is how long before its expiry an access token is replaced; zero means 10 seconds.
	// It never exceeds half the token's lifetime, so short-lived tokens are still used.
	ExpiryDelta time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// DPoP, when set, binds the tokens to this key pair (RFC 9449): every token request carries a
	// proof signed by it, the server answers with DPoP tokens (token_type DPoP) that are worthless
	// without the key, and a bearer answer is an error. NewDPoPKey makes an ES256 key. Send the
	// tokens with HTTPClient, which signs a proof for every request; nil means bearer tokens.
	DPoP crypto.Signer
}

// SessionConfig is the configuration of a TokenSource that continues a user's login, such as the
// one a command-line tool stores after PasswordLogin.
type SessionConfig struct {
	// Server is the keyward server's issuer URL.
	Server string
	// Token is the stored token: its RefreshToken is required; its AccessToken is used until
	// Expiry, when present.
	Token *oauth2.Token
	// OnRotate is called, before Token returns, with every new token pair. Each refresh spends the
	// previous refresh token, and presenting a spent one again revokes the whole session, so a
	// program that stores the token must store this one. It must not call the source's Token.
	OnRotate func(*oauth2.Token)
	// HTTPClient, ExpiryDelta and Now are as in Config.
	HTTPClient  *http.Client
	ExpiryDelta time.Duration
	Now         func() time.Time
}

// TokenResponse is the token endpoint's successful answer (RFC 6749 §5.1, with Keycloak's
// refresh_expires_in), as the server sends it.
type TokenResponse struct {
	AccessToken      string `json:"access_token"`
	TokenType        string `json:"token_type"`
	ExpiresIn        int64  `json:"expires_in"`
	RefreshToken     string `json:"refresh_token,omitempty"` // none for the federation grants
	RefreshExpiresIn int64  `json:"refresh_expires_in,omitempty"`
	Scope            string `json:"scope"`
	// IssuedTokenType is what a token exchange (RFC 8693 §2.2.1) issued: TokenTypeAccessToken.
	IssuedTokenType string `json:"issued_token_type,omitempty"`

	// Expiry and RefreshExpiry are computed from the lifetimes when the response arrives,
	// counting from the moment the request was sent.
	Expiry        time.Time `json:"-"`
	RefreshExpiry time.Time `json:"-"`
}

// OAuth2 returns the response as an *oauth2.Token, with "scope" and "refresh_expires_in" (seconds)
// available through its Extra method.
func (r *TokenResponse) OAuth2() *oauth2.Token {
	t := &oauth2.Token{
		AccessToken:  r.AccessToken,
		TokenType:    r.TokenType,
		RefreshToken: r.RefreshToken,
		Expiry:       r.Expiry,
		ExpiresIn:    r.ExpiresIn,
	}
	return t.WithExtra(map[string]any{"scope": r.Scope, "refresh_expires_in": r.RefreshExpiresIn})
}

// TokenSource returns a source of access tokens for the API key in c, safe for concurrent use.
//
// The first Token call exchanges the key (grant client_credentials). Later calls return the cached
// access token until shortly before it expires, then renew it with the refresh token, sending the
// key along as RFC 6749 §6 asks of a confidential client. When the refresh token has expired or is
// refused, the source exchanges the key again, starting a new session; a refresh that fails for
// another reason (the network, the server) is not retried with the same refresh token, because it
// may have been spent, and presenting a spent token again revokes the session. Concurrent callers
// wait for one renewal in flight.
//
// ctx carries every token request the source makes; cancel it to stop the source. The key's
// format is checked locally, so a mistyped key fails before any request. Errors from the server
// wrap an *oauth2.RetrieveError carrying the OAuth error code. Tokens returned carry no refresh
// token: the source owns it.
func TokenSource(ctx context.Context, c Config) oauth2.TokenSource {
	s := &keySource{
		ctx: ctx, c: c,
		ep: &endpoint{server: c.Server, hc: httpClient(ctx, c.HTTPClient), dpop: newProver(c.DPoP, c.Now)},
	}
	s.keyID, s.keyErr = apikey.Parse(c.Key)
	return s
}

type keySource struct {
	ctx    context.Context
	c      Config
	ep     *endpoint
	keyID  string
	keyErr error

	mu            sync.Mutex
	tok           *oauth2.Token
	renewAt       time.Time
	refresh       string
	refreshExpiry time.Time
}

func (s *keySource) Token() (*oauth2.Token, error) {
	if s.keyErr != nil {
		return nil, fmt.Errorf("keyward: the API key is malformed: %s", keyward.ErrorMessage(s.keyErr))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := clock(s.c.Now)()
	if s.tok != nil && now.Before(s.renewAt) {
		return copyToken(s.tok), nil
	}
	if s.refresh != "" && now.Before(s.refreshExpiry) {
		form := url.Values{"grant_type": {GrantRefreshToken}, "refresh_token": {s.refresh}}
		resp, err := s.ep.token(s.ctx, s.c.Now, form, s.keyID, s.c.Key)
		// Whatever the outcome, this refresh token is done: refused, spent, or of unknown state.
		s.refresh = ""
		if err == nil {
			return s.store(resp), nil
		}
		if !refreshRefused(err) {
			if s.tok != nil && now.Before(s.tok.Expiry) {
				// Still valid: serve it, and exchange the key at the next call.
				return copyToken(s.tok), nil
			}
			return nil, err
		}
	}
	form := url.Values{"grant_type": {GrantClientCredentials}}
	if len(s.c.Scope) > 0 {
		form.Set("scope", strings.Join(s.c.Scope, " "))
	}
	resp, err := s.ep.token(s.ctx, s.c.Now, form, s.keyID, s.c.Key)
	if err != nil {
		return nil, err
	}
	return s.store(resp), nil
}

// store caches resp and returns the access token without its refresh token.
func (s *keySource) store(resp *TokenResponse) *oauth2.Token {
	t := resp.OAuth2()
	t.RefreshToken = ""
	s.tok = t
	s.renewAt = renewAt(resp.Expiry, resp.ExpiresIn, s.c.ExpiryDelta)
	s.refresh, s.refreshExpiry = resp.RefreshToken, resp.RefreshExpiry
	return copyToken(t)
}

// refreshRefused reports whether the server refused a refresh in a way the key can fix: the
// refresh token is unknown, expired, spent or revoked (invalid_grant), or the server no longer
// wants it with this client (unauthorized_client). invalid_client is left out: it means the key
// itself is bad, and exchanging it would fail the same way.
func refreshRefused(err error) bool {
	var re *oauth2.RetrieveError
	return errors.As(err, &re) && (re.ErrorCode == "invalid_grant" || re.ErrorCode == "unauthorized_client")
}

// Exchange exchanges the API key in c for a token pair once, without caching: for programs that
// print or hand over a token (such as `keyward token`). Programs that call an API should use
// TokenSource, which renews tokens.
func Exchange(ctx context.Context, c Config) (*TokenResponse, error) {
	id, err := apikey.Parse(c.Key)
	if err != nil {
		return nil, fmt.Errorf("keyward: the API key is malformed: %s", keyward.ErrorMessage(err))
	}
	form := url.Values{"grant_type": {GrantClientCredentials}}
	if len(c.Scope) > 0 {
		form.Set("scope", strings.Join(c.Scope, " "))
	}
	ep := &endpoint{server: c.Server, hc: httpClient(ctx, c.HTTPClient), dpop: newProver(c.DPoP, c.Now)}
	return ep.token(ctx, c.Now, form, id, c.Key)
}

// PasswordLogin signs a user in with the password grant and returns the token pair. project,
// when not empty, narrows the token to that project (an id or a name), so that it carries the
// user's permissions there and can call the platform's API. The HTTP client is the one stored in
// ctx under oauth2.HTTPClient, if any. Keep the refresh token to continue the session later with
// SessionTokenSource.
func PasswordLogin(ctx context.Context, server, email, password, project string) (*TokenResponse, error) {
	form := url.Values{"grant_type": {GrantPassword}, "username": {email}, "password": {password}}
	if project != "" {
		form.Set("project", project)
	}
	ep := &endpoint{server: server, hc: httpClient(ctx, nil)}
	return ep.token(ctx, nil, form, "", "")
}

// PasswordLoginOTP is PasswordLogin for a user with a second factor: otp is a current code of
// their authenticator app or one of their recovery codes. Without it such a user's login fails
// with an error for which SecondFactorRequired is true.
func PasswordLoginOTP(ctx context.Context, server, email, password, project, otp string) (*TokenResponse, error) {
	form := url.Values{"grant_type": {GrantPassword}, "username": {email}, "password": {password}, "otp": {otp}}
	if project != "" {
		form.Set("project", project)
	}
	ep := &endpoint{server: server, hc: httpClient(ctx, nil)}
	return ep.token(ctx, nil, form, "", "")
}

// SecondFactorRequiredDescription is the error_description of the invalid_grant a password
// login gets, after a right password, from a user with a second factor who sent none.
const SecondFactorRequiredDescription = "A second factor is required: send the otp parameter."

// SecondFactorRequired reports whether err is a password login refused for want of the otp
// parameter: the password was right, and a second factor is needed.
func SecondFactorRequired(err error) bool {
	var re *oauth2.RetrieveError
	return errors.As(err, &re) && re.ErrorCode == "invalid_grant" && re.ErrorDescription == SecondFactorRequiredDescription
}

// SessionTokenSource returns a source that continues a user's session from a stored token: it
// serves the access token while it is valid, then refreshes it with the refresh token, handing
// each new pair to c.OnRotate. Once the session cannot be refreshed any more, Token returns an
// error wrapping ErrLoginRequired. Safe for concurrent use; ctx carries every request.
func SessionTokenSource(ctx context.Context, c SessionConfig) oauth2.TokenSource {
	s := &sessionSource{ctx: ctx, c: c, ep: &endpoint{server: c.Server, hc: httpClient(ctx, c.HTTPClient)}}
	if c.Token != nil {
		s.tok = copyToken(c.Token)
		s.refresh = c.Token.RefreshToken
		if c.Token.AccessToken != "" && !c.Token.Expiry.IsZero() {
			s.renewAt = renewAt(c.Token.Expiry, c.Token.ExpiresIn, c.ExpiryDelta)
		}
	}
	return s
}

type sessionSource struct {
	ctx context.Context
	c   SessionConfig
	ep  *endpoint

	mu      sync.Mutex
	tok     *oauth2.Token
	renewAt time.Time
	refresh string
}

func (s *sessionSource) Token() (*oauth2.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tok != nil && s.tok.AccessToken != "" && clock(s.c.Now)().Before(s.renewAt) {
		return copyToken(s.tok), nil
	}
	if s.refresh == "" {
		return nil, ErrLoginRequired
	}
	form := url.Values{"grant_type": {GrantRefreshToken}, "refresh_token": {s.refresh}}
	resp, err := s.ep.token(s.ctx, s.c.Now, form, "", "")
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.ErrorCode == "invalid_grant" {
			s.refresh = ""
			return nil, fmt.Errorf("%w: %w", ErrLoginRequired, err)
		}
		// The network or the server failed; the same refresh token is tried at the next call.
		return nil, err
	}
	t := resp.OAuth2()
	s.tok = t
	s.renewAt = renewAt(resp.Expiry, resp.ExpiresIn, s.c.ExpiryDelta)
	s.refresh = resp.RefreshToken
	if s.c.OnRotate != nil {
		s.c.OnRotate(copyToken(t))
	}
	return copyToken(t), nil
}

// renewAt is when a token expiring at expiry, lifetime seconds after it was issued, should be
// replaced: delta before, but never earlier than halfway through its life.
func renewAt(expiry time.Time, lifetime int64, delta time.Duration) time.Time {
	if delta <= 0 {
		delta = defaultExpiryDelta
	}
	if lifetime > 0 {
		delta = min(delta, time.Duration(lifetime)*time.Second/2)
	}
	return expiry.Add(-delta)
}

func copyToken(t *oauth2.Token) *oauth2.Token {
	c := *t
	return &c
}

func clock(now func() time.Time) func() time.Time {
	if now == nil {
		return time.Now
	}
	return now
}

func httpClient(ctx context.Context, hc *http.Client) *http.Client {
	if hc != nil {
		return hc
	}
	if hc, ok := ctx.Value(oauth2.HTTPClient).(*http.Client); ok && hc != nil {
		return hc
	}
	return &http.Client{Timeout: 30 * time.Second}
}

// endpoint is a server's token endpoint, discovered once from its metadata.
type endpoint struct {
	server string
	hc     *http.Client
	dpop   *prover // signs a proof for every token request; nil for bearer tokens

	mu        sync.Mutex
	url       string
	deviceURL string // the device authorization endpoint, "" when the server has none
}

// tokenURL discovers the token endpoint, caching a success. The metadata must name the server
// itself as the issuer (RFC 8414 §3.3), and a server reached over https may not send tokens to
// plain http.
func (e *endpoint) tokenURL(ctx context.Context) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.url != "" {
		return e.url, nil
	}
	base, err := serverURL(e.server)
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+metadataPath, nil)
	if err != nil {
		return "", fmt.Errorf("keyward: metadata request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := e.hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("keyward: fetching the server metadata: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return "", fmt.Errorf("keyward: reading the server metadata: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("keyward: %s answered %s for its metadata; is %s the keyward server's issuer URL?", base+metadataPath, resp.Status, base)
	}
	var m Metadata
	if err := json.Unmarshal(body, &m); err != nil {
		return "", fmt.Errorf("keyward: the server metadata is not JSON: %w", err)
	}
	if strings.TrimSuffix(m.Issuer, "/") != base {
		return "", fmt.Errorf("keyward: the server at %s calls itself %s: use that issuer URL as the server's URL", base, m.Issuer)
	}
	u, err := url.Parse(m.TokenEndpoint)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		return "", fmt.Errorf("keyward: the server metadata has no usable token_endpoint")
	case strings.HasPrefix(base, "https:") && u.Scheme != "https":
		return "", fmt.Errorf("keyward: the server's token endpoint %s is not https", m.TokenEndpoint)
	}
	e.url, e.deviceURL = m.TokenEndpoint, m.DeviceAuthorizationEndpoint
	return e.url, nil
}

// serverURL checks an issuer URL and returns it without a trailing slash.
func serverURL(server string) (string, error) {
	u, err := url.Parse(server)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("keyward: the server URL %q is not an http or https URL such as https://auth.example.com", server)
	}
	return strings.TrimSuffix(server, "/"), nil
}

// token posts one token request. id and secret, when set, go in the HTTP Basic header,
// form-URL-encoded first as RFC 6749 §2.3.1 asks.
func (e *endpoint) token(ctx context.Context, now func() time.Time, form url.Values, id, secret string) (*TokenResponse, error) {
	tokenURL, err := e.tokenURL(ctx)
	if err != nil {
		return nil, err
	}
	sent := clock(now)()
	resp, body, fresh, err := e.post(ctx, tokenURL, form, id, secret)
	if err != nil {
		return nil, err
	}
	if fresh && resp.StatusCode == http.StatusBadRequest && retrieveError(resp, body).ErrorCode == "use_dpop_nonce" {
		// The server wants its nonce in the proof (RFC 9449 §8): one more try with it.
		sent = clock(now)()
		if resp, body, _, err = e.post(ctx, tokenURL, form, id, secret); err != nil {
			return nil, err
		}
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("keyward: %s grant refused: %w", form.Get("grant_type"), retrieveError(resp, body))
	}
	var tr TokenResponse
	if err := json.Unmarshal(body, &tr); err != nil {
		return nil, fmt.Errorf("keyward: the token response is not valid JSON")
	}
	if tr.AccessToken == "" || tr.ExpiresIn <= 0 {
		return nil, fmt.Errorf("keyward: the token response lacks an access token with a lifetime")
	}
	// A client that asked for a DPoP token and got a bearer one would send a token that anyone who
	// copies it can use (RFC 9449 §5): that is an error, not a quiet downgrade.
	if want := tokenType(e.dpop); !strings.EqualFold(tr.TokenType, want) {
		return nil, fmt.Errorf("keyward: the server answered a %s token where a %s token was asked for", tr.TokenType, want)
	}
	tr.Expiry = sent.Add(time.Duration(tr.ExpiresIn) * time.Second)
	if tr.RefreshToken != "" && tr.RefreshExpiresIn > 0 {
		tr.RefreshExpiry = sent.Add(time.Duration(tr.RefreshExpiresIn) * time.Second)
	}
	return &tr, nil
}

// post sends one token request, with a fresh DPoP proof when the endpoint has a key, and returns
// the response with its body read. It remembers a nonce the server sends with any answer, and
// reports whether it is a new one.
func (e *endpoint) post(ctx context.Context, tokenURL string, form url.Values, id, secret string) (resp *http.Response, body []byte, freshNonce bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, nil, false, fmt.Errorf("keyward: token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if secret != "" {
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	}
	var nonce string
	if e.dpop != nil {
		var proof string
		if proof, nonce, err = e.dpop.proof(http.MethodPost, req.URL, ""); err != nil {
			return nil, nil, false, err
		}
		req.Header.Set("DPoP", proof)
	}
	resp, err = e.hc.Do(req)
	if err != nil {
		// The error names the URL and the cause; the form (and its secrets) is not in it.
		return nil, nil, false, fmt.Errorf("keyward: token request (%s): %w", form.Get("grant_type"), err)
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return nil, nil, false, fmt.Errorf("keyward: reading the token response: %w", err)
	}
	if e.dpop != nil {
		freshNonce = e.dpop.remember(req.URL, resp.Header, nonce)
	}
	return resp, body, freshNonce, nil
}

// tokenType is the token_type a token endpoint must answer to a client with p.
func tokenType(p *prover) string {
	if p != nil {
		return "DPoP"
	}
	return "Bearer"
}

// retrieveError is an OAuth error response (RFC 6749 §5.2) as golang.org/x/oauth2 reports one.
func retrieveError(resp *http.Response, body []byte) *oauth2.RetrieveError {
	re := &oauth2.RetrieveError{Response: resp, Body: body}
	if isJSON(resp.Header.Get("Content-Type")) {
		var e struct {
			Code        string `json:"error"`
			Description string `json:"error_description"`
			URI         string `json:"error_uri"`
		}
		if json.Unmarshal(body, &e) == nil {
			re.ErrorCode, re.ErrorDescription, re.ErrorURI = e.Code, e.Description, e.URI
		}
	}
	return re
}

func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

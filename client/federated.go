package client

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// Workload identity federation: the grant types and token types of RFC 8693 and RFC 7523.
const (
	// GrantTokenExchange is the token exchange grant (RFC 8693): subject_token and
	// subject_token_type in, an access token out.
	GrantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	// GrantJWTBearer is the JWT bearer grant (RFC 7523 §2.1): the JWT goes in assertion.
	GrantJWTBearer = "urn:ietf:params:oauth:grant-type:jwt-bearer"

	TokenTypeJWT         = "urn:ietf:params:oauth:token-type:jwt"
	TokenTypeIDToken     = "urn:ietf:params:oauth:token-type:id_token"
	TokenTypeAccessToken = "urn:ietf:params:oauth:token-type:access_token"
)

// maxSubjectBytes bounds a subject token read from a file or from GitHub: real ones are one or
// two kilobytes, and a file that is larger is not a token.
const maxSubjectBytes = 64 << 10

// SubjectSource supplies the identity token a workload's platform gave it (a Kubernetes
// projected service account token, a CI job's OIDC token), which FederatedTokenSource trades for
// keyward access tokens. SubjectToken is called for every exchange, so a source that rotates is
// read afresh each time; it must be safe for concurrent use, and its errors must not contain the
// token.
type SubjectSource interface {
	SubjectToken(ctx context.Context) (string, error)
}

// FederatedConfig is the configuration of a FederatedTokenSource.
type FederatedConfig struct {
	// Server is the keyward server's issuer URL; the token endpoint is discovered from its
	// metadata.
	Server string
	// Project, an id or a name, picks the project when rules of several projects match the
	// subject token; empty lets the server choose the one that matches.
	Project string
	// Scope optionally narrows the tokens to some of the target's permissions.
	Scope []string
	// Subject supplies the identity token to exchange.
	Subject SubjectSource
	// Grant is "token-exchange" (RFC 8693, the default) or "jwt-bearer" (RFC 7523); the full
	// grant type URNs are accepted too.
	Grant string
	// HTTPClient makes the requests, to keyward and to GitHub Actions' token service. Nil means
	// the client stored in the context under oauth2.HTTPClient, or else a client with a
	// 30-second timeout.
	HTTPClient *http.Client
	// ExpiryDelta and Now are as in Config.
	ExpiryDelta time.Duration
	Now         func() time.Time
}

// FederatedTokenSource returns a source of access tokens obtained by trading the workload's
// identity token from c.Subject at the token endpoint, with no API key anywhere. Safe for
// concurrent use.
//
// The source caches the access token until shortly before it expires, then reads the subject
// token again and exchanges it. The server accepts a subject token once, so the source never
// presents the same one twice while its access token is still valid: until the platform rotates
// the subject token, the cached access token is served to its end. When the exchange fails for a
// reason of the network or the server and the cached token is still valid, that token is served
// and the exchange is tried again at the next call. There is no refresh token: a federated token
// is renewed only by a fresh proof of the workload's identity.
//
// ctx carries every request the source makes. Errors from the server wrap an
// *oauth2.RetrieveError whose ErrorDescription says which check the subject token failed.
// Neither the subject token nor the access token ever appears in an error.
func FederatedTokenSource(ctx context.Context, c FederatedConfig) oauth2.TokenSource {
	s := &federatedSource{ctx: ctx, c: c, ep: &endpoint{server: c.Server, hc: httpClient(ctx, c.HTTPClient)}}
	s.grant, s.grantErr = FederatedGrant(c.Grant)
	return s
}

type federatedSource struct {
	ctx      context.Context
	c        FederatedConfig
	ep       *endpoint
	grant    string
	grantErr error

	mu      sync.Mutex
	tok     *oauth2.Token
	renewAt time.Time
	spent   [sha256.Size]byte // the digest of the subject token tok was issued for
}

func (s *federatedSource) Token() (*oauth2.Token, error) {
	if s.grantErr != nil {
		return nil, s.grantErr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := clock(s.c.Now)()
	if s.tok != nil && now.Before(s.renewAt) {
		return copyToken(s.tok), nil
	}
	valid := s.tok != nil && now.Before(s.tok.Expiry)
	subject, err := readSubject(s.ctx, s.ep.hc, s.c.Subject)
	if err != nil {
		if valid {
			// A file caught mid-rotation, say: the token in hand still works.
			return copyToken(s.tok), nil
		}
		return nil, err
	}
	digest := sha256.Sum256([]byte(subject))
	if valid && digest == s.spent {
		// Presenting it again would be refused as a replay: wait for the platform's next one.
		return copyToken(s.tok), nil
	}
	resp, err := exchangeSubject(s.ctx, s.ep, s.c, s.grant, subject)
	if err != nil {
		if valid && !refusedRequest(err) {
			return copyToken(s.tok), nil
		}
		return nil, err
	}
	t := resp.OAuth2()
	t.RefreshToken = ""
	s.tok, s.spent = t, digest
	s.renewAt = renewAt(resp.Expiry, resp.ExpiresIn, s.c.ExpiryDelta)
	return copyToken(t), nil
}

// refusedRequest reports whether the server refused the request itself (a 4xx other than
// throttling), as opposed to failing to answer it: the network, a 5xx, a 429.
func refusedRequest(err error) bool {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.Response == nil {
		return false
	}
	code := re.Response.StatusCode
	return code >= 400 && code < 500 && code != http.StatusTooManyRequests
}

// ExchangeSubject trades the subject token from c.Subject for an access token once, without
// caching: for programs that print or hand over a token (such as `keyward token --federated`).
// Programs that call an API should use FederatedTokenSource.
func ExchangeSubject(ctx context.Context, c FederatedConfig) (*TokenResponse, error) {
	grant, err := FederatedGrant(c.Grant)
	if err != nil {
		return nil, err
	}
	ep := &endpoint{server: c.Server, hc: httpClient(ctx, c.HTTPClient)}
	subject, err := readSubject(ctx, ep.hc, c.Subject)
	if err != nil {
		return nil, err
	}
	return exchangeSubject(ctx, ep, c, grant, subject)
}

// readSubject reads the subject token, with hc for sources that fetch it over HTTP, and checks
// that it has the shape of a JWT before it is sent anywhere.
func readSubject(ctx context.Context, hc *http.Client, src SubjectSource) (string, error) {
	if src == nil {
		return "", errors.New("keyward: no subject token source is configured (FederatedConfig.Subject)")
	}
	if _, ok := ctx.Value(oauth2.HTTPClient).(*http.Client); !ok {
		ctx = context.WithValue(ctx, oauth2.HTTPClient, hc)
	}
	tok, err := src.SubjectToken(ctx)
	if err != nil {
		return "", err
	}
	if !jwtShaped(tok) {
		return "", fmt.Errorf("keyward: the subject token from %s is not a JWT (three base64url parts joined by dots)", describe(src))
	}
	return tok, nil
}

// jwtShaped reports whether tok is three non-empty base64url parts joined by dots: the compact
// serialization every OpenID provider issues. Only the shape is checked; the server checks the
// rest.
func jwtShaped(tok string) bool {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return false
	}
	for _, p := range parts {
		if p == "" {
			return false
		}
		for _, r := range p {
			if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}

func describe(src SubjectSource) string {
	if s, ok := src.(fmt.Stringer); ok {
		return s.String()
	}
	return "the configured source"
}

// FederatedGrant returns the grant type URN that FederatedConfig.Grant names: "" and
// "token-exchange" are GrantTokenExchange, "jwt-bearer" is GrantJWTBearer, and the URNs stand for
// themselves.
func FederatedGrant(grant string) (string, error) {
	switch grant {
	case "", "token-exchange", GrantTokenExchange:
		return GrantTokenExchange, nil
	case "jwt-bearer", GrantJWTBearer:
		return GrantJWTBearer, nil
	}
	return "", fmt.Errorf("keyward: the grant %q is neither token-exchange nor jwt-bearer", grant)
}

// exchangeSubject posts one federated token request of grant (a URN), without client
// authentication: the subject token is the credential.
func exchangeSubject(ctx context.Context, ep *endpoint, c FederatedConfig, grant, subject string) (*TokenResponse, error) {
	form := url.Values{"grant_type": {grant}}
	if grant == GrantTokenExchange {
		form.Set("subject_token", subject)
		form.Set("subject_token_type", TokenTypeJWT)
	} else {
		form.Set("assertion", subject)
	}
	if len(c.Scope) > 0 {
		form.Set("scope", strings.Join(c.Scope, " "))
	}
	if c.Project != "" {
		form.Set("project", c.Project)
	}
	resp, err := ep.token(ctx, c.Now, form, "", "")
	if err != nil {
		return nil, err
	}
	if grant == GrantTokenExchange && resp.IssuedTokenType != TokenTypeAccessToken {
		return nil, fmt.Errorf("keyward: the token exchange issued %q rather than an access token", resp.IssuedTokenType)
	}
	return resp, nil
}

// SubjectFromFile reads the subject token from a file, such as a Kubernetes projected service
// account token. The file is read again whenever it changed (another file, modification time or
// size), so a token the kubelet rotates, by an atomic swap of a symbolic link, is picked up.
// Surrounding whitespace is ignored; a missing or empty file is an error naming the path.
func SubjectFromFile(path string) SubjectSource { return &fileSubject{path: path} }

type fileSubject struct {
	path string

	mu    sync.Mutex
	info  os.FileInfo // of what token was read from
	token string
}

func (f *fileSubject) String() string { return "the file " + f.path }

func (f *fileSubject) SubjectToken(context.Context) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	// The path is looked at each time, not an open descriptor: a rotation replaces the file.
	fi, err := os.Stat(f.path)
	if err != nil {
		return "", fmt.Errorf("keyward: reading the subject token: %w", err)
	}
	if f.info != nil && os.SameFile(f.info, fi) && fi.ModTime().Equal(f.info.ModTime()) && fi.Size() == f.info.Size() {
		return f.token, nil
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("keyward: the subject token file %s is not a regular file", f.path)
	}
	file, err := os.Open(f.path)
	if err != nil {
		return "", fmt.Errorf("keyward: reading the subject token: %w", err)
	}
	defer file.Close()
	data, err := io.ReadAll(io.LimitReader(file, maxSubjectBytes+1))
	switch {
	case err != nil:
		return "", fmt.Errorf("keyward: reading the subject token file %s: %w", f.path, err)
	case len(data) > maxSubjectBytes:
		return "", fmt.Errorf("keyward: the subject token file %s is larger than %d KiB: it does not hold a token", f.path, maxSubjectBytes>>10)
	}
	tok := strings.TrimSpace(string(data))
	if tok == "" {
		return "", fmt.Errorf("keyward: the subject token file %s is empty", f.path)
	}
	f.info, f.token = fi, tok
	return tok, nil
}

// SubjectFromEnv reads the subject token from the environment variable name at every exchange.
func SubjectFromEnv(name string) SubjectSource { return envSubject(name) }

type envSubject string

func (e envSubject) String() string { return "the environment variable " + string(e) }

func (e envSubject) SubjectToken(context.Context) (string, error) {
	tok := strings.TrimSpace(os.Getenv(string(e)))
	if tok == "" {
		return "", fmt.Errorf("keyward: the environment variable %s, which should hold the subject token, is empty or not set", string(e))
	}
	return tok, nil
}

// The variables through which a GitHub Actions job requests its OIDC token.
const (
	GitHubRequestURLEnv   = "ACTIONS_ID_TOKEN_REQUEST_URL"
	GitHubRequestTokenEnv = "ACTIONS_ID_TOKEN_REQUEST_TOKEN"
)

// SubjectFromGitHubActions requests a fresh OIDC token for the running GitHub Actions job at
// every exchange, with audience as its aud claim (empty: GitHub's default, the repository
// owner's URL). The job needs `permissions: id-token: write`, which makes the runner set
// ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN. The request uses the HTTP
// client in the context under oauth2.HTTPClient (FederatedTokenSource puts its own there).
func SubjectFromGitHubActions(audience string) SubjectSource {
	return githubSubject{audience: audience}
}

type githubSubject struct{ audience string }

func (githubSubject) String() string { return "GitHub Actions" }

func (g githubSubject) SubjectToken(ctx context.Context) (string, error) {
	reqURL, bearer := os.Getenv(GitHubRequestURLEnv), os.Getenv(GitHubRequestTokenEnv)
	var missing []string
	for name, v := range map[string]string{GitHubRequestURLEnv: reqURL, GitHubRequestTokenEnv: bearer} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	switch len(missing) {
	case 2:
		return "", fmt.Errorf("keyward: %s and %s are not set: this is not a GitHub Actions job, or the workflow lacks `permissions: id-token: write`", GitHubRequestURLEnv, GitHubRequestTokenEnv)
	case 1:
		return "", fmt.Errorf("keyward: %s is not set: set `permissions: id-token: write` in the workflow", missing[0])
	}
	u, err := url.Parse(reqURL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return "", fmt.Errorf("keyward: %s is not an http or https URL", GitHubRequestURLEnv)
	}
	if g.audience != "" {
		// The URL comes with a query string (api-version) that is kept as it is.
		sep := "&"
		if u.RawQuery == "" {
			sep = "?"
		}
		reqURL += sep + "audience=" + url.QueryEscape(g.audience)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, reqURL, nil)
	if err != nil {
		return "", fmt.Errorf("keyward: GitHub Actions token request: %w", err)
	}
	req.Header.Set("Authorization", "bearer "+bearer)
	req.Header.Set("Accept", "application/json")
	resp, err := httpClient(ctx, nil).Do(req)
	if err != nil {
		return "", fmt.Errorf("keyward: requesting the GitHub Actions OIDC token: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxSubjectBytes))
	if err != nil {
		return "", fmt.Errorf("keyward: reading the GitHub Actions OIDC token: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("keyward: GitHub Actions answered %s to the OIDC token request", resp.Status)
	}
	var answer struct {
		Value string `json:"value"`
	}
	if err := json.Unmarshal(body, &answer); err != nil || answer.Value == "" {
		return "", errors.New("keyward: GitHub Actions' answer to the OIDC token request holds no token")
	}
	return answer.Value, nil
}

package middleware

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/keyward/keyward/accesstoken"
	"github.com/keyward/keyward/clientip"
)

// Defaults of Config.
const (
	DefaultLeeway         = 30 * time.Second
	DefaultCacheSize      = 10000
	DefaultJWKSMinRefresh = 10 * time.Second
	// DefaultJWKSRefetchTimeout bounds the JWKS refetch for an unknown kid, which the request
	// that caused it waits for: short, because a request is waiting, yet ample for an issuer that
	// answers at all.
	DefaultJWKSRefetchTimeout = 3 * time.Second
	// DefaultMaxStaleness is how long the revocation feed may be unreachable before requests are
	// refused: long enough to ride out a restart or a rolling deploy of keyward (the verifier
	// reconnects within ten seconds of its return and catches up on what it missed), short
	// enough that a key deleted during an outage is not honoured for long, when its tokens would
	// otherwise live for hours.
	DefaultMaxStaleness = 2 * time.Minute
)

const (
	// maxFetchBytes bounds a metadata, JWKS or feed page response.
	maxFetchBytes = 4 << 20
	fetchTimeout  = 10 * time.Second
	metadataPath  = "/.well-known/oauth-authorization-server"
	feedPath      = "/v1/revocations"
)

// Config configures a Verifier. Only Issuer is required.
type Config struct {
	// Issuer is the keyward server's issuer URL, exactly as it appears in the tokens' iss claim,
	// such as "https://auth.example.com". Metadata, JWKS and the revocation feed are found from it.
	Issuer string
	// Audience must be in each token's aud claim; empty means the issuer, keyward's default.
	Audience string
	// Leeway is the clock skew tolerated on exp, nbf and iat. Zero means DefaultLeeway (30 s);
	// a negative value means none.
	Leeway time.Duration
	// Algorithms is the signature allow-list; empty means ES256, EdDSA and RS256. Only asymmetric
	// algorithms are accepted (accesstoken.Asymmetric).
	Algorithms []string
	// TrustedProxies are the networks of reverse proxies whose X-Forwarded-For or Forwarded header
	// is believed, as keyward's --trusted-proxies: the client address is the right-most one not in
	// this list. Empty means the TCP peer is the client.
	TrustedProxies []netip.Prefix
	// HTTPClient fetches the metadata, the JWKS and the revocation feed; nil means a client with a
	// 10-second timeout. Its timeout does not apply to the long-lived feed stream.
	HTTPClient *http.Client
	// CacheSize bounds the verified-token cache; zero means DefaultCacheSize, a negative value
	// disables the cache (every request then pays a signature verification).
	CacheSize int
	// JWKSMinRefresh is the least time between two JWKS fetches caused by a token with an unknown
	// kid, so that a flood of forged kids cannot turn into a flood of fetches; zero means
	// DefaultJWKSMinRefresh (10 s).
	JWKSMinRefresh time.Duration
	// JWKSRefetchTimeout bounds that fetch; zero means DefaultJWKSRefetchTimeout (3 s). Only the
	// request that started it waits for it: others with unknown kids are refused meanwhile, and
	// requests with known kids never wait.
	JWKSRefetchTimeout time.Duration
	// MaxStaleness is how long the revocation feed may be unreachable before every request is
	// refused with 503 and Retry-After, until it is back: the verifier fails closed, because
	// during an outage it cannot learn that a key was deleted. Zero means DefaultMaxStaleness
	// (2 minutes).
	MaxStaleness time.Duration
	// FailOpen keeps accepting tokens however long the feed is unreachable (FeedStatus reports
	// the outage), so that an outage of the authorization server does not take the API down, at
	// the price of honouring deleted keys and revoked sessions until it ends. It excludes
	// MaxStaleness.
	FailOpen bool
	// SkipRevocationFeed does not follow the revocation feed: tokens of deleted keys and revoked
	// sessions are then accepted until they expire. For issuers without a feed and for tests.
	SkipRevocationFeed bool
	// Realm, when set, is sent as the realm of WWW-Authenticate challenges.
	Realm string
	// PublicURL is the API's URL as its clients call it, such as "https://api.example.com" (a
	// path, when a proxy strips one, is put before each request's path). DPoP proofs must name
	// it (htu); empty means the request's Host and TLS state, which a TLS-terminating proxy
	// changes. When set, Handler serves RFC 9728 metadata naming it as the resource, and
	// challenges name that metadata.
	PublicURL string
	// RequireDPoP refuses bearer tokens: every token must be DPoP-bound and sent with a proof.
	RequireDPoP bool
	// DPoPAlgorithms are the proof algorithms accepted; empty means dpop.DefaultAlgs.
	DPoPAlgorithms []string
	// DPoPReplayCacheSize bounds the proofs remembered to refuse a replay; zero means
	// dpop.DefaultReplayEntries.
	DPoPReplayCacheSize int
	// Logger receives feed and JWKS problems (never a token); nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Verifier checks access tokens of one issuer. It is safe for concurrent use. Close stops its
// background work (the revocation feed and JWKS refreshes).
type Verifier struct {
	issuer, audience string
	tokenEndpoint    string // for the advice given to a raw API key
	leeway           time.Duration
	algs             []jose.SignatureAlgorithm
	maxStaleness     time.Duration // zero: fail open
	challenge        challenge
	dpop             dpopConfig
	proxies          clientip.Resolver
	now              func() time.Time
	log              *slog.Logger
	hc               *http.Client

	keys  *keySet
	cache *tokenCache // nil when disabled
	feed  *feed       // nil when skipped

	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed sync.Once
}

// metadata is the part of the RFC 8414 metadata the verifier uses.
type metadata struct {
	Issuer        string `json:"issuer"`
	JWKSURI       string `json:"jwks_uri"`
	TokenEndpoint string `json:"token_endpoint"`
}

// New discovers the issuer's metadata, fetches its JWKS and catches up with its revocation feed,
// all within ctx, then keeps them current in the background until Close. It fails when the issuer
// cannot be reached, so that an API never starts accepting tokens it cannot check.
func New(ctx context.Context, c Config) (*Verifier, error) {
	issuer, err := checkIssuer(c.Issuer)
	if err != nil {
		return nil, err
	}
	if c.MaxStaleness < 0 || c.FailOpen && c.MaxStaleness != 0 {
		return nil, errors.New("middleware: MaxStaleness must be positive, and is meaningless with FailOpen")
	}
	v := &Verifier{
		issuer:       c.Issuer,
		audience:     c.Audience,
		leeway:       c.Leeway,
		maxStaleness: c.MaxStaleness,
		challenge:    challenge{realm: c.Realm},
		proxies:      clientip.Resolver{Trusted: c.TrustedProxies},
		now:          c.Now,
		log:          c.Logger,
		hc:           c.HTTPClient,
	}
	if v.audience == "" {
		v.audience = c.Issuer
	}
	switch {
	case v.leeway == 0:
		v.leeway = DefaultLeeway
	case v.leeway < 0:
		v.leeway = 0
	}
	if v.maxStaleness == 0 && !c.FailOpen {
		v.maxStaleness = DefaultMaxStaleness
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.log == nil {
		v.log = slog.New(slog.DiscardHandler)
	}
	if v.hc == nil {
		v.hc = &http.Client{Timeout: fetchTimeout}
	}
	if !validQuoted(c.Realm) {
		return nil, errors.New("middleware: Realm must be printable ASCII without quotes or backslashes")
	}
	if err := v.configureDPoP(c); err != nil {
		return nil, err
	}
	algs := c.Algorithms
	if len(algs) == 0 {
		algs = []string{"ES256", "EdDSA", "RS256"}
	}
	for _, a := range algs {
		if !accesstoken.Asymmetric(jose.SignatureAlgorithm(a)) {
			return nil, fmt.Errorf("middleware: algorithm %q is not allowed; use asymmetric ones such as ES256, EdDSA or RS256", a)
		}
		v.algs = append(v.algs, jose.SignatureAlgorithm(a))
	}

	m, err := v.discover(ctx, issuer)
	if err != nil {
		return nil, err
	}
	v.tokenEndpoint = m.TokenEndpoint
	minRefresh := c.JWKSMinRefresh
	if minRefresh <= 0 {
		minRefresh = DefaultJWKSMinRefresh
	}
	refetchTimeout := c.JWKSRefetchTimeout
	if refetchTimeout <= 0 {
		refetchTimeout = DefaultJWKSRefetchTimeout
	}
	v.keys = &keySet{url: m.JWKSURI, hc: v.hc, algs: v.algs, minRefresh: minRefresh, refetchTimeout: refetchTimeout, now: v.now, log: v.log}
	if err := v.keys.fetch(ctx); err != nil {
		return nil, err
	}
	switch size := c.CacheSize; {
	case size == 0:
		v.cache = newTokenCache(DefaultCacheSize)
	case size > 0:
		v.cache = newTokenCache(size)
	}
	bg, cancel := context.WithCancel(context.Background())
	v.cancel = cancel
	if !c.SkipRevocationFeed {
		v.feed = newFeed(issuer+feedPath, v.hc, v.now, v.log, v.leeway)
		if err := v.feed.catchUp(ctx); err != nil {
			cancel()
			return nil, err
		}
		v.wg.Go(func() { v.feed.follow(bg) })
	}
	v.wg.Go(func() { v.maintain(bg) })
	return v, nil
}

// Close stops the background work. Tokens are still verified afterwards, without revocation
// updates or key refreshes.
func (v *Verifier) Close() error {
	v.closed.Do(func() {
		v.cancel()
		v.wg.Wait()
	})
	return nil
}

// maintain refreshes the JWKS when its Cache-Control max-age runs out, and forgets revocations
// whose tokens have all expired.
func (v *Verifier) maintain(ctx context.Context) {
	sweep := time.NewTicker(time.Minute)
	defer sweep.Stop()
	for {
		refresh := time.NewTimer(v.keys.nextRefresh())
		select {
		case <-ctx.Done():
			refresh.Stop()
			return
		case <-refresh.C:
			fctx, cancel := context.WithTimeout(ctx, fetchTimeout)
			if err := v.keys.fetch(fctx); err != nil && ctx.Err() == nil {
				v.log.Warn("keyward JWKS refresh failed; keeping the keys already known", "err", err)
			}
			cancel()
		case <-sweep.C:
			if v.feed != nil {
				v.feed.sweep()
			}
			refresh.Stop()
		}
	}
}

// checkIssuer accepts an absolute http(s) URL and returns it without a trailing slash, as the
// base of the metadata and feed paths.
func checkIssuer(issuer string) (string, error) {
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("middleware: Issuer %q must be the keyward server's URL, such as https://auth.example.com", issuer)
	}
	return strings.TrimSuffix(issuer, "/"), nil
}

// discover fetches the metadata. Its issuer must be exactly the configured one (RFC 8414 §3.3),
// and keys from an https issuer must come over https.
func (v *Verifier) discover(ctx context.Context, base string) (*metadata, error) {
	var m metadata
	if _, err := getJSON(ctx, v.hc, base+metadataPath, &m); err != nil {
		return nil, fmt.Errorf("middleware: discovering the issuer: %w", err)
	}
	if m.Issuer != v.issuer {
		return nil, fmt.Errorf("middleware: the metadata at %s names the issuer %q, not %q", base+metadataPath, m.Issuer, v.issuer)
	}
	u, err := url.Parse(m.JWKSURI)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		return nil, fmt.Errorf("middleware: the issuer's metadata has no usable jwks_uri")
	case strings.HasPrefix(base, "https:") && u.Scheme != "https":
		return nil, fmt.Errorf("middleware: the issuer's jwks_uri %s is not https", m.JWKSURI)
	}
	return &m, nil
}

// getJSON fetches url into dst and returns the response headers.
func getJSON(ctx context.Context, hc *http.Client, url string, dst any) (http.Header, error) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxFetchBytes))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s answered %s", url, resp.Status)
	}
	if err := json.Unmarshal(body, dst); err != nil {
		return nil, fmt.Errorf("%s did not answer JSON: %w", url, err)
	}
	return resp.Header, nil
}

// Caller is the verified bearer of a request's token. Each request gets its own Caller: a handler
// may change it, and its slices, without affecting any other request.
type Caller struct {
	Subject     string   // "key:<id>", "user:<id>", or "federated:<rule id>" for a workload let in by a rule granting a role
	KeyID       string   // the API key's id, for a key's token
	UserID      string   // the user's id, for a user's token
	Project     string   // the project id the token is bound to; empty for a user token not narrowed to one
	Permissions []string // the token's scope
	SessionID   string   // sid: the session, which a revocation ends
	ClientID    string   // client_id: the key id, or "keyward" for a user's token
	TokenID     string   // jti
	Expiry      time.Time
	// Networks are the key's allowed networks; empty means any address.
	Networks []netip.Prefix
	// JKT is the thumbprint of the key the token is bound to (cnf.jkt, RFC 9449 §6.1); a request
	// reaches a handler with such a token only with a proof signed by that key.
	JKT string

	feedNames feedNames // how the revocation feed would name its session and key
}

// Has reports whether the token carries every one of perms.
func (c *Caller) Has(perms ...string) bool {
	for _, p := range perms {
		if !slices.Contains(c.Permissions, p) {
			return false
		}
	}
	return true
}

// allows reports whether addr may use the token.
func (c *Caller) allows(addr netip.Addr) bool {
	if len(c.Networks) == 0 {
		return true
	}
	addr = addr.Unmap()
	for _, n := range c.Networks {
		if n.Contains(addr) {
			return true
		}
	}
	return false
}

// clone copies c, so that the cached Caller, shared by every request with the same token, never
// reaches a handler.
func (c *Caller) clone() *Caller {
	out := *c
	out.Permissions = slices.Clone(c.Permissions)
	out.Networks = slices.Clone(c.Networks)
	return &out
}

// Verify checks a raw access token: its signature and claims, and that its session and key are
// not revoked, which it cannot tell once the revocation feed is stale beyond MaxStaleness (503,
// unless FailOpen). It does not check the client address or a DPoP binding (Handler does, knowing
// the request): a token with Caller.JKT set is only good with a proof of that key. Every
// failure is an *Error.
func (v *Verifier) Verify(raw string) (*Caller, error) {
	c, err := v.verifyCached(raw)
	if err != nil {
		return nil, err
	}
	if err := v.live(c); err != nil {
		return nil, err
	}
	return c.clone(), nil
}

// verifyCached returns the Caller of a token verified before and still unexpired, or verifies it.
func (v *Verifier) verifyCached(raw string) (*Caller, error) {
	if len(raw) > accesstoken.MaxLength {
		// Before hashing: an oversized token must cost nothing.
		return nil, refusal(accesstoken.ErrTooLong)
	}
	now := v.now()
	if v.cache == nil {
		return v.verifyNamed(raw, now)
	}
	key := cacheKey(raw)
	if c, ok := v.cache.get(key, now, v.leeway); ok {
		return c, nil
	}
	c, err := v.verifyNamed(raw, now)
	if err != nil {
		return nil, err
	}
	v.cache.put(key, c, now, v.leeway)
	return c, nil
}

// verifyNamed verifies a token and names its caller for the revocation feed, once.
func (v *Verifier) verifyNamed(raw string, now time.Time) (*Caller, error) {
	c, err := v.verify(raw, now)
	if err != nil {
		return nil, err
	}
	c.feedNames = namesOf(c)
	return c, nil
}

// live refuses a token whose lifetime ended since it was cached, or that the revocation feed
// refuses.
func (v *Verifier) live(c *Caller) error {
	if !v.now().Before(c.Expiry.Add(v.leeway)) {
		return refusal(accesstoken.ErrExpired)
	}
	if v.feed != nil {
		return v.feed.check(c, v.maxStaleness)
	}
	return nil
}

// verify does the full verification of an uncached token.
func (v *Verifier) verify(raw string, now time.Time) (*Caller, error) {
	if strings.HasPrefix(raw, apiKeyPrefix) {
		return nil, v.rawKeyError()
	}
	t, err := accesstoken.Verify(raw, accesstoken.Options{
		Algorithms: v.algs,
		Key: func(kid string, alg jose.SignatureAlgorithm) (crypto.PublicKey, bool) {
			return v.keys.lookup(kid, string(alg))
		},
		Issuer:   v.issuer,
		Audience: v.audience,
		Leeway:   v.leeway,
		Time:     now,
	})
	if err != nil {
		return nil, refusal(err)
	}
	c := &t.Claims
	return &Caller{
		Subject:     c.Subject,
		KeyID:       t.KeyID,
		UserID:      t.UserID,
		Project:     c.Project,
		Permissions: strings.Fields(c.Scope),
		SessionID:   c.SessionID,
		ClientID:    c.ClientID,
		TokenID:     c.ID,
		Expiry:      c.Expiry.Time().UTC(),
		Networks:    t.Networks,
		JKT:         jktOf(c),
	}, nil
}

// refusals are the descriptions of accesstoken's refusals, first match wins.
var refusals = []struct {
	err  error
	desc string
}{
	{accesstoken.ErrTooLong, "The access token is too long."},
	{accesstoken.ErrMalformed, "The access token is malformed."},
	{accesstoken.ErrAlgorithm, "The access token's signature algorithm is not allowed."},
	{accesstoken.ErrType, "The token is not an access token (typ must be at+jwt)."},
	{accesstoken.ErrCritical, "The access token has unsupported critical headers."},
	{accesstoken.ErrUnsupportedHeader, "The access token has unsupported headers."},
	{accesstoken.ErrNoKeyID, "The access token names no signing key (kid)."},
	{accesstoken.ErrUnknownKey, "The access token is signed by an unknown key."},
	{accesstoken.ErrKeyAlgorithm, "The access token's algorithm does not match its signing key."},
	{accesstoken.ErrSignature, "The access token's signature is invalid."},
	{accesstoken.ErrMalformedClaims, "The access token's claims are malformed."},
	{accesstoken.ErrIssuer, "The access token is from another issuer."},
	{accesstoken.ErrAudience, "The access token is meant for another audience."},
	{accesstoken.ErrMissingClaim, "The access token lacks required claims."},
	{accesstoken.ErrExpired, "The access token has expired."},
	{accesstoken.ErrNotYetValid, "The access token is not valid yet."},
	{accesstoken.ErrIssuedInFuture, "The access token is issued in the future."},
	{accesstoken.ErrSubject, "The access token's subject is neither a key nor a user."},
	{accesstoken.ErrClientID, "The access token's client_id does not match its subject."},
	{accesstoken.ErrNetworks, "The access token's network restriction is malformed."},
}

// refusal is the 401 for a refusal of accesstoken.Verify. Options the verifier built itself
// cannot be misconfigured, so any other error is reported as a malformed token rather than a 5xx.
func refusal(err error) *Error {
	for _, r := range refusals {
		if errors.Is(err, r.err) {
			return invalidToken(r.desc)
		}
	}
	return invalidToken("The access token is malformed.")
}

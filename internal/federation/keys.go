package federation

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/keyward/keyward/accesstoken"
)

// Fetching and caching of issuers' keys.
const (
	fetchTimeout = 5 * time.Second
	maxDocBytes  = 256 << 10
	// keysTTL is how long a fetched key set is used before it is fetched again.
	keysTTL = 10 * time.Minute
	// minRefetch spaces the refetches that unknown kids cause: a flood of forged kids costs
	// one fetch per issuer per minRefetch.
	minRefetch = 30 * time.Second
	// retryAfter is how long an issuer whose keys could not be fetched is not asked again; the
	// token endpoint tells clients to come back then.
	retryAfter = 10 * time.Second
)

// Algorithms are the signature algorithms identity tokens may use: asymmetric ones only.
var Algorithms = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512, jose.EdDSA,
}

// Unavailable is the failure to fetch an issuer's keys: the exchange fails closed, and the client
// may retry after RetryAfter.
type Unavailable struct {
	RetryAfter time.Duration
	Err        error
}

func (u *Unavailable) Error() string {
	return "federation: the issuer's keys are unavailable: " + u.Err.Error()
}
func (u *Unavailable) Unwrap() error { return u.Err }

// ErrDiscoveryIssuer: the issuer's discovery document names another issuer, so neither it nor
// the tokens claiming that issuer are trusted.
var ErrDiscoveryIssuer = errors.New("federation: the discovery document names another issuer")

// Keys finds issuers' keys through their discovery documents (or the configured key set URL)
// and caches them. A fetch happens at first use, when the cache is older than keysTTL, and when
// a token names an unknown kid, at most once every minRefetch; after a failure, not before
// retryAfter. The zero value is not usable: set Now.
type Keys struct {
	// HTTP fetches the documents; nil: a client that follows redirects only within the host and
	// never connects to loopback (unless AllowInsecure) or link-local addresses (dialPolicy).
	HTTP *http.Client
	// AllowInsecure admits http to loopback addresses (see CheckURL), and connections to them.
	AllowInsecure bool
	Now           func() time.Time
	Logger        *slog.Logger

	mu   sync.Mutex
	sets map[source]*keySet
}

// source is where an issuer's keys come from.
type source struct{ issuer, jwksURI string }

type keySet struct {
	mu       sync.Mutex
	keys     map[string]jose.JSONWebKey // by kid: usable keys only
	fetched  time.Time                  // the last successful fetch
	tried    time.Time                  // the last fetch attempt
	failed   error                      // the last attempt's failure, nil after a success
	inflight chan struct{}
}

func (k *Keys) set(src source) *keySet {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.sets == nil {
		k.sets = map[source]*keySet{}
	}
	s, ok := k.sets[src]
	if !ok {
		s = &keySet{}
		k.sets[src] = s
	}
	return s
}

// Key returns the key of the issuer named kid and the algorithm it verifies. A nil key with no
// error: the issuer has no such key. *Unavailable when the keys could not be fetched and none is
// known; ErrDiscoveryIssuer when the discovery document names another issuer.
func (k *Keys) Key(ctx context.Context, issuer, jwksURI, kid string) (crypto.PublicKey, jose.SignatureAlgorithm, error) {
	s := k.set(source{issuer, jwksURI})
	for {
		s.mu.Lock()
		now := k.Now()
		key, known := s.keys[kid]
		fresh := s.keys != nil && now.Sub(s.fetched) < keysTTL
		switch {
		case known && fresh:
			s.mu.Unlock()
			return key.Key, jose.SignatureAlgorithm(key.Algorithm), nil
		case s.inflight != nil:
			wait := s.inflight
			s.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return nil, "", &Unavailable{RetryAfter: time.Second, Err: ctx.Err()}
			}
		case s.failed != nil && now.Sub(s.tried) < retryAfter:
			err := s.failed
			s.mu.Unlock()
			if known { // stale keys beat none while the issuer is down
				return key.Key, jose.SignatureAlgorithm(key.Algorithm), nil
			}
			if errors.Is(err, ErrDiscoveryIssuer) {
				return nil, "", err
			}
			return nil, "", &Unavailable{RetryAfter: retryAfter - now.Sub(s.tried), Err: err}
		case !known && s.keys != nil && now.Sub(s.tried) < minRefetch:
			s.mu.Unlock() // an unknown kid, and the keys were fetched a moment ago
			return nil, "", nil
		}
		// Fetch: first use, stale keys, or an unknown kid past minRefetch.
		done := make(chan struct{})
		s.inflight, s.tried = done, now
		s.mu.Unlock()
		keys, err := k.fetch(ctx, issuer, jwksURI)
		s.mu.Lock()
		s.inflight = nil
		s.failed = err
		if err == nil {
			s.keys, s.fetched = keys, k.Now()
		} else if k.Logger != nil {
			k.Logger.Warn("federation: fetching an issuer's keys failed", "issuer", issuer, "err", err)
		}
		close(done)
		s.mu.Unlock()
		if err == nil {
			if key, ok := keys[kid]; ok {
				return key.Key, jose.SignatureAlgorithm(key.Algorithm), nil
			}
			return nil, "", nil
		}
	}
}

// fetch reads the issuer's key set: from jwksURI, or from the jwks_uri of its discovery document.
func (k *Keys) fetch(ctx context.Context, issuer, jwksURI string) (map[string]jose.JSONWebKey, error) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	// Checked again at every fetch: a server restarted without --federation-allow-insecure
	// fetches nothing from the plain http issuers it was given before.
	if err := CheckURL(issuer, k.AllowInsecure); err != nil {
		return nil, fmt.Errorf("the issuer URL: %w", err)
	}
	if jwksURI == "" {
		var err error
		if jwksURI, err = k.discover(ctx, issuer); err != nil {
			return nil, err
		}
	}
	if err := CheckURL(jwksURI, k.AllowInsecure); err != nil {
		return nil, fmt.Errorf("the key set URL: %w", err)
	}
	var set jose.JSONWebKeySet
	if _, err := k.getJSON(ctx, jwksURI, &set); err != nil {
		return nil, err
	}
	keys := map[string]jose.JSONWebKey{}
	for _, key := range set.Keys {
		if alg, ok := accesstoken.PublicKey(key, Algorithms); ok {
			key.Algorithm = string(alg)
			keys[key.KeyID] = key
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("the key set at %s has no usable signing key", jwksURI)
	}
	return keys, nil
}

// discover finds the issuer's jwks_uri in its OpenID Provider metadata, or else in its RFC 8414
// metadata, whose issuer must be the issuer exactly.
func (k *Keys) discover(ctx context.Context, issuer string) (string, error) {
	u, err := url.Parse(issuer)
	if err != nil {
		return "", err
	}
	openid := strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
	// RFC 8414 §3: the well-known segment goes between the host and the path.
	oauth := u.Scheme + "://" + u.Host + "/.well-known/oauth-authorization-server" + strings.TrimSuffix(u.EscapedPath(), "/")
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	status, err := k.getJSON(ctx, openid, &doc)
	if status == http.StatusNotFound {
		_, err = k.getJSON(ctx, oauth, &doc)
	}
	if err != nil {
		return "", err
	}
	if doc.Issuer != issuer {
		return "", fmt.Errorf("%w: %q, not %q", ErrDiscoveryIssuer, doc.Issuer, issuer)
	}
	if doc.JWKSURI == "" {
		return "", errors.New("the discovery document has no jwks_uri")
	}
	return doc.JWKSURI, nil
}

// getJSON fetches url into dst; it returns the status even when it is not 200.
func (k *Keys) getJSON(ctx context.Context, rawURL string, dst any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := k.client().Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, fmt.Errorf("%s answered %s", rawURL, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocBytes+1))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("reading %s: %w", rawURL, err)
	}
	if len(body) > maxDocBytes {
		return resp.StatusCode, fmt.Errorf("%s answered more than %d bytes", rawURL, maxDocBytes)
	}
	if err := json.Unmarshal(body, dst); err != nil {
		return resp.StatusCode, fmt.Errorf("%s did not answer JSON: %w", rawURL, err)
	}
	return resp.StatusCode, nil
}

func (k *Keys) client() *http.Client {
	if k.HTTP != nil {
		return k.HTTP
	}
	return httpClient(dialPolicy(k.AllowInsecure))
}

// sameHost follows at most three redirects, and none to another host or scheme: an issuer
// cannot send keyward's requests somewhere else.
func sameHost(req *http.Request, via []*http.Request) error {
	if len(via) >= 3 {
		return errors.New("too many redirects")
	}
	if req.URL.Host != via[0].URL.Host || req.URL.Scheme != via[0].URL.Scheme {
		return fmt.Errorf("redirect to another host (%s)", req.URL.Host)
	}
	return nil
}

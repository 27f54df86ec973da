package server

import (
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/mail"
	"github.com/keyward/keyward/internal/manage"
	"github.com/keyward/keyward/internal/password"
	"github.com/keyward/keyward/internal/webhook"
)

// Config is everything `keyward serve` can be told.
type Config struct {
	Addr               string
	DB                 string
	Issuer             string
	Audience           string
	AccessTTL          time.Duration
	RefreshGrace       time.Duration
	SessionMaxAge      time.Duration
	SigningAlg         string
	SigningKeyRotation time.Duration
	JWKSCacheTTL       time.Duration
	TrustedProxies     []netip.Prefix
	PermissionsFile    string
	PasswordGrant      bool
	MasterKey          string // base64 or hex of 32 bytes; required with PostgreSQL
	AdminEmail         string
	AdminPassword      string
	LogJSON            bool
	LogLevel           string
	TLSCert, TLSKey    string

	// FederationAllowInsecure admits federation issuers, and key sets, at http:// loopback
	// addresses (a local issuer, tests); otherwise only https ones.
	FederationAllowInsecure bool

	// DPoPNonce makes the token endpoint require server-provided nonces in DPoP proofs (RFC 9449
	// §8): a proof made in advance, or kept from an earlier exchange, is refused.
	DPoPNonce bool

	// LeakReportKeys is where the keys that sign secret-scanning reports are read (an http(s)
	// URL or a file; leakreport.GitHubKeysURL for GitHub); empty: POST /v1/leaks does not exist.
	LeakReportKeys string

	// MetricsAddr, when set, is the address of a second listener that serves /metrics alone; the
	// main listener then answers 404 there. Empty keeps /metrics on the main listener.
	MetricsAddr string
	// FailedAttemptsPerMinute throttles failed credentials per address, username and key id.
	FailedAttemptsPerMinute int
	// MaxConcurrentHashes bounds how many argon2id password hashes run at once (each holds
	// password.DefaultParams.Memory); more logins wait for a turn. See DefaultHashes.
	MaxConcurrentHashes int
	// DBWait is how long New keeps retrying, with backoff, a database it cannot reach (refused or
	// timed-out connections, a server still starting); 0 gives up at the first failure.
	DBWait time.Duration
	// KeyMaintenance is how often the signing keys are reloaded and rotated when due (default a
	// minute, or half the JWKS cache lifetime when that is shorter): another instance's new key
	// must be noticed well within one JWKS cache lifetime.
	KeyMaintenance time.Duration

	// SMTPURL, when set, is the mail server invitations and key expiry reminders are sent
	// through (mail.Parse); without it, an invitation's link is shown to the inviter instead.
	SMTPURL string

	// WebhookAllowPrivate lets webhooks be delivered to loopback and private network addresses,
	// and over plain http (local receivers, tests).
	WebhookAllowPrivate bool
	// WebhookRetryBase is the wait after a webhook message's first failed attempt; each later
	// wait doubles it, within the 24 hours a message is retried.
	WebhookRetryBase time.Duration

	// Injected for tests; zero values mean the real clock, crypto/rand and standard output.
	Now    func() time.Time
	Rand   io.Reader
	Stdout io.Writer
	Stderr io.Writer
}

// DefaultConfig returns the documented defaults of SPEC §8.
func DefaultConfig() Config {
	return Config{
		Addr:                    "127.0.0.1:8080",
		DB:                      "sqlite:./keyward-data/keyward.db",
		AccessTTL:               2 * time.Hour,
		RefreshGrace:            time.Hour,
		SessionMaxAge:           30 * 24 * time.Hour,
		SigningAlg:              "ES256",
		SigningKeyRotation:      30 * 24 * time.Hour,
		JWKSCacheTTL:            10 * time.Minute,
		PasswordGrant:           true,
		LogLevel:                "info",
		FailedAttemptsPerMinute: 10,
		MaxConcurrentHashes:     DefaultHashes(),
		DBWait:                  time.Minute,
		WebhookRetryBase:        webhook.DefaultRetryBase,
	}
}

// normalize fills derived defaults and rejects contradictions.
func (c *Config) normalize() error {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Rand == nil {
		c.Rand = rand.Reader
	}
	if c.Stdout == nil {
		c.Stdout = os.Stdout
	}
	if c.Stderr == nil {
		c.Stderr = os.Stderr
	}
	for _, a := range []struct{ flag, addr string }{{"--addr", c.Addr}, {"--metrics-addr", c.MetricsAddr}} {
		if _, _, err := net.SplitHostPort(a.addr); a.addr != "" && err != nil {
			return fmt.Errorf("%s %q is not HOST:PORT; write an address such as 127.0.0.1:8080", a.flag, a.addr)
		}
	}
	// The certificate is read now, so that a missing or mismatched file stops the start before the
	// database is created or touched.
	switch {
	case (c.TLSCert == "") != (c.TLSKey == ""):
		return fmt.Errorf("--tls-cert and --tls-key go together: give both files, or neither to serve plain http")
	case c.TLSCert != "":
		if _, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey); err != nil {
			return fmt.Errorf("--tls-cert %s, --tls-key %s: %v", c.TLSCert, c.TLSKey, err)
		}
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.LogLevel)); c.LogLevel != "" && err != nil {
		return fmt.Errorf("--log-level must be debug, info, warn or error, got %q", c.LogLevel)
	}
	if c.Issuer == "" {
		// The issuer is the URL clients use and the tokens' iss: an address that listens on every
		// interface names no host a client could use, so the operator must say which one.
		if host, _, err := net.SplitHostPort(c.Addr); err == nil && (host == "" || unspecified(host)) {
			return fmt.Errorf("--addr %s listens on every interface, so the issuer URL cannot be derived from it: "+
				"give --issuer with the URL clients use, for example --issuer https://auth.example.com", c.Addr)
		}
		scheme := "http"
		if c.TLSCert != "" {
			scheme = "https"
		}
		c.Issuer = scheme + "://" + c.Addr
	}
	u, err := url.Parse(c.Issuer)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("--issuer must be an http(s) URL without query or fragment, got %q", c.Issuer)
	}
	c.Issuer = strings.TrimSuffix(c.Issuer, "/")
	if c.Audience == "" {
		c.Audience = c.Issuer
	}
	if c.AdminEmail = strings.TrimSpace(c.AdminEmail); c.AdminEmail != "" {
		email, err := manage.NormalizeEmail(c.AdminEmail)
		if err != nil {
			return fmt.Errorf("KEYWARD_ADMIN_EMAIL %q: %s", c.AdminEmail, keyward.ErrorMessage(err))
		}
		c.AdminEmail = email
	}
	if c.AdminPassword != "" {
		if err := password.Validate(c.AdminPassword); err != nil {
			return fmt.Errorf("KEYWARD_ADMIN_PASSWORD: %s", keyward.ErrorMessage(err))
		}
	}
	switch {
	case c.AccessTTL < time.Second:
		return fmt.Errorf("--access-ttl must be at least 1s, got %s", c.AccessTTL)
	case c.RefreshGrace <= 0:
		return fmt.Errorf("--refresh-grace must be positive, got %s", c.RefreshGrace)
	case c.SessionMaxAge < c.AccessTTL:
		return fmt.Errorf("--session-max-age (%s) must be at least --access-ttl (%s)", c.SessionMaxAge, c.AccessTTL)
	case c.JWKSCacheTTL < time.Second:
		return fmt.Errorf("--jwks-cache-ttl must be at least 1s, got %s", c.JWKSCacheTTL)
	case c.SigningKeyRotation < c.AccessTTL+2*c.JWKSCacheTTL:
		return fmt.Errorf("--signing-key-rotation (%s) must exceed --access-ttl plus two JWKS cache lifetimes", c.SigningKeyRotation)
	}
	switch c.SigningAlg {
	case "ES256", "EdDSA", "RS256":
	default:
		return fmt.Errorf("--signing-alg must be ES256, EdDSA or RS256, got %q", c.SigningAlg)
	}
	if c.SMTPURL != "" {
		if _, err := mail.Parse(c.SMTPURL); err != nil {
			return fmt.Errorf("--smtp-url: %v", err) // the message never repeats the URL, which may hold a password
		}
	}
	switch {
	case c.WebhookRetryBase == 0:
		c.WebhookRetryBase = webhook.DefaultRetryBase
	case c.WebhookRetryBase < 0 || c.WebhookRetryBase > time.Hour:
		return fmt.Errorf("--webhook-retry-base must be positive and at most 1h, got %s", c.WebhookRetryBase)
	}
	if c.FailedAttemptsPerMinute <= 0 {
		c.FailedAttemptsPerMinute = 10
	}
	if c.MaxConcurrentHashes <= 0 {
		c.MaxConcurrentHashes = DefaultHashes()
	}
	switch {
	case c.DBWait < 0:
		return fmt.Errorf("--db-wait must not be negative, got %s", c.DBWait)
	case c.KeyMaintenance == 0:
		c.KeyMaintenance = min(time.Minute, c.JWKSCacheTTL/2)
	case c.KeyMaintenance < 0 || c.KeyMaintenance > c.JWKSCacheTTL/2:
		return fmt.Errorf("the signing-key maintenance interval (%s) must be positive and at most half the JWKS cache lifetime (%s)", c.KeyMaintenance, c.JWKSCacheTTL)
	}
	return nil
}

// unspecified reports whether host is 0.0.0.0 or :: (every interface).
func unspecified(host string) bool {
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsUnspecified()
}

// DefaultHashes is the default MaxConcurrentHashes: one per processor, at most four. Hashing is
// CPU-bound, so more than the processors would only hold more memory while waiting; four keep a
// burst of logins within about 30 MiB of hashing memory on a large machine.
func DefaultHashes() int { return min(max(runtime.GOMAXPROCS(0), 1), 4) }

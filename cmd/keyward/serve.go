package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/keyward/keyward/clientip"
	"github.com/keyward/keyward/internal/leakreport"
	"github.com/keyward/keyward/internal/password"
	"github.com/keyward/keyward/internal/server"
)

// prefixList is a flag holding comma-separated CIDRs.
type prefixList []netip.Prefix

func (p *prefixList) String() string {
	s := make([]string, len(*p))
	for i, x := range *p {
		s[i] = x.String()
	}
	return strings.Join(s, ",")
}

func (p *prefixList) Set(v string) error {
	var parts []string
	for _, part := range strings.Split(v, ",") {
		if strings.TrimSpace(part) != "" {
			parts = append(parts, part)
		}
	}
	nets, err := clientip.ParseNetworks(parts)
	if err != nil {
		return err
	}
	*p = nets
	return nil
}

func (m *Main) serve(ctx context.Context, args []string) error {
	cfg := server.DefaultConfig()
	fs := m.flagSet("serve", "serve [flags]\n\nRuns the authorization server. Every flag can also be set as KEYWARD_<NAME>, such as\nKEYWARD_ACCESS_TTL for --access-ttl; a flag on the command line wins.")
	fs.StringVar(&cfg.Addr, "addr", cfg.Addr, "address to listen on")
	fs.StringVar(&cfg.MetricsAddr, "metrics-addr", "", "serve /metrics on this address only (for example 127.0.0.1:9090), not on --addr")
	fs.StringVar(&cfg.DB, "db", cfg.DB, "database: sqlite:PATH or postgres://…")
	fs.StringVar(&cfg.SMTPURL, "smtp-url", "", "send invitations and key expiry reminders through this SMTP server: smtp://USER:PASSWORD@HOST:587?from=ADDRESS, or smtps:// (with a password, set KEYWARD_SMTP_URL instead)")
	fs.DurationVar(&cfg.DBWait, "db-wait", cfg.DBWait, "how long to keep retrying at start while the database cannot be reached (0: fail at once)")
	fs.StringVar(&cfg.Issuer, "issuer", "", "public URL of this server, the tokens' iss (default: http://ADDR)")
	fs.StringVar(&cfg.Audience, "audience", "", "the tokens' aud (default: the issuer)")
	fs.DurationVar(&cfg.AccessTTL, "access-ttl", cfg.AccessTTL, "access token lifetime")
	fs.DurationVar(&cfg.RefreshGrace, "refresh-grace", cfg.RefreshGrace, "how long a refresh token outlives its access token")
	fs.DurationVar(&cfg.SessionMaxAge, "session-max-age", cfg.SessionMaxAge, "absolute lifetime of a session, however often it is refreshed")
	fs.StringVar(&cfg.SigningAlg, "signing-alg", cfg.SigningAlg, "access token signature: ES256, EdDSA or RS256")
	fs.DurationVar(&cfg.SigningKeyRotation, "signing-key-rotation", cfg.SigningKeyRotation, "how long one signing key signs before its successor takes over")
	fs.DurationVar(&cfg.JWKSCacheTTL, "jwks-cache-ttl", cfg.JWKSCacheTTL, "how long verifiers may cache the JWKS")
	fs.Var((*prefixList)(&cfg.TrustedProxies), "trusted-proxies", "comma-separated CIDRs of proxies whose X-Forwarded-For/Forwarded is believed")
	fs.StringVar(&cfg.PermissionsFile, "permissions", "", "JSON file replacing the built-in permission catalog, or cycle for the built-in Cycle.io catalog (a file called cycle is ./cycle)")
	fs.BoolVar(&cfg.PasswordGrant, "password-grant", cfg.PasswordGrant, "allow the password grant (used by the CLI and dashboard)")
	fs.BoolVar(&cfg.FederationAllowInsecure, "federation-allow-insecure", false, "trust federation issuers at http:// loopback addresses too (local issuers, tests)")
	fs.BoolVar(&cfg.WebhookAllowPrivate, "webhook-allow-private", false, "deliver webhooks to loopback and private network addresses, and over http:// (local receivers, tests)")
	fs.DurationVar(&cfg.WebhookRetryBase, "webhook-retry-base", cfg.WebhookRetryBase, "wait after a webhook delivery's first failed attempt, doubled after each later one (at most 1h)")
	fs.BoolVar(&cfg.DPoPNonce, "dpop-nonce", false, "require server-provided nonces in DPoP proofs at the token endpoint (RFC 9449 §8)")
	fs.StringVar(&cfg.LeakReportKeys, "leak-report-keys", "", "URL or file of the keys that sign secret-scanning reports (GitHub's: "+leakreport.GitHubKeysURL+"); enables POST /v1/leaks")
	fs.BoolVar(&cfg.LogJSON, "log-json", false, "log JSON lines instead of text")
	fs.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "debug, info, warn or error")
	fs.StringVar(&cfg.TLSCert, "tls-cert", "", "TLS certificate file (PEM); serve https")
	fs.StringVar(&cfg.TLSKey, "tls-key", "", "TLS private key file (PEM)")
	fs.IntVar(&cfg.FailedAttemptsPerMinute, "failed-attempts-per-minute", cfg.FailedAttemptsPerMinute, "failed credentials allowed per minute per address, username, and key id and address")
	if err := m.parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("serve takes no arguments, got %q", fs.Arg(0))
	}
	if err := checkSMTPFlag(fs); err != nil {
		return err
	}
	if err := m.envOverlay(fs); err != nil {
		return err
	}
	// Secrets come from the environment only: command lines are visible to every local user.
	cfg.MasterKey = m.Getenv("KEYWARD_MASTER_KEY")
	cfg.AdminEmail = m.Getenv("KEYWARD_ADMIN_EMAIL")
	cfg.AdminPassword = m.Getenv("KEYWARD_ADMIN_PASSWORD")
	cfg.Stdout, cfg.Stderr = m.Stdout, m.Stderr

	tuneRuntime(m.Getenv, cfg.MaxConcurrentHashes)
	// The default issuer names the address, so a port left to the kernel (--addr HOST:0) is
	// bound before the issuer is fixed; a named port is bound once the database is ready, so
	// that clients are refused rather than kept waiting while it is not.
	var ln net.Listener
	if _, port, err := net.SplitHostPort(cfg.Addr); err == nil && port == "0" {
		if ln, err = net.Listen("tcp", cfg.Addr); err != nil {
			return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
		}
		defer ln.Close()
		cfg.Addr = ln.Addr().String()
	}
	srv, err := server.New(ctx, cfg)
	if err != nil {
		return err
	}
	defer srv.Close()
	if ln != nil {
		return srv.Serve(ctx, ln, nil)
	}
	return srv.Run(ctx, nil)
}

// Go runtime settings of the server; each is left alone when the operator set its variable.
//
// Processors: password hashing gets processors of its own, one per concurrent hash. argon2id
// runs for tens of milliseconds without a pause, and Go's scheduler lets a goroutine run 10 ms
// before it preempts it: with only as many processors as cores, a few logins would hold every
// processor and make the token endpoint's requests queue behind them. With the extra ones, the
// hashes are threads the kernel shares the cores with, and it preempts them within a
// millisecond whenever a request's thread wakes up.
//
// Garbage collector: keyward keeps little live memory (a few MiB of caches) and allocates a
// little on every request, so Go's default (collect whenever the heap doubles) collects dozens of
// times a second under load. Collecting when the heap has grown fivefold costs a fifth of that;
// the soft limit keeps memory bounded all the same, by collecting earlier as the heap nears it:
// a base for the server plus the memory of every hash that may run at once.
const (
	serverGCPercent  = 400
	serverBaseMemory = 96 << 20
)

func tuneRuntime(getenv func(string) string, hashes int) {
	if getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(runtime.GOMAXPROCS(0) + hashes)
	}
	if getenv("GOGC") == "" {
		debug.SetGCPercent(serverGCPercent)
	}
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(serverMemoryLimit(hashes))
	}
}

// serverMemoryLimit is the soft memory limit with hashes concurrent password hashes.
func serverMemoryLimit(hashes int) int64 {
	return serverBaseMemory + int64(hashes)*int64(password.DefaultParams.Memory)<<10
}

// checkSMTPFlag refuses a password in --smtp-url on the command line, which every local user can
// read; KEYWARD_SMTP_URL carries it instead.
func checkSMTPFlag(fs *flag.FlagSet) error {
	var err error
	fs.Visit(func(f *flag.Flag) {
		if f.Name != "smtp-url" {
			return
		}
		if u, perr := url.Parse(f.Value.String()); perr == nil && u.User != nil {
			if _, has := u.User.Password(); has {
				err = usagef("--smtp-url carries a password, which every local user can read on a command line; set KEYWARD_SMTP_URL instead")
			}
		}
	})
	return err
}

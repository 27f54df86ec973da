package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/clientip"
	"github.com/keyward/keyward/internal/api"
	"github.com/keyward/keyward/internal/authn"
	"github.com/keyward/keyward/internal/dashboard"
	"github.com/keyward/keyward/internal/federation"
	"github.com/keyward/keyward/internal/keyring"
	"github.com/keyward/keyward/internal/leakreport"
	"github.com/keyward/keyward/internal/mail"
	"github.com/keyward/keyward/internal/manage"
	"github.com/keyward/keyward/internal/oauth"
	"github.com/keyward/keyward/internal/password"
	"github.com/keyward/keyward/internal/ratelimit"
	"github.com/keyward/keyward/internal/reminder"
	"github.com/keyward/keyward/internal/sqlstore"
	"github.com/keyward/keyward/internal/token"
	"github.com/keyward/keyward/internal/twofactor"
	"github.com/keyward/keyward/internal/web"
	"github.com/keyward/keyward/internal/webhook"
)

// Server is one running keyward instance.
type Server struct {
	cfg       Config
	log       *slog.Logger
	db        database
	store     *sqlstore.DB
	keys      *keyring.Keyring
	catalog   *keyward.Catalog
	toucher   *toucher
	registry  *prometheus.Registry
	handler   http.Handler
	master    []byte       // seals signing keys and TOTP secrets; nil: none configured
	metrics   http.Handler // /metrics alone, served by the metrics listener when MetricsAddr is set
	webhooks  *webhook.Sender
	reminders *reminder.Reminders

	stopping     chan struct{} // closed when shutdown begins: long-lived streams end
	stoppingOnce sync.Once
}

// New opens the store and the keyring, creates the first admin on an empty database, and builds
// the HTTP handler. Close releases what it opened.
func New(ctx context.Context, cfg Config) (_ *Server, err error) {
	if err := cfg.normalize(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: newLogger(cfg), stopping: make(chan struct{})}
	if s.catalog, err = loadCatalog(cfg.PermissionsFile); err != nil {
		return nil, err
	}
	var master []byte
	if cfg.MasterKey != "" {
		if master, err = keyring.ParseMasterKey(cfg.MasterKey); err != nil {
			return nil, fmt.Errorf("KEYWARD_MASTER_KEY: %w", err)
		}
	}
	if s.db, err = locateDatabase(cfg.DB); err != nil {
		return nil, err
	}
	if err := s.waitForDatabase(ctx, func() error { return s.open(ctx, master) }); err != nil {
		return nil, err
	}
	s.master = master
	s.registry = prometheus.NewRegistry()
	s.handler = s.buildHandler(master)
	return s, nil
}

// open opens the store, loads the signing keys and bootstraps an empty database. On failure it
// leaves nothing open, so that it can be tried again.
func (s *Server) open(ctx context.Context, master []byte) (err error) {
	cfg := s.cfg
	if s.store, err = sqlstore.Open(ctx, cfg.DB); err != nil {
		switch {
		case keyward.ErrorCode(err) == keyward.EINVALID:
			return fmt.Errorf("--db: %s", keyward.ErrorMessage(err))
		case s.db.sqlite:
			return sqliteOpenError(s.db.location, err)
		}
		return fmt.Errorf("open database: %w", err)
	}
	if s.db.created {
		s.log.Info("created a new database at " + s.db.location)
	}
	defer func() {
		if err != nil {
			s.store.Close()
			s.store, s.keys = nil, nil
		}
	}()
	if s.store.Dialect() == "postgres" && master == nil {
		return errors.New("KEYWARD_MASTER_KEY is required with PostgreSQL: signing keys are shared through the database and must be encrypted there (generate one with: openssl rand -base64 32)")
	}
	s.keys, err = keyring.New(ctx, s.store, keyring.Config{
		Alg: cfg.SigningAlg, Rotation: cfg.SigningKeyRotation, TokenTTL: cfg.AccessTTL,
		CacheTTL: cfg.JWKSCacheTTL, MasterKey: master, Now: cfg.Now, Rand: cfg.Rand,
	})
	if err != nil {
		return fmt.Errorf("signing keys: %w", err)
	}
	if err := s.bootstrap(ctx); err != nil {
		return err
	}
	return s.seedRoles(ctx)
}

// seedRoles gives the projects of a database made before roles existed their default roles, with
// the owner role for their members who hold every permission, and keeps every owner role holding
// the whole catalog (see keyward.Store.SeedRoles). It runs on every start; with nothing to do it
// costs one query.
func (s *Server) seedRoles(ctx context.Context) error {
	catalog, rand := s.catalog, s.cfg.Rand
	// Instances started together may seed the same project at once: the one that loses sees
	// ECONFLICT, and its next attempt finds the roles there.
	var err error
	for range 3 {
		err = s.store.SeedRoles(ctx,
			func() []*keyward.Role { return keyward.DefaultRoles(catalog) },
			func() (string, error) { return keyward.NewID(rand, keyward.PrefixRole) },
			catalog.Names(), s.cfg.Now().UTC())
		if keyward.ErrorCode(err) != keyward.ECONFLICT {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("project roles: %w", err)
	}
	return nil
}

// waitForDatabase runs open until it succeeds, retrying with backoff for up to cfg.DBWait while
// the database server cannot be reached: instances often start before their database does (a
// host booting, containers started together). Any other failure, such as a wrong password, a
// missing database or an unreadable signing key, ends it at once, and so does every SQLite
// failure: there is no server to wait for.
func (s *Server) waitForDatabase(ctx context.Context, open func() error) error {
	deadline := time.Now().Add(s.cfg.DBWait)
	backoff := 250 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := open()
		if err == nil || s.db.sqlite || !sqlstore.Transient(err) || ctx.Err() != nil {
			return err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("the database was still unreachable after %s (--db-wait): %w", s.cfg.DBWait, err)
		}
		wait := min(backoff, left)
		s.log.Warn("database unreachable; retrying", "attempt", attempt, "retry_in", wait.String(), "err", err)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

// loadCatalog reads the --permissions catalog: the built-in one when path is empty, the built-in
// cycle catalog when it is the literal "cycle" (a file of that name is ./cycle), else the file.
func loadCatalog(path string) (*keyward.Catalog, error) {
	switch path {
	case "":
		return keyward.DefaultCatalog(), nil
	case keyward.CycleCatalogName:
		return keyward.CycleCatalog(), nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--permissions: %w", err)
	}
	defer f.Close()
	c, err := keyward.ParseCatalog(f)
	if err != nil {
		return nil, fmt.Errorf("--permissions %s: %s", path, keyward.ErrorMessage(err))
	}
	if missing := c.MissingManagement(); len(missing) > 0 {
		return nil, fmt.Errorf("--permissions %s lacks %s, which keyward needs to manage members, API keys and the audit log: add them to the file",
			path, strings.Join(missing, ", "))
	}
	return c, nil
}

func newLogger(cfg Config) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogJSON {
		return slog.New(slog.NewJSONHandler(cfg.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(cfg.Stderr, opts))
}

// Handler returns the whole HTTP surface; tests serve it with httptest.
func (s *Server) Handler() http.Handler { return s.handler }

// Store returns the store, for tests and tools that run beside the server.
func (s *Server) Store() *sqlstore.DB { return s.store }

// Issuer returns the issuer URL in use.
func (s *Server) Issuer() string { return s.cfg.Issuer }

// knownAddressTTL is how long a user's successful sign-in from an address exempts that pair from
// the lockout others' failures cause.
const knownAddressTTL = 30 * 24 * time.Hour

// dpopNonceKey is the key the token endpoint makes DPoP nonces with when --dpop-nonce asks for
// them (nil otherwise): derived from the master key, so that every instance of a cluster agrees,
// or, without one (SQLite: a single instance), random for this process, so that a restart only
// makes clients fetch a new nonce.
func (s *Server) dpopNonceKey(master []byte) []byte {
	if !s.cfg.DPoPNonce {
		return nil
	}
	if len(master) > 0 {
		if key, err := keyring.Derive(master, "keyward dpop nonce"); err == nil {
			return key
		}
	}
	key := make([]byte, 32)
	if _, err := io.ReadFull(s.cfg.Rand, key); err != nil {
		s.log.Error("dpop nonces: no randomness; nonces are not required", "err", err)
		return nil
	}
	return key
}

// buildHandler wires the surfaces; master, when set, also signs the dashboard's device cookies,
// so that every instance of a cluster recognises them.
func (s *Server) buildHandler(master []byte) http.Handler {
	cfg := s.cfg
	resolver := clientip.Resolver{Trusted: cfg.TrustedProxies}
	verifier := &token.Verifier{Keys: s.keys, Issuer: cfg.Issuer, Audience: cfg.Audience, Leeway: 30 * time.Second, Now: cfg.Now}
	minter := &token.Minter{Keys: s.keys, Now: cfg.Now, Rand: cfg.Rand}
	auth := &authn.Authenticator{Store: s.store, Tokens: verifier, Now: cfg.Now}
	hasher := password.NewHasher(password.DefaultParams, cfg.MaxConcurrentHashes)
	limiter := func() *ratelimit.Limiter {
		return ratelimit.New(cfg.FailedAttemptsPerMinute, cfg.FailedAttemptsPerMinute, cfg.Now)
	}
	m := newMetrics(s.registry, s.store.WriteStats)
	s.toucher = newToucher(s.store, s.log)
	// Failed logins are counted once, whether they come through the token endpoint or the
	// dashboard's sign-in form.
	byIP, byUser := limiter(), limiter()
	trust := &authn.Trust{Failures: limiter(), Known: ratelimit.NewKnown(knownAddressTTL, cfg.Now)}
	mgr := &manage.Service{
		Store: s.store, Catalog: s.catalog, Passwords: hasher, Now: cfg.Now, Rand: cfg.Rand, Logger: s.log,
		BaseURL: cfg.Issuer, AllowInsecureIssuers: cfg.FederationAllowInsecure,
		Federation: &federation.Keys{AllowInsecure: cfg.FederationAllowInsecure, Now: cfg.Now, Logger: s.log},
		MasterKey:  s.master, WebhookAllowPrivate: cfg.WebhookAllowPrivate,
	}
	s.reminders = &reminder.Reminders{Store: s.store, BaseURL: cfg.Issuer, Now: cfg.Now, Logger: s.log}
	if cfg.SMTPURL != "" {
		sender, _ := mail.Parse(cfg.SMTPURL) // checked by normalize
		sender.Now, sender.Rand = cfg.Now, cfg.Rand
		mgr.Mailer = sender
		s.reminders.Mailer = sender
		s.log.Info("invitations and key expiry reminders are mailed", "smtp", sender.String())
	}
	s.webhooks = &webhook.Sender{
		Store: s.store, Rights: manage.WebhookRights{Service: mgr}, MasterKey: master,
		AllowPrivate: cfg.WebhookAllowPrivate, RetryBase: cfg.WebhookRetryBase,
		Now: cfg.Now, Rand: cfg.Rand, Logger: s.log,
	}

	factors := &twofactor.Service{Store: s.store, MasterKey: s.master, Issuer: issuerName(cfg.Issuer), Origin: cfg.Issuer, Now: cfg.Now, Rand: cfg.Rand, Logger: s.log}

	oauthSrv := &oauth.Server{
		Config: oauth.Config{
			Issuer: cfg.Issuer, Audience: cfg.Audience, AccessTTL: cfg.AccessTTL, RefreshGrace: cfg.RefreshGrace,
			SessionMaxAge: cfg.SessionMaxAge, PasswordGrant: cfg.PasswordGrant, JWKSCacheTTL: cfg.JWKSCacheTTL,
			SigningAlg: cfg.SigningAlg, DPoPNonceKey: s.dpopNonceKey(master),
		},
		Store: s.store, Minter: minter, Verifier: verifier, Keys: s.keys, Auth: auth, Catalog: s.catalog,
		Passwords: hasher, ClientIP: resolver.ClientIP,
		ByIP: byIP, ByUser: byUser, ByKeyIP: limiter(), Trust: trust,
		DeviceRequests: limiter(),
		Touch:          s.toucher, Metrics: m, Logger: s.log, Now: cfg.Now, Rand: cfg.Rand,
		SecondFactors: factors,
		Federation:    mgr.Federation, // one key cache for the token endpoint and the dashboard
	}
	apiSrv := &api.Server{
		Store: s.store, Auth: auth, Catalog: s.catalog, Passwords: hasher, ClientIP: resolver.ClientIP,
		Now: cfg.Now, Rand: cfg.Rand, Logger: s.log, Stopping: s.stopping, Manage: mgr,
		Login:  authn.Login{Store: s.store, Passwords: hasher, ByIP: byIP, ByUser: byUser, Trust: trust, Logger: s.log, Now: cfg.Now},
		Issuer: cfg.Issuer,
	}
	if cfg.LeakReportKeys != "" {
		apiSrv.LeakKeys = &leakreport.Keys{Source: cfg.LeakReportKeys, Now: cfg.Now}
	}
	dash := &dashboard.Server{
		Store: s.store, Manage: mgr, Catalog: s.catalog, Passwords: hasher, ByIP: byIP, ByUser: byUser,
		Trust: trust, DeviceSecret: master,
		ClientIP: resolver.ClientIP, HTTPS: strings.HasPrefix(cfg.Issuer, "https://"), Issuer: cfg.Issuer,
		Now: cfg.Now, Rand: cfg.Rand, Logger: s.log, SecondFactors: factors,
	}

	mux := http.NewServeMux()
	oauthSrv.Register(mux)
	mux.Handle("/v1/", apiSrv.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", s.handleReady)
	s.metrics = m.handler(s.registry)
	if cfg.MetricsAddr == "" {
		mux.Handle("GET /metrics", s.metrics)
	}
	mux.Handle("/", dash.Handler())
	return s.withCommon(mux, m, resolver)
}

// handleReady answers 200 only when the database answers reads and accepts writes, and a
// signing key is loaded.
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := s.store.Ping(ctx); err != nil {
		s.log.Warn("not ready: database", "err", err)
		w.Header().Set("Retry-After", "2")
		w.WriteHeader(http.StatusServiceUnavailable)
		if errors.Is(err, sqlstore.ErrWritesFailing) {
			fmt.Fprintln(w, "database not accepting writes")
		} else {
			fmt.Fprintln(w, "database unavailable")
		}
		return
	}
	if _, err := s.keys.Current(); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "no signing key")
		return
	}
	fmt.Fprintln(w, "ready")
}

// withCommon adds what every response needs: security headers, a request log without secrets,
// and recovery from panics (a panic is a bug: the client gets a 500, the log the stack).
func (s *Server) withCommon(next http.Handler, m *metrics, resolver clientip.Resolver) http.Handler {
	common := web.CommonHeaders()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		h := w.Header()
		web.SetHeaders(h, common)
		if strings.HasPrefix(s.cfg.Issuer, "https://") {
			h.Set("Strict-Transport-Security", "max-age=63072000")
		}
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("panic serving request", "path", r.URL.Path, "panic", v)
				if !rec.wrote {
					http.Error(rec, "internal error", http.StatusInternalServerError)
				}
			}
			d := time.Since(start)
			m.observeHTTP(r, rec.status, d)
			// Checked first: the arguments cost an address resolution and allocations per request.
			if s.log.Enabled(r.Context(), slog.LevelDebug) {
				s.log.Debug("request", "method", r.Method, "path", r.URL.Path, "status", rec.status,
					"duration_ms", float64(d.Microseconds())/1000, "ip", resolver.ClientIP(r).String())
			}
		}()
		next.ServeHTTP(rec, r)
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush and deadlines (the revocation stream needs them).
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Close stops background work and closes the store.
func (s *Server) Close() error {
	if s.toucher != nil {
		s.toucher.flush(context.Background())
	}
	return s.store.Close()
}

// issuerName is what authenticator apps show an account under: "keyward" and the issuer's host,
// so that two instances are told apart.
func issuerName(issuer string) string {
	if u, err := url.Parse(issuer); err == nil && u.Hostname() != "" {
		return "keyward " + u.Hostname()
	}
	return "keyward"
}

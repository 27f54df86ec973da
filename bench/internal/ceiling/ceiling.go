// Package ceiling runs the bench's two yardsticks as processes of their own: a bare token endpoint that signs keyward's tokens and nothing else, and a bare resource server that verifies one token per request.
package ceiling

import (
	"bytes"
	"context"
	"encoding/gob"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/bench/internal/testbed"
	"github.com/keyward/keyward/internal/keyring"
	"github.com/keyward/keyward/internal/proctest"
	"github.com/keyward/keyward/internal/token"
	"github.com/keyward/keyward/middleware"
)

// Command is the hidden subcommand the bench re-executes itself with to run a ceiling in its own
// process, so that its scheduler and garbage collector are not the load generator's.
const Command = "__ceiling"

// readyMsg is the message of the ceiling's log line that carries its bound address.
const readyMsg = "ceiling serving"

// Config travels to the ceiling process on its standard input, so the private key never
// appears on a command line.
type Config struct {
	// Keys are the signing ceiling's key set (private keys unsealed), made by NewKeys.
	Keys     []keyward.SigningKey
	TokenTTL time.Duration // the keyring's token TTL, which bounds the template's lifetime
	Template token.Claims  // keyward's claims; each token gets a fresh iat, exp and jti
	Lifetime time.Duration
	// Verify makes the process the verifying ceiling instead: it checks bearer tokens of the
	// keyward server at this issuer URL and signs nothing.
	Verify string
}

// Keys is the signing ceiling's keyring, made in the bench process so that it can verify what
// the ceiling signs.
type Keys struct {
	Keys     []keyward.SigningKey
	TokenTTL time.Duration
	Verifier *token.Verifier
}

// NewKeys makes a keyring in memory with keyward's default algorithm, for tokens of the given
// lifetime from issuer to audience.
func NewKeys(ctx context.Context, lifetime time.Duration, issuer, audience string) (*Keys, error) {
	ttl := max(lifetime, keyring.DefaultTokenTTL)
	store := keyring.NewMemoryStore(keyward.SigningKeySet{})
	kr, err := keyring.New(ctx, store, keyring.Config{TokenTTL: ttl})
	if err != nil {
		return nil, err
	}
	set, _ := store.LoadSigningKeys(ctx)
	return &Keys{Keys: set.Keys, TokenTTL: ttl,
		Verifier: &token.Verifier{Keys: kr, Issuer: issuer, Audience: audience}}, nil
}

// Process is a running ceiling.
type Process struct {
	*proctest.Process
	URL string // http://127.0.0.1:PORT/token
}

// Start re-executes the bench binary as the ceiling c describes, on a loopback port it binds
// itself, and waits until it serves.
func Start(c Config) (*Process, error) {
	var cfg bytes.Buffer
	if err := gob.NewEncoder(&cfg).Encode(c); err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	p, err := proctest.Run(proctest.Spec{Name: "ceiling", Bin: self, Args: []string{Command}, Stdin: &cfg, Ready: readyMsg})
	if err != nil {
		return nil, err
	}
	if err := p.WaitReady(time.Minute); err != nil {
		p.Stop()
		return nil, fmt.Errorf("%w\n%s", err, p.Logs())
	}
	return &Process{Process: p, URL: "http://" + p.Addr() + "/token"}, nil
}

// Run is the ceiling process: it reads its Config from stdin, listens on the --addr of args,
// logs the address it bound and serves until SIGTERM.
func Run(args []string, stdin io.Reader, stderr io.Writer) error {
	fs := flag.NewFlagSet(Command, flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:0", "address to listen on")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var cfg Config
	if err := gob.NewDecoder(io.LimitReader(stdin, 1<<16)).Decode(&cfg); err != nil {
		return fmt.Errorf("read configuration: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	var h http.Handler
	var err error
	if cfg.Verify != "" {
		var v *middleware.Verifier
		if v, err = testbed.TokenVerifier(ctx, cfg.Verify); err != nil {
			return err
		}
		defer v.Close()
		h = &verifyHandler{tokens: v}
	} else {
		h, err = newCeilingHandler(ctx, cfg, time.Now)
	}
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	slog.New(slog.NewTextHandler(stderr, nil)).Info(readyMsg, "addr", ln.Addr().String())
	srv := newHTTPServer(h)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err = <-errc:
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = srv.Shutdown(sctx)
		cancel()
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// newHTTPServer mirrors keyward's http.Server settings, so that the ceiling pays the same
// per-request deadline bookkeeping and only the handler's work differs.
func newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
	}
}

// ceilingHandler answers every POST with one freshly minted access token and nothing else: no
// storage, no credential check, no session. It signs through keyward's own minting path, so it
// is the upper bound of a token endpoint that signs keyward's tokens on this machine.
type ceilingHandler struct {
	minter   *token.Minter
	template token.Claims
	ttl      time.Duration
	now      func() time.Time
}

func newCeilingHandler(ctx context.Context, cfg Config, now func() time.Time) (*ceilingHandler, error) {
	store := keyring.NewMemoryStore(keyward.SigningKeySet{Version: 1, Keys: cfg.Keys})
	kr, err := keyring.New(ctx, store, keyring.Config{TokenTTL: cfg.TokenTTL, RequireExisting: true, Now: now})
	if err != nil {
		return nil, fmt.Errorf("ceiling keys: %w", err)
	}
	h := &ceilingHandler{minter: &token.Minter{Keys: kr, Now: now}, template: cfg.Template, ttl: cfg.Lifetime, now: now}
	if h.ttl <= 0 {
		h.ttl = 2 * time.Hour
	}
	return h, nil
}

func (h *ceilingHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "use POST", http.StatusMethodNotAllowed)
		return
	}
	// Receive the body as a token endpoint must, so the request costs the same to take in.
	if _, err := io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, 16<<10)); err != nil {
		http.Error(w, "body too large", http.StatusBadRequest)
		return
	}
	tok, err := h.mint()
	if err != nil {
		http.Error(w, "signing failed", http.StatusInternalServerError)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Cache-Control", "no-store")
	body := make([]byte, 0, len(tok)+80)
	body = append(body, `{"access_token":"`...)
	body = append(body, tok...)
	body = append(body, `","token_type":"Bearer","expires_in":`...)
	body = strconv.AppendInt(body, int64(h.ttl/time.Second), 10)
	body = append(body, '}')
	w.Write(body)
}

// mint signs the template's claims with a fresh time and a fresh random jti, as keyward does.
func (h *ceilingHandler) mint() (string, error) {
	c := h.template
	now := h.now()
	c.ID, c.IssuedAt, c.Expiry = "", now, now.Add(h.ttl)
	return h.minter.Mint(&c)
}

// verifyHandler is the verifying ceiling: it checks one bearer token per request through the
// public middleware's Verifier, uncached and without the revocation feed, and answers what the
// example API answers for an empty project. No cache, no revocation feed, no permission check:
// the least a resource server that verifies each request can do.
type verifyHandler struct {
	tokens *middleware.Verifier
}

func (h *verifyHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		http.Error(w, "no bearer token", http.StatusUnauthorized)
		return
	}
	if _, err := h.tokens.Verify(raw); err != nil {
		http.Error(w, "invalid token", http.StatusUnauthorized)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte(`{"data":[]}`))
}

package main

import (
	"bytes"
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/bench/internal/proc"
	"github.com/keyward/keyward/internal/keyring"
	"github.com/keyward/keyward/internal/token"
	"github.com/keyward/keyward/middleware"
)

// ceilingConfig travels to the ceiling process on its standard input, so the private key never
// appears on a command line.
type ceilingConfig struct {
	// Keys are the signing ceiling's key set (private keys unsealed), made by newCeilingKeys.
	Keys     []keyward.SigningKey
	TokenTTL time.Duration // the keyring's token TTL, which bounds the template's lifetime
	Template token.Claims  // keyward's claims; each token gets a fresh iat, exp and jti
	Lifetime time.Duration
	// Verify makes the process the verifying ceiling instead: it checks bearer tokens of the
	// keyward server at this issuer URL and signs nothing.
	Verify string
}

// ceilingKeys is the signing ceiling's keyring, made in the bench process so that it can verify
// what the ceiling signs.
type ceilingKeys struct {
	keys     []keyward.SigningKey
	tokenTTL time.Duration
	verifier *token.Verifier
}

// newCeilingKeys makes a keyring in memory with keyward's default algorithm, for tokens of the
// given lifetime from issuer to audience.
func newCeilingKeys(ctx context.Context, lifetime time.Duration, issuer, audience string) (*ceilingKeys, error) {
	ttl := max(lifetime, keyring.DefaultTokenTTL)
	store := keyring.NewMemoryStore(keyward.SigningKeySet{})
	kr, err := keyring.New(ctx, store, keyring.Config{TokenTTL: ttl})
	if err != nil {
		return nil, err
	}
	set, _ := store.LoadSigningKeys(ctx)
	return &ceilingKeys{keys: set.Keys, tokenTTL: ttl,
		verifier: &token.Verifier{Keys: kr, Issuer: issuer, Audience: audience}}, nil
}

// ceilingProc is the ceiling process.
type ceilingProc struct {
	*proc.Proc
	url string
}

// startCeiling re-executes the bench binary as the signing ceiling. The parent binds the
// listener and hands it over as file descriptor 3: the port is known before the child runs, and
// no other program can take it in between.
func startCeiling(s *setup) (*ceilingProc, error) {
	return startCeilingWith(ceilingConfig{Keys: s.ceiling.keys, TokenTTL: s.ceiling.tokenTTL, Template: s.template, Lifetime: s.lifetime})
}

// startCeilingWith starts the ceiling process with c.
func startCeilingWith(c ceilingConfig) (*ceilingProc, error) {
	var cfg bytes.Buffer
	if err := gob.NewEncoder(&cfg).Encode(c); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f, err := ln.(*net.TCPListener).File()
	ln.Close() // f is a duplicate that keeps the socket open
	if err != nil {
		return nil, err
	}
	defer f.Close()
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, ceilingCommand)
	cmd.Env = proc.ChildEnv()
	cmd.Stdin = &cfg
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.ExtraFiles = []*os.File{f}
	p, err := proc.Start("ceiling", cmd)
	if err != nil {
		return nil, err
	}
	return &ceilingProc{Proc: p, url: "http://" + ln.Addr().String() + "/token"}, nil
}

// runCeiling is the ceiling process: it serves the inherited listener until SIGTERM.
func runCeiling(stdin io.Reader) error {
	var cfg ceilingConfig
	if err := gob.NewDecoder(io.LimitReader(stdin, 1<<16)).Decode(&cfg); err != nil {
		return fmt.Errorf("read configuration: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	var h http.Handler
	var err error
	if cfg.Verify != "" {
		var v *middleware.Verifier
		if v, err = tokenVerifier(ctx, cfg.Verify); err != nil {
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
	ln, err := net.FileListener(os.NewFile(3, "listener"))
	if err != nil {
		return fmt.Errorf("inherit listener: %w", err)
	}
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

func newCeilingHandler(ctx context.Context, cfg ceilingConfig, now func() time.Time) (*ceilingHandler, error) {
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

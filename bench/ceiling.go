package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
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
)

// ceilingConfig travels to the ceiling process on its standard input, so the private key never
// appears on a command line.
type ceilingConfig struct {
	Key       []byte       `json:"key"` // PKCS #8 DER
	Kid       string       `json:"kid"`
	Claims    accessClaims `json:"claims"`
	JTILength int          `json:"jti_length"`
	// Verify makes the process the verifying ceiling instead: it checks bearer tokens against
	// these public keys (PKIX DER by kid) and signs nothing.
	Verify map[string][]byte `json:"verify,omitempty"`
}

// ceilingProc is the ceiling process.
type ceilingProc struct {
	*proc
	url string
}

// startCeiling re-executes the bench binary as the ceiling. The parent binds the listener and
// hands it over as file descriptor 3: the port is known before the child runs, and no other
// program can take it in between.
func startCeiling(s *setup) (*ceilingProc, error) {
	der, err := x509.MarshalPKCS8PrivateKey(s.ceilingKey)
	if err != nil {
		return nil, err
	}
	return startCeilingWith(ceilingConfig{Key: der, Kid: s.kid, Claims: *s.template, JTILength: len(s.template.ID)})
}

// startCeilingWith starts the ceiling process with c.
func startCeilingWith(c ceilingConfig) (*ceilingProc, error) {
	cfg, err := json.Marshal(c)
	if err != nil {
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
	cmd.Env = childEnv()
	cmd.Stdin = bytes.NewReader(cfg)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.ExtraFiles = []*os.File{f}
	p, err := startProc("ceiling", cmd)
	if err != nil {
		return nil, err
	}
	return &ceilingProc{proc: p, url: "http://" + ln.Addr().String() + "/token"}, nil
}

// runCeiling is the ceiling process: it serves the inherited listener until SIGTERM.
func runCeiling(stdin io.Reader) error {
	var cfg ceilingConfig
	if err := json.NewDecoder(io.LimitReader(stdin, 1<<16)).Decode(&cfg); err != nil {
		return fmt.Errorf("read configuration: %w", err)
	}
	var h http.Handler
	var err error
	if cfg.Verify != nil {
		h, err = newVerifyHandler(cfg.Verify, time.Now)
	} else {
		h, err = newCeilingHandler(cfg, time.Now)
	}
	if err != nil {
		return err
	}
	ln, err := net.FileListener(os.NewFile(3, "listener"))
	if err != nil {
		return fmt.Errorf("inherit listener: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
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

// ceilingHandler answers every POST with one freshly signed access token and nothing else: no
// storage, no credential check, no session. It is the upper bound of a token endpoint that signs
// ES256 on this machine.
type ceilingHandler struct {
	signer   *es256Signer
	template accessClaims
	ttl      time.Duration
	jtiBytes int
	jtiLen   int
	now      func() time.Time
}

func newCeilingHandler(cfg ceilingConfig, now func() time.Time) (*ceilingHandler, error) {
	k, err := x509.ParsePKCS8PrivateKey(cfg.Key)
	if err != nil {
		return nil, fmt.Errorf("ceiling key: %w", err)
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, errors.New("ceiling key is not ECDSA")
	}
	signer, err := newES256Signer(key, cfg.Kid)
	if err != nil {
		return nil, err
	}
	h := &ceilingHandler{signer: signer, template: cfg.Claims, now: now, jtiLen: cfg.JTILength}
	h.ttl = time.Duration(cfg.Claims.Expiry-cfg.Claims.IssuedAt) * time.Second
	if h.ttl <= 0 {
		h.ttl = 2 * time.Hour
	}
	if h.jtiLen <= 0 {
		h.jtiLen = 22
	}
	h.jtiBytes = (h.jtiLen*6 + 7) / 8
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

// mint signs the template's claims with a fresh time and a fresh random jti of keyward's length.
func (h *ceilingHandler) mint() (string, error) {
	c := h.template
	now := h.now()
	c.IssuedAt = now.Unix()
	c.Expiry = now.Add(h.ttl).Unix()
	if c.NotBefore != 0 {
		c.NotBefore = c.IssuedAt
	}
	raw := make([]byte, h.jtiBytes)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	c.ID = base64.RawURLEncoding.EncodeToString(raw)[:h.jtiLen]
	return h.signer.sign(&c)
}

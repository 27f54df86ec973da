package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/keyward/keyward/clientip"
	"github.com/keyward/keyward/middleware"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "containers-api:", err)
		}
		os.Exit(2)
	}
}

// config is the command line.
type config struct {
	issuer, audience, addr string
	trustedProxies         []netip.Prefix
	maxStaleness           time.Duration
	failOpen               bool
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("containers-api", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.issuer, "issuer", "", "keyward's URL (the tokens' iss); metadata, JWKS and revocations are found from it (required)")
	fs.StringVar(&c.audience, "audience", "", "the tokens' aud (default: the issuer, keyward's default)")
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8000", "address to listen on")
	fs.Func("trusted-proxies", "comma-separated CIDRs of proxies whose X-Forwarded-For/Forwarded is believed", func(s string) error {
		var parts []string
		for _, part := range strings.Split(s, ",") {
			if strings.TrimSpace(part) != "" {
				parts = append(parts, part)
			}
		}
		nets, err := clientip.ParseNetworks(parts)
		if err != nil {
			return err
		}
		c.trustedProxies = append(c.trustedProxies, nets...)
		return nil
	})
	fs.DurationVar(&c.maxStaleness, "max-staleness", 0, "refuse every request once keyward's revocation feed has been unreachable this long (0: the middleware's default, 2m)")
	fs.BoolVar(&c.failOpen, "fail-open", false, "keep accepting tokens however long the revocation feed is unreachable (deleted keys are honoured meanwhile)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if c.issuer == "" {
		return nil, errors.New("--issuer is required: keyward's URL, such as http://127.0.0.1:8080")
	}
	return c, nil
}

// run serves the API until ctx ends.
func run(ctx context.Context, args []string, stderr io.Writer) error {
	c, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	startCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := middleware.New(startCtx, middleware.Config{
		Issuer: c.issuer, Audience: c.audience, TrustedProxies: c.trustedProxies,
		MaxStaleness: c.maxStaleness, FailOpen: c.failOpen, Realm: "containers-api", Logger: log,
	})
	if err != nil {
		return err
	}
	defer v.Close()

	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           handler(v, newStore(time.Now)),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	log.Info("containers-api listening", "addr", ln.Addr().String(), "issuer", c.issuer)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}

// handler puts the API behind the verifier; /healthz stays open, and reports whether revocations
// are arriving.
func handler(v *middleware.Verifier, s *store) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		st := v.FeedStatus()
		status := http.StatusOK
		if st.Following && !st.Connected {
			status = http.StatusServiceUnavailable
		}
		writeJSON(w, status, map[string]any{"revocation_feed_connected": st.Connected, "stale_seconds": int(st.Stale.Seconds())})
	})
	mux.Handle("/", v.Handler(routes(s)))
	return mux
}

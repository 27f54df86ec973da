package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"
)

// Run listens on cfg.Addr and serves until ctx is cancelled, then shuts down gracefully: it stops
// accepting, lets requests in flight finish (up to 20 s), flushes pending last-used times and
// returns. ready, when not nil, receives the bound address once the listener is open.
func (s *Server) Run(ctx context.Context, ready chan<- string) error {
	ln, err := listen("--addr", s.cfg.Addr)
	if err != nil {
		return err
	}
	return s.Serve(ctx, ln, ready)
}

// Serve is Run on a listener the caller opened; it closes ln when it returns. With
// cfg.MetricsAddr it also serves /metrics on a listener of its own.
func (s *Server) Serve(ctx context.Context, ln net.Listener, ready chan<- string) error {
	var err error
	srv := s.httpServer(ctx, s.handler)
	var metricsSrv *http.Server
	if s.cfg.MetricsAddr != "" {
		mln, err := listen("--metrics-addr", s.cfg.MetricsAddr)
		if err != nil {
			ln.Close()
			return err
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", s.metrics)
		metricsSrv = s.httpServer(ctx, mux)
		go func() {
			if err := metricsSrv.Serve(mln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("metrics listener failed", "err", err)
			}
		}()
		s.log.Info("serving metrics", "addr", mln.Addr().String())
		defer metricsSrv.Close()
	}
	srv.RegisterOnShutdown(func() { s.stoppingOnce.Do(func() { close(s.stopping) }) })
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	var jobs sync.WaitGroup
	jobs.Go(func() { s.background(bg) })
	jobs.Go(func() { s.sweeper(bg) })
	jobs.Go(func() { s.graceEnder(bg) })
	jobs.Go(func() { s.webhooks.Run(bg) })
	jobs.Go(func() { s.reminders.Run(bg) })

	errc := make(chan error, 1)
	go func() {
		if s.cfg.TLSCert != "" {
			errc <- srv.ServeTLS(ln, s.cfg.TLSCert, s.cfg.TLSKey)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	addr := ln.Addr().String()
	s.log.Info("keyward serving", "addr", addr, "issuer", s.cfg.Issuer, "db", s.store.Dialect(), "database", s.db.location)
	if ready != nil {
		ready <- addr
	}

	select {
	case err = <-errc:
	case <-ctx.Done():
		s.log.Info("shutting down")
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err = srv.Shutdown(shutdownCtx)
		cancel()
	}
	stopBG()
	jobs.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// httpServer returns an HTTP server of h with keyward's timeouts.
func (s *Server) httpServer(ctx context.Context, h http.Handler) *http.Server {
	return &http.Server{
		Handler: h,
		// Slowloris and friends: a client must send its headers and body promptly. The
		// revocation stream lifts its own write deadline.
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          nil,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
}

// background runs the periodic jobs until ctx ends: last-used flushing, WAL checkpoints and
// signing-key maintenance. Sweeping has a goroutine of its own (sweeper), so that a long sweep
// never delays a checkpoint.
func (s *Server) background(ctx context.Context) {
	flush := time.NewTicker(time.Second)
	// Often enough that the WAL never reaches SQLite's own threshold, which would checkpoint
	// inside a request: under load an exchange appends several pages to the WAL.
	checkpoint := time.NewTicker(100 * time.Millisecond)
	maintain := time.NewTicker(s.cfg.KeyMaintenance)
	defer flush.Stop()
	defer checkpoint.Stop()
	defer maintain.Stop()
	for {
		select {
		case <-ctx.Done():
			s.toucher.flush(context.Background())
			return
		case <-flush.C:
			s.toucher.flush(ctx)
		case <-checkpoint.C:
			// Off the request path: a commit that had to checkpoint would stall every request
			// queued behind it.
			if err := s.store.Checkpoint(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("checkpoint failed", "err", err)
			}
		case <-maintain.C:
			if err := s.keys.Maintain(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("signing key maintenance failed", "err", err)
			}
		}
	}
}

// Sweeping: every minute, expired rows are deleted in batches of sweepBatch (of each kind)
// until none is left. Each batch holds the one SQLite writer while it runs, and the pages it
// changes must be checkpointed after it, so after a batch that took d the sweeper rests
// sweepRest×d (and at least sweepPause): it takes at most a twentieth of the writer's time,
// however large the backlog, and the token endpoint's writes get the rest. At that pace a
// backlog of a million expired rows went in about three minutes on a 2-core machine under load.
const (
	sweepEvery = time.Minute
	sweepBatch = 100
	sweepRest  = 19
	sweepPause = 5 * time.Millisecond
)

// sweeper sweeps expired rows every sweepEvery until ctx ends.
func (s *Server) sweeper(ctx context.Context) {
	tick := time.NewTicker(sweepEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			s.sweep(ctx)
		}
	}
}

// sweep deletes expired rows, paced, until there are none or ctx ends.
func (s *Server) sweep(ctx context.Context) {
	for {
		start := time.Now()
		n, err := s.store.Sweep(ctx, s.cfg.Now(), sweepBatch)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Error("sweep failed", "err", err)
			}
			return
		}
		if n == 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(max(sweepPause, sweepRest*time.Since(start))):
		}
	}
}

// graceEndEvery is how often the server ends the graces of rolled keys that are over: the tokens
// of a previous secret are refused by resource servers within this and the feed's delay of the
// grace's end.
const graceEndEvery = time.Second

// graceEnder ends the graces of rolled keys as they run out, until ctx ends. With no grace to end
// a round is one query on a partial index that holds only the keys whose grace is pending.
func (s *Server) graceEnder(ctx context.Context) {
	tick := time.NewTicker(graceEndEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			for {
				n, err := s.store.EndRollGraces(ctx, s.cfg.Now(), sweepBatch)
				if err != nil {
					if ctx.Err() == nil {
						s.log.Error("ending roll graces failed", "err", err)
					}
					break
				}
				if n < sweepBatch {
					break
				}
			}
		}
	}
}

// listen opens the listener of flag's address; its error is one line that names the flag and,
// for the usual causes, what to do.
func listen(flag, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	switch {
	case err == nil:
		return ln, nil
	case errors.Is(err, syscall.EADDRINUSE):
		return nil, fmt.Errorf("%s %s: the address is already in use, perhaps by another keyward serve: stop that server or choose another %s", flag, addr, flag)
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return nil, fmt.Errorf("%s %s: this machine has no such address: listen on one of its own, such as 127.0.0.1 for this machine only", flag, addr)
	case errors.Is(err, syscall.EACCES):
		return nil, fmt.Errorf("%s %s: permission denied (ports below 1024 need privileges): choose a port above 1023 or run behind a proxy", flag, addr)
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		err = opErr.Err
	}
	return nil, fmt.Errorf("%s %s: %v", flag, addr, err)
}

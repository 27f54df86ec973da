package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/clientip"
)

// HandlerFunc is a handler that returns its failure instead of writing it, so that the status,
// the log line and the text the client reads are decided in one place, Surface.Fail.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// Error is a failure of HTTP itself, which no domain code describes: a wrong method or media type,
// a body too large. Message is shown to the client.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("HTTP %d: %s", e.Status, e.Message) }

// Errorf returns an *Error with the given status and a formatted user-safe message.
func Errorf(status int, format string, args ...any) *Error {
	return &Error{Status: status, Message: fmt.Sprintf(format, args...)}
}

// Status returns the HTTP status of err. It is the only place where keyward's error codes become
// HTTP statuses; every code without a row here is a server error.
func Status(err error) int {
	var he *Error
	if errors.As(err, &he) {
		return he.Status
	}
	switch keyward.ErrorCode(err) {
	case keyward.EINVALID:
		return http.StatusBadRequest
	case keyward.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case keyward.EFORBIDDEN:
		return http.StatusForbidden
	case keyward.ENOTFOUND:
		return http.StatusNotFound
	case keyward.ECONFLICT:
		return http.StatusConflict
	case keyward.ETOOMANY:
		return http.StatusTooManyRequests
	case keyward.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// Failure is an error as a surface shows it.
type Failure struct {
	Status  int
	Message string // safe to show: never the detail of an internal error
	Err     error  // as the handler returned it, for renderers that need more than the message
}

// Renderer writes a failure in one surface's format and with f.Status.
type Renderer func(w http.ResponseWriter, r *http.Request, f *Failure)

// Surface is a family of routes that shares an error format and a set of security headers.
type Surface struct {
	Name    string      // names the surface in log lines
	Headers http.Header // set on every response; see APIHeaders and PageHeaders
	Render  Renderer
	Logger  *slog.Logger // nil: discard
	// Ping, when set, is asked after an internal error whether the database answers. An internal
	// error while it does not is an outage, not a bug: the client gets 503 and should retry.
	Ping func(ctx context.Context) error
}

// Secure sets the surface's headers on every response of next, before next runs, so that the
// answers of a mux's fallbacks carry them too and next may still override one (such as a static
// file's Cache-Control).
func (s *Surface) Secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		SetHeaders(w.Header(), s.Headers)
		next.ServeHTTP(w, r)
	})
}

// Handle serves h and renders the error it returns.
func (s *Surface) Handle(h HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.Fail(w, r, err)
		}
	})
}

// Fail renders err: a status from Status, a log line with the detail of a server error, and a
// message the client may read.
func (s *Surface) Fail(w http.ResponseWriter, r *http.Request, err error) {
	f := &Failure{Status: Status(err), Message: "Internal error.", Err: err}
	var he *Error
	if errors.As(err, &he) {
		f.Message = he.Message
	} else if f.Status != http.StatusInternalServerError {
		f.Message = keyward.ErrorMessage(err)
	} else if s.databaseDown(r.Context()) {
		f.Status, f.Message = http.StatusServiceUnavailable, "The database is unavailable; retry shortly."
	}
	if f.Status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "2")
	}
	if f.Status >= 500 {
		s.logger().ErrorContext(r.Context(), s.Name+" request failed",
			"method", r.Method, "path", r.URL.Path, "status", f.Status, "err", err)
	}
	// A handler may have announced a length for the body it meant to send.
	w.Header().Del("Content-Length")
	s.Render(w, r, f)
}

func (s *Surface) databaseDown(ctx context.Context) bool {
	if s.Ping == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	return s.Ping(ctx) != nil
}

func (s *Surface) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// ClientIP returns the request's client address as resolve finds it (nil: the TCP peer),
// unmapped, so that an IPv4 client compares equal to its networks whichever socket it came in on.
func ClientIP(resolve func(*http.Request) netip.Addr, r *http.Request) netip.Addr {
	if resolve == nil {
		resolve = clientip.Resolver{}.ClientIP
	}
	return resolve(r).Unmap()
}

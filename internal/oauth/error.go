package oauth

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/keyward/keyward/internal/ratelimit"
)

// OAuth error codes (RFC 6749 §5.2, RFC 7009, RFC 7662).
const (
	errInvalidRequest       = "invalid_request"
	errInvalidClient        = "invalid_client"
	errInvalidGrant         = "invalid_grant"
	errUnauthorizedClient   = "unauthorized_client"
	errUnsupportedGrantType = "unsupported_grant_type"
	errInvalidScope         = "invalid_scope"
	errServerError          = "server_error"
	// errTemporarilyUnavailable is RFC 6749's word for "not now"; keyward uses it for both
	// throttled callers (429) and an unavailable database (503), each with Retry-After.
	errTemporarilyUnavailable = "temporarily_unavailable"
)

// Error is an OAuth error response: a value rendered in exactly one place (writeError).
type Error struct {
	Status      int
	Code        string
	Description string
	RetryAfter  time.Duration // sets Retry-After when positive
	basic       bool          // the client used HTTP Basic: a 401 carries WWW-Authenticate: Basic
	bearer      bool          // the caller sent a bearer token: a 401 carries WWW-Authenticate: Bearer
	cause       error         // internal detail, logged and never shown
}

func (e *Error) Error() string {
	if e.cause != nil {
		return e.Code + ": " + e.Description + ": " + e.cause.Error()
	}
	return e.Code + ": " + e.Description
}

func (e *Error) Unwrap() error { return e.cause }

func oauthError(status int, code, description string) *Error {
	return &Error{Status: status, Code: code, Description: description}
}

func invalidRequest(description string) *Error {
	return oauthError(http.StatusBadRequest, errInvalidRequest, description)
}

func invalidGrant(description string) *Error {
	return oauthError(http.StatusBadRequest, errInvalidGrant, description)
}

func invalidClient(description string, basic bool) *Error {
	e := oauthError(http.StatusUnauthorized, errInvalidClient, description)
	e.basic = basic
	return e
}

func serverError(cause error) *Error {
	return &Error{Status: http.StatusInternalServerError, Code: errServerError,
		Description: "The server could not complete the request.", cause: cause}
}

func unavailable(cause error) *Error {
	return &Error{Status: http.StatusServiceUnavailable, Code: errTemporarilyUnavailable,
		Description: "The service is temporarily unavailable; retry shortly.",
		RetryAfter:  2 * time.Second, cause: cause}
}

func throttled(retryAfter time.Duration) *Error {
	return &Error{Status: http.StatusTooManyRequests, Code: errTemporarilyUnavailable,
		Description: "Too many failed attempts. " + ratelimit.TryAgain(retryAfter),
		RetryAfter:  retryAfter}
}

// noStore marks a response as uncacheable, as RFC 6749 §5.1 requires for anything that may hold
// a token.
func noStore(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	noStore(w.Header())
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError renders err as an RFC 6749 §5.2 JSON error; anything that is not an *Error is a bug
// and becomes a 500 whose detail only the log sees.
func writeError(w http.ResponseWriter, err error) *Error {
	var e *Error
	if !errors.As(err, &e) {
		e = serverError(err)
	}
	if e.Status == http.StatusUnauthorized {
		switch {
		case e.basic:
			w.Header().Set("WWW-Authenticate", `Basic realm="keyward", charset="UTF-8"`)
		case e.bearer:
			w.Header().Set("WWW-Authenticate", `Bearer realm="keyward", error="invalid_token"`)
		}
	}
	if e.RetryAfter > 0 {
		secs := ratelimit.Seconds(e.RetryAfter)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
	}
	writeJSON(w, e.Status, struct {
		Error       string `json:"error"`
		Description string `json:"error_description,omitempty"`
	}{e.Code, e.Description})
	return e
}

func writeBody(w http.ResponseWriter, v any) {
	_ = json.NewEncoder(w).Encode(v)
}

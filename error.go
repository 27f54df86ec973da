package keyward

import (
	"errors"
	"fmt"
)

// Error codes. Each boundary maps them to its wire format in exactly one place: internal/oauth to
// RFC 6749 errors, internal/web to the HTTP statuses of the management API and the dashboard.
const (
	ECONFLICT      = "conflict"       // a unique name is taken, or a compare-and-swap lost
	EINTERNAL      = "internal"       // a bug or an unavailable dependency; details are logged, never shown
	EINVALID       = "invalid"        // the input is malformed or breaks a rule
	ENOTFOUND      = "not_found"      // the object does not exist, or the caller may not know it does
	EUNAUTHORIZED  = "unauthorized"   // no credential, or a bad one
	EFORBIDDEN     = "forbidden"      // a valid credential without the permission
	EUNAVAILABLE   = "unavailable"    // a dependency is down; retrying later may succeed
	ETOOMANY       = "too_many"       // too many failed attempts; retry after a while
	EREFRESHREUSED = "refresh_reused" // a consumed refresh token was presented again; its session is now revoked
	EEXPIRED       = "expired"        // the object existed but its lifetime is over
	EREVOKED       = "revoked"        // the object was revoked
)

// Error is the domain error: a code for machines and a message that is always safe to show a user.
type Error struct {
	Code    string
	Message string
}

// Error implements the error interface.
func (e *Error) Error() string {
	return fmt.Sprintf("keyward: %s: %s", e.Code, e.Message)
}

// Errorf returns an *Error with the given code and a formatted user-safe message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for any other non-nil
// error, and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the user-safe message of err. Internal errors get a generic text, because
// their details may name files, queries or secrets.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	}
	return "Internal error."
}

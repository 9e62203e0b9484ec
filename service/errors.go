package service

import (
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// General error codes of the API contract. They are never renumbered.
const (
	CodeOK              = 0
	CodeInvalid         = 10001
	CodeUnauthenticated = 10002
	CodeTokenExpired    = 10003
	CodeForbidden       = 10004
	CodeNotFound        = 10005
	CodeConflict        = 10006
	CodeRateLimited     = 10007
	CodeContentRefused  = 10008
	CodeInternal        = 10500
	CodeUnavailable     = 10503
)

// Error is the one error type services return for anything a client should
// hear about. Message is Chinese and safe to show; Err is the cause, logged and
// never sent.
type Error struct {
	Code    int
	Message string
	Err     error
	// RetryAfter, when positive, tells the client when to try again.
	RetryAfter time.Duration
}

// Error implements error; it includes the cause for logs.
func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%d %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%d %s", e.Code, e.Message)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with a code and a user-facing message.
func Errorf(code int, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error with a code, a user-facing message and a cause.
func Wrap(code int, message string, err error) *Error {
	return &Error{Code: code, Message: message, Err: err}
}

// ErrorCode returns the code of err: 0 for nil, else the code AsError
// gives it (the code of an *Error in its chain, 10503 for a store that is
// down, CodeInternal for anything else).
func ErrorCode(err error) int {
	if err == nil {
		return CodeOK
	}
	return AsError(err).Code
}

// Shorthands for the general codes.
func invalid(format string, args ...any) *Error { return Errorf(CodeInvalid, format, args...) }
func forbidden(msg string) *Error               { return Errorf(CodeForbidden, "%s", msg) }
func notFound(what string) *Error               { return Errorf(CodeNotFound, "%s不存在", what) }
func conflict(msg string) *Error                { return Errorf(CodeConflict, "%s", msg) }
func unavailable(msg string, err error) *Error  { return Wrap(CodeUnavailable, msg, err) }

// notFoundOr turns gorm.ErrRecordNotFound into a 10005 naming what, and any
// other error into an internal one.
func notFoundOr(err error, what string) error {
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return notFound(what)
	}
	return err
}

// isDuplicate reports whether err is a unique-key violation (gorm's
// TranslateError must be on).
func isDuplicate(err error) bool { return errors.Is(err, gorm.ErrDuplicatedKey) }

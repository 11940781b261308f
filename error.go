package payhook

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Error codes. The HTTP layer maps each to a status; the message is safe to show to users.
const (
	EINVALID      = "invalid"      // bad input: 400
	ENOTFOUND     = "not_found"    // 404
	ECONFLICT     = "conflict"     // the state forbids it: 400/409 depending on the endpoint
	EUNAUTHORIZED = "unauthorized" // 401
	EFORBIDDEN    = "forbidden"    // 403
	ETOOMANY      = "too_many"     // 429
	EUNAVAILABLE  = "unavailable"  // 503: the database cannot take the write now (disk full, read-only, down)
	EINTERNAL     = "internal"     // 500; details go to the log only
)

// Error is the application error. Fields, when set, holds per-field messages in Ottu's
// (Django REST framework) shape: {"field": ["message"]}.
type Error struct {
	Code    string
	Message string
	Fields  map[string][]string
}

// Error implements the error interface.
func (e *Error) Error() string {
	if len(e.Fields) == 0 {
		return e.Message
	}
	keys := make([]string, 0, len(e.Fields))
	for k := range e.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(k + ": " + strings.Join(e.Fields[k], " "))
	}
	return b.String()
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldErrors collects validation messages by field name.
type FieldErrors map[string][]string

// Add records a message for a field.
func (f FieldErrors) Add(field, format string, args ...any) {
	f[field] = append(f[field], fmt.Sprintf(format, args...))
}

// Err returns nil when there are no messages, else an EINVALID *Error carrying them.
func (f FieldErrors) Err() error {
	if len(f) == 0 {
		return nil
	}
	return &Error{Code: EINVALID, Message: "invalid input", Fields: map[string][]string(f)}
}

// ErrorCode returns the code of an application error, EINTERNAL for any other error and
// "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the user-facing message of an application error, or a generic
// message for any other error (whose detail belongs in the log only).
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

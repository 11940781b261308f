package postgres

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/payhook/payhook"
)

// unavailableError is an EUNAVAILABLE payhook.Error that keeps its cause for the log:
// errors.As finds the application error (its message is what a user sees), Error adds
// the cause.
type unavailableError struct {
	app   *payhook.Error
	cause error
}

func (e *unavailableError) Error() string   { return e.app.Message + " (" + e.cause.Error() + ")" }
func (e *unavailableError) Unwrap() []error { return []error{e.app, e.cause} }

func unavailableErr(msg string, cause error) error {
	return &unavailableError{app: &payhook.Error{Code: payhook.EUNAVAILABLE, Message: msg}, cause: cause}
}

// unavailable marks the errors that mean "the database cannot serve payhook now" (the
// server down, unreachable, restarting, read-only, out of disk, memory or connections)
// as EUNAVAILABLE, so that callers answer 503 and say so; the pool reconnects by itself
// once they clear. Other errors are returned as they are.
func unavailable(err error) error {
	if err == nil {
		return nil
	}
	var app *payhook.Error
	if errors.As(err, &app) {
		return err // already an application error (ErrClaimed, EUNAVAILABLE, …)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		if msg := serverUnavailable(pe.Code); msg != "" {
			return unavailableErr(msg, err)
		}
		if pe.Code == "22021" || pe.Code == "22P05" { // character_not_in_repertoire, untranslatable_character
			// SQLite keeps any bytes; PostgreSQL's text refuses NUL and invalid UTF-8.
			return payhook.Errorf(payhook.EINVALID, "The input holds a character that cannot be stored (a NUL character or invalid UTF-8).")
		}
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err // the caller's own deadline or cancellation
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return unavailableErr("payhook cannot connect to the database (down, unreachable or refusing connections): nothing was done. Retry later; payhook reconnects by itself.", err)
	}
	if connectionLost(err) {
		return unavailableErr("The connection to the database was lost: what was being written may not have been stored. Retry later; payhook reconnects by itself.", err)
	}
	return err
}

// serverUnavailable returns the message for a server error that means the database
// cannot take writes now, or "".
func serverUnavailable(code string) string {
	switch code {
	case "25006": // read_only_sql_transaction
		return "The database is read-only (a standby, or default_transaction_read_only is on): nothing was stored. Make it writable; payhook recovers by itself."
	case "53100": // disk_full
		return "The database's disk is full: nothing was stored. Free disk space; payhook recovers by itself."
	case "53200": // out_of_memory
		return "The database server is out of memory: nothing was stored. Retry later."
	case "53300": // too_many_connections
		return "The database server has no connection slot free (too many connections): nothing was stored. Retry later, or raise max_connections."
	case "53000", "53400": // insufficient_resources, configuration_limit_exceeded
		return "The database server lacks the resources for this now: nothing was stored. Retry later."
	case "58030": // io_error
		return "The database server cannot write to its disk (I/O error): nothing was stored. Retry later."
	case "57P01", "57P02", "57P03": // admin_shutdown, crash_shutdown, cannot_connect_now
		return "The database server is shutting down or restarting: nothing was stored. Retry later; payhook reconnects by itself."
	}
	if strings.HasPrefix(code, "08") { // connection_exception
		return "The connection to the database failed: nothing was stored. Retry later; payhook reconnects by itself."
	}
	return ""
}

// connectionLost reports whether err says the connection to the server broke.
func connectionLost(err error) bool {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	return errors.Is(err, pgconn.ErrConnClosed) || strings.Contains(err.Error(), "conn closed")
}

// pgCode returns the SQLSTATE of a server error, or "".
func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// uniqueViolation reports whether err is a unique violation of the named constraint.
func uniqueViolation(err error, constraint string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505" && pe.ConstraintName == constraint
}

// isApp reports whether err is an application error (ErrLeaseLost, ENOTFOUND, …): the
// outcome of a statement that ran, not a failure of the database.
func isApp(err error) bool {
	var app *payhook.Error
	return errors.As(err, &app)
}

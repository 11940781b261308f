package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook"
	"github.com/payhook/payhook/postgres"
)

// TestUnavailable_MapsWhatMeansTheDatabaseCannotServe: the server's and the network's
// ways of saying "not now" become EUNAVAILABLE (a clear message, the cause kept for the
// log); everything else is left as it is.
func TestUnavailable_MapsWhatMeansTheDatabaseCannotServe(t *testing.T) {
	t.Parallel()
	server := func(code string) error {
		return fmt.Errorf("insert notification: %w", &pgconn.PgError{Severity: "ERROR", Code: code, Message: "boom"})
	}
	for _, c := range []struct {
		name string
		err  error
		code string
	}{
		{"read-only transaction", server("25006"), payhook.EUNAVAILABLE},
		{"disk full", server("53100"), payhook.EUNAVAILABLE},
		{"out of memory", server("53200"), payhook.EUNAVAILABLE},
		{"too many connections", server("53300"), payhook.EUNAVAILABLE},
		{"admin shutdown", server("57P01"), payhook.EUNAVAILABLE},
		{"crash shutdown", server("57P02"), payhook.EUNAVAILABLE},
		{"cannot connect now", server("57P03"), payhook.EUNAVAILABLE},
		{"connection failure", server("08006"), payhook.EUNAVAILABLE},
		{"lost connection", fmt.Errorf("record attempt: %w", io.ErrUnexpectedEOF), payhook.EUNAVAILABLE},
		{"closed connection", fmt.Errorf("commit: %w", pgconn.ErrConnClosed), payhook.EUNAVAILABLE},
		{"NUL in text", server("22021"), payhook.EINVALID},
		{"unique violation", server("23505"), payhook.EINTERNAL},
		{"syntax error", server("42601"), payhook.EINTERNAL},
		{"caller's deadline", fmt.Errorf("load: %w", context.DeadlineExceeded), payhook.EINTERNAL},
		{"application error", payhook.ErrClaimed, payhook.ECONFLICT},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got := postgres.Unavailable(c.err)
			require.Equal(t, c.code, payhook.ErrorCode(got), "%v", got)
			if c.code == payhook.EUNAVAILABLE {
				require.ErrorIs(t, got, errors.Unwrap(c.err), "the cause is kept")
				require.NotContains(t, payhook.ErrorMessage(got), "boom", "the user's message is ours, the detail is the log's")
				require.Contains(t, got.Error(), c.err.Error(), "the log sees the detail")
			}
		})
	}
}

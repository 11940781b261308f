package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/payhook/payhook"
)

// AddSignInFailure records a failed sign-in under each key.
func (s *Store) AddSignInFailure(ctx context.Context, keys []string, at time.Time) error {
	if len(keys) == 0 {
		return nil
	}
	return s.do(ctx, &op{
		queue: func(b *pgx.Batch) {
			b.Queue(`INSERT INTO sign_in_failures (key, at) SELECT k, $2 FROM unnest($1::text[]) AS k`, keys, micros(at))
		},
		read: func(br pgx.BatchResults) error {
			_, err := br.Exec()
			return wrap("record sign-in failure", err)
		},
	})
}

// SignInFailures returns when key failed since since, oldest first.
func (s *Store) SignInFailures(ctx context.Context, key string, since time.Time) ([]time.Time, error) {
	var out []time.Time
	err := s.withConn(ctx, func(c *pgxpool.Conn) error {
		rows, err := c.Query(ctx, `SELECT at FROM sign_in_failures WHERE key = $1 AND at >= $2 ORDER BY at`, key, micros(since))
		if err != nil {
			return fmt.Errorf("load sign-in failures: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var at int64
			if err := rows.Scan(&at); err != nil {
				return fmt.Errorf("load sign-in failures: %w", err)
			}
			out = append(out, fromMicros(at))
		}
		return wrap("load sign-in failures", rows.Err())
	})
	return out, err
}

// ClearSignInFailures forgets the keys' failures and every failure older than before.
func (s *Store) ClearSignInFailures(ctx context.Context, keys []string, before time.Time) error {
	if keys == nil {
		keys = []string{}
	}
	return s.do(ctx, &op{
		queue: func(b *pgx.Batch) {
			b.Queue(`DELETE FROM sign_in_failures WHERE key = ANY($1) OR at < $2`, keys, micros(before))
		},
		read: func(br pgx.BatchResults) error {
			_, err := br.Exec()
			return wrap("clear sign-in failures", err)
		},
	})
}

// Lead makes owner the holder of the named role until until, if nobody else holds it at
// now, and reports whether owner holds it. One statement decides: of two processes
// asking at once, one holds the role.
func (s *Store) Lead(ctx context.Context, name, owner string, until, now time.Time) (bool, error) {
	var held bool
	err := s.do(ctx, &op{
		queue: func(b *pgx.Batch) {
			b.Queue(`INSERT INTO leaders (name, owner, until) VALUES ($1, $2, $3)
				ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until = excluded.until
				WHERE leaders.owner = excluded.owner OR leaders.until < $4`, name, owner, micros(until), micros(now))
		},
		read: func(br pgx.BatchResults) error {
			tag, err := br.Exec()
			held = err == nil && tag.RowsAffected() == 1
			return wrap("lead "+name, err)
		},
	})
	return held, err
}

const gatewayCallColumns = `reference, session_id, kind, amount, currency, success, result, created_at`

func scanGatewayCall(row pgx.Row) (*payhook.GatewayCall, error) {
	var c payhook.GatewayCall
	var amount, created int64
	if err := row.Scan(&c.Reference, &c.SessionID, &c.Kind, &amount, &c.Currency, &c.Success, &c.Result, &created); err != nil {
		return nil, err
	}
	c.Amount, c.CreatedAt = payhook.Amount(amount), fromMicros(created)
	return &c, nil
}

// RecordGatewayCall stores a sandbox gateway call unless its reference is stored, and
// returns the stored one (first wins). The insert waits for a concurrent insert of the
// same reference to end; the read after it, a statement of its own, sees the winner.
func (s *Store) RecordGatewayCall(ctx context.Context, c *payhook.GatewayCall) (*payhook.GatewayCall, error) {
	var out *payhook.GatewayCall
	err := s.do(ctx, &op{
		queue: func(b *pgx.Batch) {
			b.Queue(`INSERT INTO gateway_calls (`+gatewayCallColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
				ON CONFLICT (reference) DO NOTHING`, c.Reference, c.SessionID, c.Kind, int64(c.Amount), c.Currency, c.Success,
				nonNil(c.Result), micros(c.CreatedAt))
			b.Queue(`SELECT `+gatewayCallColumns+` FROM gateway_calls WHERE reference = $1`, c.Reference)
		},
		read: func(br pgx.BatchResults) error {
			if _, err := br.Exec(); err != nil {
				return fmt.Errorf("record gateway call: %w", err)
			}
			var err error
			out, err = scanGatewayCall(br.QueryRow())
			return wrap("record gateway call", err)
		},
	})
	return out, err
}

// GatewayCall returns the recorded call with that reference (ENOTFOUND when none).
func (s *Store) GatewayCall(ctx context.Context, reference string) (*payhook.GatewayCall, error) {
	var out *payhook.GatewayCall
	err := s.withConn(ctx, func(c *pgxpool.Conn) error {
		var err error
		out, err = scanGatewayCall(c.QueryRow(ctx, `SELECT `+gatewayCallColumns+` FROM gateway_calls WHERE reference = $1`, reference))
		if errors.Is(err, pgx.ErrNoRows) {
			return payhook.Errorf(payhook.ENOTFOUND, "no gateway call with reference %q", reference)
		}
		return wrap("load gateway call", err)
	})
	return out, err
}

package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/payhook/payhook"
)

// AddSignInFailure records a failed sign-in under each key.
func (s *Store) AddSignInFailure(ctx context.Context, keys []string, at time.Time) error {
	return s.do(ctx, func(w *writer) error {
		for _, k := range keys {
			if _, err := w.exec(`INSERT INTO sign_in_failures (key, at) VALUES (?, ?)`, k, micros(at)); err != nil {
				return fmt.Errorf("record sign-in failure: %w", err)
			}
		}
		return nil
	})
}

// SignInFailures returns when key failed since since.
func (s *Store) SignInFailures(ctx context.Context, key string, since time.Time) ([]time.Time, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT at FROM sign_in_failures WHERE key = ? AND at >= ? ORDER BY at`, key, micros(since))
	if err != nil {
		return nil, fmt.Errorf("load sign-in failures: %w", err)
	}
	defer rows.Close()
	var out []time.Time
	for rows.Next() {
		var at int64
		if err := rows.Scan(&at); err != nil {
			return nil, err
		}
		out = append(out, fromMicros(at))
	}
	return out, rows.Err()
}

// ClearSignInFailures forgets the keys' failures and every failure older than before.
func (s *Store) ClearSignInFailures(ctx context.Context, keys []string, before time.Time) error {
	return s.do(ctx, func(w *writer) error {
		for _, k := range keys {
			if _, err := w.exec(`DELETE FROM sign_in_failures WHERE key = ?`, k); err != nil {
				return err
			}
		}
		_, err := w.exec(`DELETE FROM sign_in_failures WHERE at < ?`, micros(before))
		return err
	})
}

// Lead makes owner the holder of a role if nobody else holds it.
func (s *Store) Lead(ctx context.Context, name, owner string, until, now time.Time) (bool, error) {
	var held bool
	err := s.do(ctx, func(w *writer) error {
		res, err := w.exec(`INSERT INTO leaders (name, owner, until) VALUES (?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until = excluded.until
			WHERE leaders.owner = excluded.owner OR leaders.until < ?`, name, owner, micros(until), micros(now))
		if err != nil {
			return fmt.Errorf("lead %s: %w", name, err)
		}
		n, _ := res.RowsAffected()
		held = n == 1
		return nil
	})
	return held, err
}

// CreateFirstAPIKey stores k only if no unrevoked key exists.
func (s *Store) CreateFirstAPIKey(ctx context.Context, k *payhook.APIKey) (bool, error) {
	var created bool
	err := s.do(ctx, func(w *writer) error {
		var n int
		if err := w.queryRow(`SELECT COUNT(*) FROM api_keys WHERE revoked_at = 0`).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		created = true
		return w.queryRow(`INSERT INTO api_keys (name, prefix, hash, created_at) VALUES (?, ?, ?, ?) RETURNING id`,
			k.Name, k.Prefix, k.Hash, micros(k.CreatedAt)).Scan(&k.ID)
	})
	return created, err
}

const gatewayCallColumns = `reference, session_id, kind, amount, currency, success, result, created_at`

func scanGatewayCall(sc scanner) (*payhook.GatewayCall, error) {
	var c payhook.GatewayCall
	var created int64
	if err := sc.Scan(&c.Reference, &c.SessionID, &c.Kind, &c.Amount, &c.Currency, &c.Success, &c.Result, &created); err != nil {
		return nil, err
	}
	c.CreatedAt = fromMicros(created)
	return &c, nil
}

// RecordGatewayCall stores a sandbox gateway call unless its reference is stored.
func (s *Store) RecordGatewayCall(ctx context.Context, c *payhook.GatewayCall) (*payhook.GatewayCall, error) {
	var out *payhook.GatewayCall
	err := s.do(ctx, func(w *writer) error {
		if _, err := w.exec(`INSERT INTO gateway_calls (`+gatewayCallColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (reference) DO NOTHING`, c.Reference, c.SessionID, c.Kind, int64(c.Amount), c.Currency, c.Success,
			c.Result, micros(c.CreatedAt)); err != nil {
			return fmt.Errorf("record gateway call: %w", err)
		}
		var err error
		out, err = scanGatewayCall(w.queryRow(`SELECT `+gatewayCallColumns+` FROM gateway_calls WHERE reference = ?`, c.Reference))
		return err
	})
	return out, err
}

// GatewayCall returns the recorded call with that reference.
func (s *Store) GatewayCall(ctx context.Context, reference string) (*payhook.GatewayCall, error) {
	c, err := scanGatewayCall(s.read.QueryRowContext(ctx, `SELECT `+gatewayCallColumns+` FROM gateway_calls WHERE reference = ?`, reference))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, payhook.Errorf(payhook.ENOTFOUND, "no gateway call with reference %q", reference)
	}
	return c, err
}

// PingWrite checks that the database takes a write and can still grow: the health row
// is rewritten in place (it never needs a new page), so it alone would pass on a
// database capped at its size (LimitSize) where every write that needs a page fails.
func (s *Store) PingWrite(ctx context.Context) error {
	return s.do(ctx, func(w *writer) error {
		if _, err := w.exec(`INSERT INTO health (id, at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET at = excluded.at`, micros(time.Now())); err != nil {
			return err
		}
		var pages, maxPages, free int64
		for q, v := range map[string]*int64{`PRAGMA page_count`: &pages, `PRAGMA max_page_count`: &maxPages, `PRAGMA freelist_count`: &free} {
			if err := s.conn.QueryRowContext(w.ctx, q).Scan(v); err != nil {
				return err
			}
		}
		if maxPages-pages+free < 1 {
			return &payhook.Error{Code: payhook.EUNAVAILABLE, Message: "The database is full (no space left for writes): nothing was stored. Free disk space; payhook recovers by itself."}
		}
		return nil
	})
}

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

// Claim takes a claim on a transaction and records its intent, as one op of the writer
// (see op): the transaction's row locked and checked (with the Tracking-Key), then the
// Tracking-Key recorded in progress, the row marked and the claim inserted.
func (s *Store) Claim(ctx context.Context, c *payhook.Claim) error {
	keys := []string{transactionKey(c.SessionID), claimKey(c.ID)}
	if c.Tracking != nil {
		keys = append(keys, trackingKey(c.Tracking.Key))
	}
	intent, err := c.IntentJSON()
	if err != nil {
		return err
	}
	b := storableJSON(intent)
	var writes int
	return s.do(ctx, &op{
		keys: keys,
		lock: func(batch *pgx.Batch) {
			lockTransaction(batch, c.SessionID)
			if c.Tracking != nil {
				lockTracking(batch, c.Tracking.Key)
			}
		},
		decide: func(br pgx.BatchResults) error {
			row, err := readLocked(br)
			if err != nil {
				return err
			}
			var recorded bool
			if c.Tracking != nil {
				if recorded, _, err = readTracking(br); err != nil {
					return err
				}
			}
			switch {
			case !row.found:
				return payhook.Errorf(payhook.ENOTFOUND, "no transaction with session_id %q", c.SessionID)
			case row.claim != "":
				return payhook.ErrClaimed
			case !row.allows(c.From, c.Unchanged):
				return conflict(c.SessionID)
			case recorded:
				return payhook.ErrTrackingKeyUsed
			}
			return nil
		},
		queue: func(batch *pgx.Batch) {
			before := batch.Len()
			if tr := c.Tracking; tr != nil {
				batch.Queue(`INSERT INTO operation_tracking (tracking_key, request_hash, session_id, status_code, answer, created_at, claim_id, done)
					VALUES ($1, $2, $3, 0, '', $4, $5, false)`, tr.Key, tr.RequestHash, tr.SessionID, micros(tr.CreatedAt), c.ID)
			}
			batch.Queue(`UPDATE transactions SET claim_id = $1 WHERE session_id = $2`, c.ID, c.SessionID)
			batch.Queue(`INSERT INTO claims (id, session_id, kind, owner, until, created_at, doc) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
				c.ID, c.SessionID, string(c.Kind), c.Owner, micros(c.Until), micros(c.CreatedAt), b)
			writes = batch.Len() - before
		},
		read: func(br pgx.BatchResults) error {
			err := execAll(br, writes)
			if uniqueViolation(err, "operation_tracking_pkey") {
				// recorded by another process since it was read
				return payhook.ErrTrackingKeyUsed
			}
			return wrap("claim transaction", err)
		},
	})
}

// ReleaseClaim ends a claim whose gateway was never asked: one statement deletes it if
// owner owns it, frees its transaction and forgets its in-progress Tracking-Key.
func (s *Store) ReleaseClaim(ctx context.Context, id, owner string) error {
	return s.do(ctx, &op{
		keys: []string{claimKey(id)},
		queue: func(b *pgx.Batch) {
			b.Queue(`WITH ended AS (
					DELETE FROM claims WHERE id = $1 AND owner = $2 RETURNING session_id),
				freed AS (
					UPDATE transactions SET claim_id = '' WHERE session_id IN (SELECT session_id FROM ended) AND claim_id = $1),
				forgotten AS (
					DELETE FROM operation_tracking WHERE claim_id = $1 AND NOT done AND EXISTS (SELECT 1 FROM ended))
				SELECT COUNT(*) FROM ended`, id, owner)
		},
		read: func(br pgx.BatchResults) error {
			var n int
			if err := br.QueryRow().Scan(&n); err != nil {
				return fmt.Errorf("release claim: %w", err)
			}
			if n == 0 {
				return payhook.ErrClaimLost
			}
			return nil
		},
	})
}

const claimColumns = `id, session_id, kind, owner, until, created_at, doc`

func scanClaim(row pgx.Row) (*payhook.Claim, error) {
	var c payhook.Claim
	var kind string
	var until, created int64
	var doc []byte
	if err := row.Scan(&c.ID, &c.SessionID, &kind, &c.Owner, &until, &created, &doc); err != nil {
		return nil, err
	}
	c.Kind = payhook.ClaimKind(kind)
	c.Until, c.CreatedAt = fromMicros(until), fromMicros(created)
	if err := c.SetIntentJSON(doc); err != nil {
		return nil, err
	}
	return &c, nil
}

// StaleClaims returns up to limit claims whose Until is before now, oldest first.
func (s *Store) StaleClaims(ctx context.Context, now time.Time, limit int) ([]*payhook.Claim, error) {
	var out []*payhook.Claim
	err := s.withConn(ctx, func(c *pgxpool.Conn) error {
		rows, err := c.Query(ctx, `SELECT `+claimColumns+` FROM claims WHERE until < $1 ORDER BY until LIMIT $2`, micros(now), sqlLimit(limit))
		if err != nil {
			return fmt.Errorf("stale claims: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			cl, err := scanClaim(rows)
			if err != nil {
				return fmt.Errorf("stale claims: %w", err)
			}
			out = append(out, cl)
		}
		return wrap("stale claims", rows.Err())
	})
	return out, err
}

// TakeOverClaim makes owner the owner of a stale claim until until.
func (s *Store) TakeOverClaim(ctx context.Context, id, owner string, until, now time.Time) (*payhook.Claim, error) {
	var c *payhook.Claim
	err := s.do(ctx, &op{
		keys: []string{claimKey(id)},
		queue: func(b *pgx.Batch) {
			b.Queue(`UPDATE claims SET owner = $1, until = $2 WHERE id = $3 AND until < $4 RETURNING `+claimColumns,
				owner, micros(until), id, micros(now))
		},
		read: func(br pgx.BatchResults) error {
			var err error
			c, err = scanClaim(br.QueryRow())
			if errors.Is(err, pgx.ErrNoRows) {
				return payhook.ErrClaimLost
			}
			return wrap("take over claim", err)
		},
	})
	return c, err
}

// ClaimByID returns a claim (ENOTFOUND once it ended).
func (s *Store) ClaimByID(ctx context.Context, id string) (*payhook.Claim, error) {
	var c *payhook.Claim
	err := s.withConn(ctx, func(conn *pgxpool.Conn) error {
		var err error
		c, err = scanClaim(conn.QueryRow(ctx, `SELECT `+claimColumns+` FROM claims WHERE id = $1`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return payhook.Errorf(payhook.ENOTFOUND, "no claim %q", id)
		}
		return wrap("load claim", err)
	})
	return c, err
}

package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/payhook/payhook"
)

// Claim takes a claim on a transaction and records its intent.
func (s *Store) Claim(ctx context.Context, c *payhook.Claim) error {
	b, err := c.IntentJSON()
	if err != nil {
		return err
	}
	return s.do(ctx, func(w *writer) error {
		var state, claim string
		var updated int64
		err := w.queryRow(`SELECT state, claim_id, updated_at FROM transactions WHERE session_id = ?`, c.SessionID).Scan(&state, &claim, &updated)
		if errors.Is(err, sql.ErrNoRows) {
			return payhook.Errorf(payhook.ENOTFOUND, "no transaction with session_id %q", c.SessionID)
		}
		if err != nil {
			return fmt.Errorf("load transaction: %w", err)
		}
		if claim != "" {
			return payhook.ErrClaimed
		}
		if !stateIn(payhook.State(state), c.From) || (!c.Unchanged.IsZero() && updated != micros(c.Unchanged)) {
			return payhook.Errorf(payhook.ECONFLICT, "transaction %s is no longer in a state that allows this", c.SessionID)
		}
		if tr := c.Tracking; tr != nil {
			res, err := w.exec(`INSERT INTO operation_tracking (tracking_key, request_hash, session_id, status_code, answer, created_at, claim_id, done)
				VALUES (?, ?, ?, 0, x'', ?, ?, 0) ON CONFLICT (tracking_key) DO NOTHING`,
				tr.Key, tr.RequestHash, tr.SessionID, micros(tr.CreatedAt), c.ID)
			if err != nil {
				return fmt.Errorf("insert tracking key: %w", err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return payhook.ErrTrackingKeyUsed
			}
		}
		if _, err := w.exec(`UPDATE transactions SET claim_id = ? WHERE session_id = ?`, c.ID, c.SessionID); err != nil {
			return fmt.Errorf("claim transaction: %w", err)
		}
		if _, err := w.exec(`INSERT INTO claims (id, session_id, kind, owner, until, created_at, doc) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			c.ID, c.SessionID, string(c.Kind), c.Owner, micros(c.Until), micros(c.CreatedAt), string(b)); err != nil {
			return fmt.Errorf("insert claim: %w", err)
		}
		return nil
	})
}

func stateIn(s payhook.State, list []payhook.State) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// deleteClaim deletes a claim owned by owner and returns its transaction's session id.
func deleteClaim(w *writer, id, owner string) (string, error) {
	var sessionID string
	err := w.queryRow(`DELETE FROM claims WHERE id = ? AND owner = ? RETURNING session_id`, id, owner).Scan(&sessionID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", payhook.ErrClaimLost
	}
	if err != nil {
		return "", fmt.Errorf("end claim: %w", err)
	}
	return sessionID, nil
}

// endClaim deletes a claim owned by owner and frees its transaction.
func endClaim(w *writer, id, owner string) error {
	sessionID, err := deleteClaim(w, id, owner)
	if err != nil {
		return err
	}
	if _, err := w.exec(`UPDATE transactions SET claim_id = '' WHERE session_id = ? AND claim_id = ?`, sessionID, id); err != nil {
		return fmt.Errorf("free transaction: %w", err)
	}
	return nil
}

// ReleaseClaim ends a claim whose gateway was never asked.
func (s *Store) ReleaseClaim(ctx context.Context, id, owner string) error {
	return s.do(ctx, func(w *writer) error {
		if err := endClaim(w, id, owner); err != nil {
			return err
		}
		_, err := w.exec(`DELETE FROM operation_tracking WHERE claim_id = ? AND done = 0`, id)
		return err
	})
}

const claimColumns = `id, session_id, kind, owner, until, created_at, doc`

func scanClaim(sc scanner) (*payhook.Claim, error) {
	var c payhook.Claim
	var until, created int64
	var doc string
	if err := sc.Scan(&c.ID, &c.SessionID, &c.Kind, &c.Owner, &until, &created, &doc); err != nil {
		return nil, err
	}
	c.Until, c.CreatedAt = fromMicros(until), fromMicros(created)
	if err := c.SetIntentJSON([]byte(doc)); err != nil {
		return nil, err
	}
	return &c, nil
}

// StaleClaims returns claims whose Until passed.
func (s *Store) StaleClaims(ctx context.Context, now time.Time, limit int) ([]*payhook.Claim, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+claimColumns+` FROM claims WHERE until < ? ORDER BY until LIMIT ?`, micros(now), limit)
	if err != nil {
		return nil, fmt.Errorf("stale claims: %w", err)
	}
	defer rows.Close()
	var out []*payhook.Claim
	for rows.Next() {
		c, err := scanClaim(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// TakeOverClaim makes owner the owner of a stale claim.
func (s *Store) TakeOverClaim(ctx context.Context, id, owner string, until, now time.Time) (*payhook.Claim, error) {
	var c *payhook.Claim
	err := s.do(ctx, func(w *writer) error {
		var err error
		c, err = scanClaim(w.queryRow(`UPDATE claims SET owner = ?, until = ? WHERE id = ? AND until < ? RETURNING `+claimColumns,
			owner, micros(until), id, micros(now)))
		if errors.Is(err, sql.ErrNoRows) {
			return payhook.ErrClaimLost
		}
		return err
	})
	return c, err
}

// ClaimByID returns a claim.
func (s *Store) ClaimByID(ctx context.Context, id string) (*payhook.Claim, error) {
	c, err := scanClaim(s.read.QueryRowContext(ctx, `SELECT `+claimColumns+` FROM claims WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, payhook.Errorf(payhook.ENOTFOUND, "no claim %q", id)
	}
	return c, err
}

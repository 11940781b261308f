package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/payhook/payhook"
)

// CreateTransaction stores a new transaction.
func (s *Store) CreateTransaction(ctx context.Context, t *payhook.Transaction) error {
	doc, err := json.Marshal(t)
	if err != nil {
		return err
	}
	return s.do(ctx, func(w *writer) error {
		_, err := w.exec(`INSERT INTO transactions (session_id, reference_number, order_no, plugin, origin, state,
			created_at, updated_at, expires_at, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			t.SessionID, t.ReferenceNumber, t.OrderNo, string(t.Type), string(t.Origin), string(t.State),
			micros(t.CreatedAt), micros(t.UpdatedAt), micros(t.ExpiresAt), doc)
		if err != nil {
			return fmt.Errorf("insert transaction: %w", err)
		}
		return nil
	})
}

// Transaction returns a transaction by session id.
func (s *Store) Transaction(ctx context.Context, sessionID string) (*payhook.Transaction, error) {
	var doc []byte
	err := s.read.QueryRowContext(ctx, `SELECT doc FROM transactions WHERE session_id = ?`, sessionID).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, payhook.Errorf(payhook.ENOTFOUND, "no transaction with session_id %q", sessionID)
	}
	if err != nil {
		return nil, fmt.Errorf("load transaction: %w", err)
	}
	var t payhook.Transaction
	if err := json.Unmarshal(doc, &t); err != nil {
		return nil, fmt.Errorf("decode transaction: %w", err)
	}
	return &t, nil
}

// UpdateTransaction saves t when its stored state is one of from, with its notifications.
func (s *Store) UpdateTransaction(ctx context.Context, t *payhook.Transaction, from []payhook.State, notes []*payhook.Notification, lease payhook.Lease) error {
	return s.ApplyChange(ctx, payhook.Change{Transaction: t, From: from, Notifications: notes, Lease: lease})
}

// ApplyChange stores a change atomically.
func (s *Store) ApplyChange(ctx context.Context, ch payhook.Change) error {
	t := ch.Transaction
	doc, err := json.Marshal(t)
	if err != nil {
		return err
	}
	in := placeholders(len(ch.From))
	var query string
	var args []any
	if ch.Delete {
		query = `DELETE FROM transactions WHERE session_id = ? AND state IN (` + in + `)`
		args = []any{t.SessionID}
	} else {
		query = `UPDATE transactions SET state = ?, updated_at = ?, expires_at = ?, doc = ? WHERE session_id = ? AND state IN (` + in + `)`
		args = []any{string(t.State), micros(t.UpdatedAt), micros(t.ExpiresAt), doc, t.SessionID}
	}
	for _, st := range ch.From {
		args = append(args, string(st))
	}
	if !ch.Unchanged.IsZero() {
		query += ` AND updated_at = ?`
		args = append(args, micros(ch.Unchanged))
	}
	return s.do(ctx, func(w *writer) error {
		res, err := w.exec(query, args...)
		if err != nil {
			return fmt.Errorf("update transaction: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return payhook.Errorf(payhook.ECONFLICT, "transaction %s is no longer in a state that allows this", t.SessionID)
		}
		if tr := ch.Tracking; tr != nil {
			res, err := w.exec(`INSERT INTO operation_tracking (tracking_key, request_hash, session_id, status_code, answer, created_at)
				VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (tracking_key) DO NOTHING`,
				tr.Key, tr.RequestHash, tr.SessionID, tr.StatusCode, tr.Answer, micros(tr.CreatedAt))
			if err != nil {
				return fmt.Errorf("insert tracking key: %w", err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return payhook.ErrTrackingKeyUsed
			}
		}
		return insertNotifications(w, ch.Notifications, ch.Lease)
	})
}

func (s *Store) transactions(ctx context.Context, query string, args ...any) ([]*payhook.Transaction, error) {
	rows, err := s.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("load transactions: %w", err)
	}
	defer rows.Close()
	var out []*payhook.Transaction
	for rows.Next() {
		var doc []byte
		if err := rows.Scan(&doc); err != nil {
			return nil, err
		}
		var t payhook.Transaction
		if err := json.Unmarshal(doc, &t); err != nil {
			return nil, fmt.Errorf("decode transaction: %w", err)
		}
		out = append(out, &t)
	}
	return out, rows.Err()
}

// TransactionsByOrderNo returns the transactions with that order_no, newest first.
func (s *Store) TransactionsByOrderNo(ctx context.Context, orderNo string) ([]*payhook.Transaction, error) {
	return s.transactions(ctx, `SELECT doc FROM transactions WHERE order_no = ? AND order_no <> '' ORDER BY created_at DESC LIMIT 20`, orderNo)
}

// ExpiredTransactions returns payable transactions past their expiration time.
func (s *Store) ExpiredTransactions(ctx context.Context, now time.Time, limit int) ([]*payhook.Transaction, error) {
	return s.transactions(ctx, `SELECT doc FROM transactions WHERE state IN ('created', 'pending', 'attempted') AND expires_at <= ?
		ORDER BY expires_at LIMIT ?`, micros(now), limit)
}

// Tracking returns the recorded answer of a Tracking-Key.
func (s *Store) Tracking(ctx context.Context, key string) (*payhook.Tracking, error) {
	var tr payhook.Tracking
	var created int64
	err := s.read.QueryRowContext(ctx, `SELECT tracking_key, request_hash, session_id, status_code, answer, created_at
		FROM operation_tracking WHERE tracking_key = ?`, key).Scan(&tr.Key, &tr.RequestHash, &tr.SessionID, &tr.StatusCode, &tr.Answer, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, payhook.Errorf(payhook.ENOTFOUND, "no operation with Tracking-Key %q", key)
	}
	if err != nil {
		return nil, fmt.Errorf("load tracking key: %w", err)
	}
	tr.CreatedAt = fromMicros(created)
	return &tr, nil
}

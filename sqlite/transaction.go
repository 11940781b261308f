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
	doc, err := marshalTransaction(t)
	if err != nil {
		return err
	}
	return s.do(ctx, func(w *writer) error {
		_, err := w.exec(`INSERT INTO transactions (session_id, reference_number, order_no, plugin, origin, state,
			created_at, updated_at, expires_at, doc, customer_email) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			t.SessionID, t.ReferenceNumber, t.OrderNo, string(t.Type), string(t.Origin), string(t.State),
			micros(t.CreatedAt), micros(t.UpdatedAt), micros(t.ExpiresAt), doc, t.Customer.Email)
		if err != nil {
			return fmt.Errorf("insert transaction: %w", err)
		}
		return nil
	})
}

// Transaction returns a transaction by session id, with its children.
func (s *Store) Transaction(ctx context.Context, sessionID string) (*payhook.Transaction, error) {
	t, err := s.TransactionHead(ctx, sessionID)
	if err != nil {
		return nil, err
	}
	rows, err := s.read.QueryContext(ctx, `SELECT doc FROM children WHERE parent_session_id = ? ORDER BY seq`, sessionID)
	if err != nil {
		return nil, fmt.Errorf("load children: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var doc []byte
		if err := rows.Scan(&doc); err != nil {
			return nil, err
		}
		var c payhook.Child
		if err := json.Unmarshal(doc, &c); err != nil {
			return nil, fmt.Errorf("decode child: %w", err)
		}
		t.Children = append(t.Children, c)
	}
	return t, rows.Err()
}

// TransactionHead returns a transaction without its children.
func (s *Store) TransactionHead(ctx context.Context, sessionID string) (*payhook.Transaction, error) {
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

// ApplyChange stores a change atomically.
func (s *Store) ApplyChange(ctx context.Context, ch payhook.Change) error {
	t := ch.Transaction
	doc, err := marshalTransaction(t)
	if err != nil {
		return err
	}
	var childDoc []byte
	if ch.Child != nil {
		if childDoc, err = json.Marshal(ch.Child); err != nil {
			return err
		}
	}
	in := placeholders(len(ch.From))
	var query string
	var args []any
	if ch.Delete {
		query = `DELETE FROM transactions WHERE session_id = ? AND state IN (` + in + `)`
		args = []any{t.SessionID}
	} else {
		query = `UPDATE transactions SET state = ?, updated_at = ?, expires_at = ?, doc = ?, claim_id = '' WHERE session_id = ? AND state IN (` + in + `)`
		args = []any{string(t.State), micros(t.UpdatedAt), micros(t.ExpiresAt), doc, t.SessionID}
	}
	for _, st := range ch.From {
		args = append(args, string(st))
	}
	if !ch.Unchanged.IsZero() {
		query += ` AND updated_at = ?`
		args = append(args, micros(ch.Unchanged))
	}
	query += ` AND claim_id = ?`
	args = append(args, ch.Claim)
	return s.do(ctx, func(w *writer) error {
		if ch.Claim != "" {
			if _, err := deleteClaim(w, ch.Claim, ch.ClaimOwner); err != nil {
				return err
			}
		}
		res, err := w.exec(query, args...)
		if err != nil {
			return fmt.Errorf("update transaction: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			var claim string
			if err := w.queryRow(`SELECT claim_id FROM transactions WHERE session_id = ?`, t.SessionID).Scan(&claim); err == nil && claim != "" && ch.Claim == "" {
				return payhook.ErrClaimed
			}
			return payhook.Errorf(payhook.ECONFLICT, "transaction %s is no longer in a state that allows this", t.SessionID)
		}
		if ch.Child != nil {
			if _, err := w.exec(`INSERT INTO children (session_id, parent_session_id, seq, doc)
				VALUES (?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM children WHERE parent_session_id = ?), ?)`,
				ch.Child.SessionID, t.SessionID, t.SessionID, childDoc); err != nil {
				return fmt.Errorf("insert child: %w", err)
			}
		}
		if tr := ch.Tracking; tr != nil {
			if err := storeTrackingAnswer(w, tr, ch.Claim); err != nil {
				return err
			}
		}
		return insertNotifications(w, ch.Notifications, ch.Lease)
	})
}

// storeTrackingAnswer records a Tracking-Key's answer: completing the row recorded in
// progress with claim, or inserting it (ErrTrackingKeyUsed when the key is taken).
func storeTrackingAnswer(w *writer, tr *payhook.Tracking, claim string) error {
	if claim != "" {
		res, err := w.exec(`UPDATE operation_tracking SET done = 1, claim_id = '', status_code = ?, answer = ?
			WHERE tracking_key = ? AND claim_id = ? AND done = 0`, tr.StatusCode, tr.Answer, tr.Key, claim)
		if err != nil {
			return fmt.Errorf("complete tracking key: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return nil
		}
	}
	res, err := w.exec(`INSERT INTO operation_tracking (tracking_key, request_hash, session_id, status_code, answer, created_at, claim_id, done)
		VALUES (?, ?, ?, ?, ?, ?, '', 1) ON CONFLICT (tracking_key) DO NOTHING`,
		tr.Key, tr.RequestHash, tr.SessionID, tr.StatusCode, tr.Answer, micros(tr.CreatedAt))
	if err != nil {
		return fmt.Errorf("insert tracking key: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return payhook.ErrTrackingKeyUsed
	}
	return nil
}

// marshalTransaction encodes a transaction's document, without its children: they are
// rows of their own (so that an operation's cost does not grow with those before it).
func marshalTransaction(t *payhook.Transaction) ([]byte, error) {
	c := *t
	c.Children = nil
	return json.Marshal(&c)
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
	return s.transactions(ctx, `SELECT doc FROM transactions WHERE order_no = ? AND order_no <> '' ORDER BY created_at DESC`, orderNo)
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
	err := s.read.QueryRowContext(ctx, `SELECT tracking_key, request_hash, session_id, status_code, answer, created_at, claim_id, done
		FROM operation_tracking WHERE tracking_key = ?`, key).Scan(&tr.Key, &tr.RequestHash, &tr.SessionID, &tr.StatusCode, &tr.Answer, &created, &tr.ClaimID, &tr.Done)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, payhook.Errorf(payhook.ENOTFOUND, "no operation with Tracking-Key %q", key)
	}
	if err != nil {
		return nil, fmt.Errorf("load tracking key: %w", err)
	}
	tr.CreatedAt = fromMicros(created)
	return &tr, nil
}

package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

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
	doc, err := json.Marshal(t)
	if err != nil {
		return err
	}
	args := []any{string(t.State), micros(t.UpdatedAt), micros(t.ExpiresAt), doc, t.SessionID}
	for _, st := range from {
		args = append(args, string(st))
	}
	query := `UPDATE transactions SET state = ?, updated_at = ?, expires_at = ?, doc = ? WHERE session_id = ? AND state IN (` + placeholders(len(from)) + `)`
	return s.do(ctx, func(w *writer) error {
		res, err := w.exec(query, args...)
		if err != nil {
			return fmt.Errorf("update transaction: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return payhook.Errorf(payhook.ECONFLICT, "transaction %s is no longer in a state that allows this", t.SessionID)
		}
		return insertNotifications(w, notes, lease)
	})
}

package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/payhook/payhook"
)

// ListTransactions returns the matching transactions, newest first, each with the status
// of its latest notification.
func (s *Store) ListTransactions(ctx context.Context, f payhook.TransactionFilter) ([]*payhook.Transaction, int, error) {
	var conds []string
	var args []any
	add := func(c string, v ...any) { conds, args = append(conds, c), append(args, v...) }
	if f.State != "" {
		add("t.state = ?", string(f.State))
	}
	if f.Plugin != "" {
		add("t.plugin = ?", string(f.Plugin))
	}
	if f.Query != "" {
		like := "%" + escapeLike(f.Query) + "%"
		add(`(t.order_no LIKE ? ESCAPE '\' OR t.customer_email LIKE ? ESCAPE '\' OR t.session_id = ? OR t.reference_number = ?
			OR t.session_id IN (SELECT parent_session_id FROM children WHERE session_id = ? OR reference_number = ?))`,
			like, like, f.Query, f.Query, f.Query, f.Query)
	}
	if !f.CreatedFrom.IsZero() {
		add("t.created_at >= ?", micros(f.CreatedFrom))
	}
	if !f.CreatedUntil.IsZero() {
		add("t.created_at < ?", micros(f.CreatedUntil))
	}
	switch f.Webhook {
	case "":
	case payhook.NoNotification:
		add("NOT EXISTS (SELECT 1 FROM notifications n WHERE n.session_id = t.session_id)")
	case payhook.StatusDelivered:
		// A transaction without any notification that is not delivered needs no look at
		// its latest one (notifications_unsettled lists those that have one).
		add(`EXISTS (SELECT 1 FROM notifications n WHERE n.session_id = t.session_id)
			AND (t.session_id NOT IN (SELECT session_id FROM notifications WHERE status <> 'delivered') OR ` + lastNotification + ` = 'delivered')`)
	default:
		// Only the transactions with a notification in that status can match: they are
		// found from notifications_unsettled before the latest of each is read.
		add(`t.session_id IN (SELECT session_id FROM notifications WHERE status = ? AND status <> 'delivered') AND `+
			lastNotification+" = ?", string(f.Webhook), string(f.Webhook))
	}
	where := ""
	if len(conds) > 0 {
		where = " WHERE " + strings.Join(conds, " AND ")
	}
	var total int
	if err := s.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM transactions t`+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count transactions: %w", err)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	if total == 0 || f.Offset >= total {
		return nil, total, nil // a filter that matches few rows makes the page's scan the longest
	}
	// The page is found in transactions_search first, and only its documents are read.
	rows, err := s.read.QueryContext(ctx, `SELECT t.doc, coalesce(`+lastNotification+`, '') FROM transactions t
		WHERE t.session_id IN (SELECT t.session_id FROM transactions t`+where+` ORDER BY t.created_at DESC, t.session_id LIMIT ? OFFSET ?)
		ORDER BY t.created_at DESC, t.session_id`, append(args, limit, max(0, f.Offset))...)
	if err != nil {
		return nil, 0, fmt.Errorf("list transactions: %w", err)
	}
	defer rows.Close()
	var out []*payhook.Transaction
	for rows.Next() {
		var doc []byte
		var last string
		if err := rows.Scan(&doc, &last); err != nil {
			return nil, 0, fmt.Errorf("list transactions: %w", err)
		}
		var t payhook.Transaction
		if err := json.Unmarshal(doc, &t); err != nil {
			return nil, 0, fmt.Errorf("decode transaction: %w", err)
		}
		t.LastNotification = payhook.Status(last)
		out = append(out, &t)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("list transactions: %w", err)
	}
	return out, total, nil
}

// lastNotification is the status of the latest notification of transaction t (NULL
// without any); of those created at once (one per URL), the least delivered.
const lastNotification = `(SELECT n.status FROM notifications n WHERE n.session_id = t.session_id
	ORDER BY n.created_at DESC, CASE n.status WHEN 'failed' THEN 0 WHEN 'pending' THEN 1 WHEN 'not_sent' THEN 2 ELSE 3 END, n.id DESC
	LIMIT 1)`

// escapeLike escapes LIKE's wildcards (and its escape character) in s, for ESCAPE '\'.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

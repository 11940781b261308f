package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/payhook/payhook"
)

// ListTransactions returns the matching transactions, newest first, each with the status
// of its latest notification, and how many match.
func (s *Store) ListTransactions(ctx context.Context, f payhook.TransactionFilter) ([]*payhook.Transaction, int, error) {
	var w where
	if f.State != "" {
		w.add("t.state = $", string(f.State))
	}
	if f.Plugin != "" {
		w.add("t.plugin = $", string(f.Plugin))
	}
	if f.Query != "" {
		like, q := w.arg("%"+escapeLike(f.Query)+"%"), w.arg(f.Query)
		w.conds = append(w.conds, fmt.Sprintf(`(t.order_no ILIKE %[1]s OR t.customer_email ILIKE %[1]s
			OR t.session_id = %[2]s OR t.reference_number = %[2]s
			OR t.session_id IN (SELECT parent_session_id FROM children WHERE session_id = %[2]s OR doc ->> 'reference_number' = %[2]s))`,
			like, q))
	}
	if !f.CreatedFrom.IsZero() {
		w.add("t.created_at >= $", micros(f.CreatedFrom))
	}
	if !f.CreatedUntil.IsZero() {
		w.add("t.created_at < $", micros(f.CreatedUntil))
	}
	switch f.Webhook {
	case "":
	case payhook.NoNotification:
		w.conds = append(w.conds, "NOT EXISTS (SELECT 1 FROM notifications n WHERE n.session_id = t.session_id)")
	case payhook.StatusDelivered:
		// A transaction without any notification that is not delivered needs no look at
		// its latest one (notifications_unsettled lists those that have one).
		w.conds = append(w.conds, `EXISTS (SELECT 1 FROM notifications n WHERE n.session_id = t.session_id)
			AND (t.session_id NOT IN (SELECT session_id FROM notifications WHERE status <> 'delivered') OR `+lastNotification+` = 'delivered')`)
	default:
		// Only the transactions with a notification in that status can match: they are
		// found from notifications_unsettled before the latest of each is read.
		st := w.arg(string(f.Webhook))
		w.conds = append(w.conds, fmt.Sprintf(`t.session_id IN (SELECT session_id FROM notifications WHERE status = %[1]s AND status <> 'delivered')
			AND %[2]s = %[1]s`, st, lastNotification))
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	var total int
	var out []*payhook.Transaction
	err := s.withConn(ctx, func(c *pgxpool.Conn) error {
		if err := c.QueryRow(ctx, `SELECT COUNT(*) FROM transactions t`+w.sql(), w.args...).Scan(&total); err != nil {
			return wrap("count transactions", err)
		}
		if total == 0 || f.Offset >= total {
			return nil // a filter that matches few rows makes the page's scan the longest
		}
		lim, off := w.arg(limit), w.arg(max(0, f.Offset))
		// The page is found in transactions_search first, and only its documents are read.
		rows, err := c.Query(ctx, `SELECT t.doc, coalesce(`+lastNotification+`, '') FROM transactions t
			WHERE t.session_id IN (SELECT t.session_id FROM transactions t`+w.sql()+` ORDER BY t.created_at DESC, t.session_id
				LIMIT `+lim+` OFFSET `+off+`)
			ORDER BY t.created_at DESC, t.session_id`, w.args...)
		if err != nil {
			return wrap("list transactions", err)
		}
		defer rows.Close()
		for rows.Next() {
			var doc []byte
			var last string
			if err := rows.Scan(&doc, &last); err != nil {
				return wrap("list transactions", err)
			}
			var t payhook.Transaction
			if err := json.Unmarshal(doc, &t); err != nil {
				return fmt.Errorf("decode transaction: %w", err)
			}
			t.LastNotification = payhook.Status(last)
			out = append(out, &t)
		}
		return wrap("list transactions", rows.Err())
	})
	if err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

// lastNotification is the status of the latest notification of transaction t (NULL
// without any); of those created at once (one per URL), the least delivered.
const lastNotification = `(SELECT n.status FROM notifications n WHERE n.session_id = t.session_id
	ORDER BY n.created_at DESC, CASE n.status WHEN 'failed' THEN 0 WHEN 'pending' THEN 1 WHEN 'not_sent' THEN 2 ELSE 3 END, n.id DESC
	LIMIT 1)`

// escapeLike escapes LIKE's wildcards (and its escape character, the default \) in s.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// urlPrefix adds the condition "url starts with prefix" to w.
func urlPrefix(w *where, prefix string) {
	n, p := w.arg(utf8.RuneCountInString(prefix)), w.arg(prefix)
	w.conds = append(w.conds, "substr(url, 1, "+n+") = "+p)
}

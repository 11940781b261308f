package sqlite

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/payhook/payhook"
)

// Unacknowledged returns the window's notifications that await an acknowledgement,
// oldest first. The window is bounded (payhook.MaxReconciliationWindow) and read through
// notifications_created; notifications_unsettled would serve a long window of mostly
// delivered notifications better, and SQLite's planner picks between them.
func (s *Store) Unacknowledged(ctx context.Context, f payhook.ReconciliationFilter) ([]*payhook.Notification, int, error) {
	conds := []string{"status NOT IN ('delivered', 'not_sent')", "url <> ''"}
	var args []any
	if f.URL != "" {
		conds, args = append(conds, "url = ?"), append(args, f.URL)
	}
	if !f.Since.IsZero() {
		conds, args = append(conds, "created_at >= ?"), append(args, micros(f.Since))
	}
	if !f.Until.IsZero() {
		conds, args = append(conds, "created_at < ?"), append(args, micros(f.Until))
	}
	where := " WHERE " + strings.Join(conds, " AND ")
	var total int
	if err := s.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM notifications`+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count unacknowledged notifications: %w", err)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = -1
	}
	rows, err := s.read.QueryContext(ctx, `SELECT `+notificationColumns+` FROM notifications`+where+
		` ORDER BY created_at, id LIMIT ? OFFSET ?`, append(args, limit, f.Offset)...)
	if err != nil {
		return nil, 0, fmt.Errorf("list unacknowledged notifications: %w", err)
	}
	defer rows.Close()
	out := []*payhook.Notification{}
	for rows.Next() {
		n, err := scanNotification(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, n)
	}
	return out, total, rows.Err()
}

// DeliveredIDs returns, per URL, the ids accepted in [since, until), through the
// attempts_accepted index (migration 0012).
func (s *Store) DeliveredIDs(ctx context.Context, url string, since, until time.Time) (map[string][]string, error) {
	q := `SELECT DISTINCT n.url, n.id FROM attempts a JOIN notifications n ON n.id = a.notification_id
		WHERE a.status_code IN (200, 201) AND a.started_at >= ? AND a.started_at < ? AND n.kind <> 'digest'`
	args := []any{micros(since), micros(until)}
	if url != "" {
		q, args = q+` AND n.url = ?`, append(args, url)
	}
	rows, err := s.read.QueryContext(ctx, q+` ORDER BY n.url, n.id`, args...)
	if err != nil {
		return nil, fmt.Errorf("delivered ids: %w", err)
	}
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var u, id string
		if err := rows.Scan(&u, &id); err != nil {
			return nil, fmt.Errorf("delivered ids: %w", err)
		}
		out[u] = append(out[u], id)
	}
	return out, rows.Err()
}

// AddDigestNotification stores a digest notification unless its id exists.
func (s *Store) AddDigestNotification(ctx context.Context, n *payhook.Notification, lease payhook.Lease) (bool, error) {
	var added bool
	err := s.do(ctx, func(w *writer) error {
		res, err := w.exec(`INSERT INTO notifications (`+notificationColumns+`, lease_owner, lease_until)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, ?, ?) ON CONFLICT (id) DO NOTHING`,
			n.ID, string(n.Kind), n.SessionID, n.ReferenceNumber, n.URL, string(n.Status), string(n.Reason),
			n.RedirectDecider, micros(n.CreatedAt), micros(n.UpdatedAt), n.Body, n.ContentType,
			n.RoundAttempts, micros(n.NextAttemptAt), n.Extended, lease.Owner, micros(lease.Until))
		if err != nil {
			return fmt.Errorf("insert digest notification: %w", err)
		}
		c, err := res.RowsAffected()
		added = c == 1
		return err
	})
	return added, err
}

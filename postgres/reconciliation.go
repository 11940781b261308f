package postgres

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/payhook/payhook"
)

// Unacknowledged returns the window's notifications that await an acknowledgement,
// oldest first.
func (s *Store) Unacknowledged(ctx context.Context, f payhook.ReconciliationFilter) ([]*payhook.Notification, int, error) {
	w := &where{conds: []string{"status NOT IN ('delivered', 'not_sent')", "url <> ''"}}
	if f.URL != "" {
		w.add("url = $", f.URL)
	}
	if !f.Since.IsZero() {
		w.add("created_at >= $", micros(f.Since))
	}
	if !f.Until.IsZero() {
		w.add("created_at < $", micros(f.Until))
	}
	var limit any = f.Limit
	if f.Limit <= 0 {
		limit = nil
	}
	var total int
	out := []*payhook.Notification{}
	err := s.withConn(ctx, func(c *pgxpool.Conn) error {
		if err := c.QueryRow(ctx, `SELECT COUNT(*) FROM notifications`+w.sql(), w.args...).Scan(&total); err != nil {
			return fmt.Errorf("count unacknowledged notifications: %w", err)
		}
		lim, off := w.arg(limit), w.arg(max(0, f.Offset))
		rows, err := c.Query(ctx, `SELECT `+notificationColumns+` FROM notifications`+w.sql()+
			` ORDER BY created_at, id LIMIT `+lim+` OFFSET `+off, w.args...)
		if err != nil {
			return fmt.Errorf("list unacknowledged notifications: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			n, err := scanNotification(rows)
			if err != nil {
				return fmt.Errorf("list unacknowledged notifications: %w", err)
			}
			out = append(out, n)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

// DeliveredIDs returns, per URL, the ids accepted in [since, until), through the
// attempts_accepted index (migration 0009).
func (s *Store) DeliveredIDs(ctx context.Context, url string, since, until time.Time) (map[string][]string, error) {
	q := `SELECT DISTINCT n.url, n.id FROM attempts a JOIN notifications n ON n.id = a.notification_id
		WHERE a.status_code IN (200, 201) AND a.started_at >= $1 AND a.started_at < $2 AND n.kind <> 'digest'`
	args := []any{micros(since), micros(until)}
	if url != "" {
		q, args = q+` AND n.url = $3`, append(args, url)
	}
	out := map[string][]string{}
	err := s.withConn(ctx, func(c *pgxpool.Conn) error {
		rows, err := c.Query(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("delivered ids: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var u, id string
			if err := rows.Scan(&u, &id); err != nil {
				return fmt.Errorf("delivered ids: %w", err)
			}
			out[u] = append(out[u], id)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	// Byte order, as the digest's hash sorts (the database's collation may differ).
	for _, ids := range out {
		slices.Sort(ids)
	}
	return out, nil
}

// AddDigestNotification stores a digest notification unless its id exists; a
// concurrent insert of the same id waits for the other and then does nothing.
func (s *Store) AddDigestNotification(ctx context.Context, n *payhook.Notification, lease payhook.Lease) (bool, error) {
	var added bool
	err := s.do(ctx, &op{
		queue: func(b *pgx.Batch) {
			b.Queue(insertNotification+` ON CONFLICT (id) DO NOTHING`, n.ID, string(n.Kind), n.SessionID, n.ReferenceNumber,
				n.URL, string(n.Status), string(n.Reason), n.RedirectDecider, micros(n.CreatedAt), micros(n.UpdatedAt),
				nonNil(n.Body), n.ContentType, int32(n.RoundAttempts), micros(n.NextAttemptAt), n.Extended, lease.Owner, micros(lease.Until))
		},
		read: func(br pgx.BatchResults) error {
			tag, err := br.Exec()
			if err != nil {
				return fmt.Errorf("insert digest notification: %w", err)
			}
			added = tag.RowsAffected() == 1
			return nil
		},
	})
	return added, err
}

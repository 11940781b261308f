package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/payhook/payhook"
)

// EndpointStats returns, per URL, the figures of the notifications created in
// [since, until): one pass over the window's notifications (through notifications_created)
// and their attempts (by primary key), summed up in Go.
func (s *Store) EndpointStats(ctx context.Context, since, until time.Time) ([]payhook.EndpointStats, error) {
	t := payhook.NewEndpointTally(since, until)
	err := s.withConn(ctx, func(c *pgxpool.Conn) error {
		rows, err := c.Query(ctx, `SELECT n.url, n.status, n.created_at, a.number, a.started_at, a.duration_us, a.status_code,
				CASE WHEN a.status_code IN (200, 201) THEN '' ELSE n.id END,
				CASE WHEN a.status_code IN (200, 201) THEN '' ELSE a.error END,
				CASE WHEN a.status_code IN (200, 201) THEN ''::bytea ELSE a.response_excerpt END
			FROM notifications n LEFT JOIN attempts a ON a.notification_id = n.id
			WHERE n.created_at >= $1 AND n.created_at < $2 AND n.url <> '' AND n.status <> 'not_sent'`, micros(since), micros(until))
		if err != nil {
			return fmt.Errorf("endpoint stats: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var r payhook.EndpointRow
			var status string
			var created int64
			var number, code *int32
			var started, dur *int64
			var id, errText *string
			var excerpt []byte
			if err := rows.Scan(&r.URL, &status, &created, &number, &started, &dur, &code, &id, &errText, &excerpt); err != nil {
				return fmt.Errorf("endpoint stats: %w", err)
			}
			r.Status, r.CreatedAt = payhook.Status(status), fromMicros(created)
			if number != nil {
				r.Number, r.StartedAt, r.Duration = int(*number), fromMicros(*started), time.Duration(*dur)*time.Microsecond
				r.StatusCode, r.NotificationID, r.Error, r.ResponseExcerpt = int(*code), *id, *errText, string(excerpt)
			}
			t.Add(r)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("endpoint stats: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return t.Stats(), nil
}

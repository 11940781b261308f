package postgres

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/payhook/payhook"
)

// endpointWindow selects the notifications the endpoint figures count (alias n).
const endpointWindow = `n.created_at >= $1 AND n.created_at < $2 AND n.url <> '' AND n.status <> 'not_sent'`

// EndpointStats returns, per URL, the figures of the notifications created in
// [since, until): three queries, each one pass over the window's notifications (through
// notifications_created) and their attempts (by primary key). The percentiles are picked
// in the database (window functions), so no duration list travels to Go.
func (s *Store) EndpointStats(ctx context.Context, since, until time.Time) ([]payhook.EndpointStats, error) {
	from, to := micros(since), micros(until)
	byURL := map[string]*payhook.EndpointStats{}
	get := func(url string) *payhook.EndpointStats {
		e := byURL[url]
		if e == nil {
			e = &payhook.EndpointStats{URL: url, Hours: payhook.EndpointHours(since, until)}
			byURL[url] = e
		}
		return e
	}
	err := s.withConn(ctx, func(c *pgxpool.Conn) error {
		rows, err := c.Query(ctx, `SELECT n.url, ((n.created_at - $1) / 3600000000)::integer, n.status, n.attempt_count > 0, COUNT(*)::integer
			FROM notifications n WHERE `+endpointWindow+` GROUP BY 1, 2, 3, 4`, from, to)
		if err != nil {
			return fmt.Errorf("endpoint stats: %w", err)
		}
		for rows.Next() {
			var url, status string
			var hour, count int32
			var tried bool
			if err := rows.Scan(&url, &hour, &status, &tried, &count); err != nil {
				rows.Close()
				return fmt.Errorf("endpoint stats: %w", err)
			}
			payhook.AddEndpointCount(get(url), int(hour), payhook.Status(status), tried, int(count))
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("endpoint stats: %w", err)
		}

		rows, err = c.Query(ctx, `SELECT url, cnt::integer, rn::integer, duration_us FROM (
				SELECT n.url, a.duration_us,
					ROW_NUMBER() OVER (PARTITION BY n.url ORDER BY a.duration_us) AS rn,
					COUNT(*) OVER (PARTITION BY n.url) AS cnt
				FROM notifications n JOIN attempts a ON a.notification_id = n.id WHERE `+endpointWindow+`) d
			WHERE rn = (cnt * 50 + 99) / 100 OR rn = (cnt * 95 + 99) / 100`, from, to)
		if err != nil {
			return fmt.Errorf("endpoint percentiles: %w", err)
		}
		for rows.Next() {
			var url string
			var cnt, rn int32
			var dur int64
			if err := rows.Scan(&url, &cnt, &rn, &dur); err != nil {
				rows.Close()
				return fmt.Errorf("endpoint percentiles: %w", err)
			}
			payhook.AddEndpointPercentile(get(url), int(cnt), int(rn), time.Duration(dur)*time.Microsecond)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("endpoint percentiles: %w", err)
		}

		rows, err = c.Query(ctx, `SELECT DISTINCT ON (n.url) n.url, a.notification_id, a.number, a.started_at, a.duration_us,
				a.status_code, a.error, a.response_excerpt
			FROM notifications n JOIN attempts a ON a.notification_id = n.id
			WHERE `+endpointWindow+` AND a.status_code NOT IN (200, 201)
			ORDER BY n.url, a.started_at DESC, a.notification_id DESC, a.number DESC`, from, to)
		if err != nil {
			return fmt.Errorf("endpoint failures: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var url, id string
			var a payhook.Attempt
			var number, code int32
			var started, dur int64
			var excerpt []byte
			if err := rows.Scan(&url, &id, &number, &started, &dur, &code, &a.Error, &excerpt); err != nil {
				return fmt.Errorf("endpoint failures: %w", err)
			}
			a.Number, a.StatusCode, a.ResponseExcerpt = int(number), int(code), string(excerpt)
			a.StartedAt, a.Duration = fromMicros(started), time.Duration(dur)*time.Microsecond
			e := get(url)
			e.LastFailure, e.LastFailureNotification = &a, id
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("endpoint failures: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]payhook.EndpointStats, 0, len(byURL))
	for _, e := range byURL {
		out = append(out, *e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].URL < out[j].URL })
	return out, nil
}

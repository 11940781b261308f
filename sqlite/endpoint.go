package sqlite

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/payhook/payhook"
)

// endpointWindow selects the notifications the endpoint figures count (alias n).
const endpointWindow = `n.created_at >= ? AND n.created_at < ? AND n.url <> '' AND n.status <> 'not_sent'`

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

	rows, err := s.read.QueryContext(ctx, `SELECT n.url, (n.created_at - ?) / 3600000000, n.status, n.attempt_count > 0, COUNT(*)
		FROM notifications n WHERE `+endpointWindow+` GROUP BY 1, 2, 3, 4`, from, from, to)
	if err != nil {
		return nil, fmt.Errorf("endpoint stats: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var url string
		var status payhook.Status
		var hour, count int
		var tried bool
		if err := rows.Scan(&url, &hour, &status, &tried, &count); err != nil {
			return nil, fmt.Errorf("endpoint stats: %w", err)
		}
		payhook.AddEndpointCount(get(url), hour, status, tried, count)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("endpoint stats: %w", err)
	}
	rows.Close()

	rows, err = s.read.QueryContext(ctx, `SELECT url, cnt, rn, duration_us FROM (
			SELECT n.url, a.duration_us,
				ROW_NUMBER() OVER (PARTITION BY n.url ORDER BY a.duration_us) AS rn,
				COUNT(*) OVER (PARTITION BY n.url) AS cnt
			FROM notifications n JOIN attempts a ON a.notification_id = n.id WHERE `+endpointWindow+`)
		WHERE rn = (cnt * 50 + 99) / 100 OR rn = (cnt * 95 + 99) / 100`, from, to)
	if err != nil {
		return nil, fmt.Errorf("endpoint percentiles: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var url string
		var cnt, rn int
		var dur int64
		if err := rows.Scan(&url, &cnt, &rn, &dur); err != nil {
			return nil, fmt.Errorf("endpoint percentiles: %w", err)
		}
		payhook.AddEndpointPercentile(get(url), cnt, rn, time.Duration(dur)*time.Microsecond)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("endpoint percentiles: %w", err)
	}
	rows.Close()

	rows, err = s.read.QueryContext(ctx, `SELECT url, notification_id, number, started_at, duration_us, status_code, error, response_excerpt FROM (
			SELECT n.url, a.*, ROW_NUMBER() OVER (PARTITION BY n.url ORDER BY a.started_at DESC, a.notification_id DESC, a.number DESC) AS rn
			FROM notifications n JOIN attempts a ON a.notification_id = n.id
			WHERE `+endpointWindow+` AND a.status_code NOT IN (200, 201))
		WHERE rn = 1`, from, to)
	if err != nil {
		return nil, fmt.Errorf("endpoint failures: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var url, id string
		var a payhook.Attempt
		var started, dur int64
		if err := rows.Scan(&url, &id, &a.Number, &started, &dur, &a.StatusCode, &a.Error, &a.ResponseExcerpt); err != nil {
			return nil, fmt.Errorf("endpoint failures: %w", err)
		}
		a.StartedAt, a.Duration = fromMicros(started), time.Duration(dur)*time.Microsecond
		e := get(url)
		e.LastFailure, e.LastFailureNotification = &a, id
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("endpoint failures: %w", err)
	}

	out := make([]payhook.EndpointStats, 0, len(byURL))
	for _, e := range byURL {
		out = append(out, *e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].URL < out[j].URL })
	return out, nil
}

package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/payhook/payhook"
)

// Endpoint health (payhook.EndpointHealthStore). Every change runs in the writer, so a
// URL's health is read, changed by payhook.EndpointHealth's rule and saved atomically.

const endpointHealthColumns = `url, state, first_failure_at, last_failure_at, last_success_at, changed_at, resumed_at, resumed_by`

func scanEndpointHealth(sc scanner, counts bool) (payhook.EndpointHealth, error) {
	var h payhook.EndpointHealth
	var first, lastFailure, lastSuccess, changed, resumed int64
	dest := []any{&h.URL, &h.State, &first, &lastFailure, &lastSuccess, &changed, &resumed, &h.ResumedBy}
	if counts {
		dest = append(dest, &h.Held, &h.Released, &h.Delivered, &h.Failed)
	}
	if err := sc.Scan(dest...); err != nil {
		return h, err
	}
	h.FirstFailureAt, h.LastFailureAt, h.LastSuccessAt = fromMicros(first), fromMicros(lastFailure), fromMicros(lastSuccess)
	h.ChangedAt, h.ResumedAt = fromMicros(changed), fromMicros(resumed)
	return h, nil
}

// endpointHealthCounts are the counts of a health row h (aliased): held now, and those
// released since its resume with how their rounds ended.
const endpointHealthCounts = `,
	(SELECT COUNT(*) FROM notifications n WHERE n.status = 'held' AND n.url = h.url),
	(SELECT COUNT(*) FROM notifications n WHERE n.released_at > 0 AND n.url = h.url AND n.released_at >= h.resumed_at AND h.resumed_at > 0),
	(SELECT COUNT(*) FROM notifications n WHERE n.released_at > 0 AND n.url = h.url AND n.released_at >= h.resumed_at AND h.resumed_at > 0 AND n.status = 'delivered'),
	(SELECT COUNT(*) FROM notifications n WHERE n.released_at > 0 AND n.url = h.url AND n.released_at >= h.resumed_at AND h.resumed_at > 0 AND n.status = 'failed')`

func (w *writer) endpointHealth(url string) (payhook.EndpointHealth, bool, error) {
	h, err := scanEndpointHealth(w.queryRow(`SELECT `+endpointHealthColumns+` FROM endpoint_health WHERE url = ?`, url), false)
	if errors.Is(err, sql.ErrNoRows) {
		return payhook.EndpointHealth{URL: url, State: payhook.EndpointHealthy}, false, nil
	}
	return h, err == nil, err
}

func (w *writer) saveEndpointHealth(h payhook.EndpointHealth) error {
	_, err := w.exec(`INSERT INTO endpoint_health (`+endpointHealthColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (url) DO UPDATE SET state = excluded.state, first_failure_at = excluded.first_failure_at,
			last_failure_at = excluded.last_failure_at, last_success_at = excluded.last_success_at,
			changed_at = excluded.changed_at, resumed_at = excluded.resumed_at, resumed_by = excluded.resumed_by`,
		h.URL, string(h.State), micros(h.FirstFailureAt), micros(h.LastFailureAt), micros(h.LastSuccessAt),
		micros(h.ChangedAt), micros(h.ResumedAt), h.ResumedBy)
	if err != nil {
		return fmt.Errorf("save endpoint health of %s: %w", h.URL, err)
	}
	return nil
}

// ObserveEndpoint applies an attempt's outcome to url's health.
func (s *Store) ObserveEndpoint(ctx context.Context, url string, failed bool, at time.Time, p payhook.EndpointPolicy) (payhook.EndpointHealth, payhook.EndpointChange, error) {
	var h payhook.EndpointHealth
	var change payhook.EndpointChange
	err := s.do(ctx, func(w *writer) error {
		cur, _, err := w.endpointHealth(url)
		if err != nil {
			return fmt.Errorf("load endpoint health: %w", err)
		}
		h, change = cur.Observe(failed, at, p)
		return w.saveEndpointHealth(h)
	})
	return h, change, err
}

// EndpointHealth returns one URL's health with its counts.
func (s *Store) EndpointHealth(ctx context.Context, url string) (payhook.EndpointHealth, error) {
	h, err := scanEndpointHealth(s.read.QueryRowContext(ctx, `SELECT `+endpointHealthColumns+endpointHealthCounts+`
		FROM endpoint_health h WHERE url = ?`, url), true)
	if errors.Is(err, sql.ErrNoRows) {
		return h, payhook.Errorf(payhook.ENOTFOUND, "no health is known of the URL %q", url)
	}
	if err != nil {
		return h, fmt.Errorf("load endpoint health: %w", err)
	}
	return h, nil
}

func (s *Store) listEndpointHealth(ctx context.Context, query string, counts bool, args ...any) ([]payhook.EndpointHealth, error) {
	rows, err := s.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list endpoint health: %w", err)
	}
	defer rows.Close()
	out := []payhook.EndpointHealth{}
	for rows.Next() {
		h, err := scanEndpointHealth(rows, counts)
		if err != nil {
			return nil, fmt.Errorf("list endpoint health: %w", err)
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// ListEndpointHealth returns every URL with a health row, in URL order, with counts.
func (s *Store) ListEndpointHealth(ctx context.Context) ([]payhook.EndpointHealth, error) {
	return s.listEndpointHealth(ctx, `SELECT `+endpointHealthColumns+endpointHealthCounts+` FROM endpoint_health h ORDER BY url`, true)
}

// UnhealthyEndpoints returns the URLs that are not healthy or are in a streak of failures.
func (s *Store) UnhealthyEndpoints(ctx context.Context) ([]payhook.EndpointHealth, error) {
	return s.listEndpointHealth(ctx, `SELECT `+endpointHealthColumns+` FROM endpoint_health WHERE state <> 'healthy' OR first_failure_at > 0 ORDER BY url`, false)
}

// HoldNotification makes a pending notification that owner leases held.
func (s *Store) HoldNotification(ctx context.Context, id, owner string, now time.Time) error {
	return s.do(ctx, func(w *writer) error {
		res, err := w.exec(`UPDATE notifications SET status = 'held', lease_owner = '', lease_until = 0, updated_at = ?
			WHERE id = ? AND status = 'pending' AND lease_owner = ?`, micros(now), id, owner)
		if err != nil {
			return fmt.Errorf("hold notification %s: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return payhook.ErrLeaseLost
		}
		return nil
	})
}

// ResumeEndpoint resumes url.
func (s *Store) ResumeEndpoint(ctx context.Context, url, who string, now time.Time) (payhook.EndpointHealth, error) {
	err := s.do(ctx, func(w *writer) error {
		h, found, err := w.endpointHealth(url)
		if err != nil {
			return fmt.Errorf("load endpoint health: %w", err)
		}
		if !found {
			return payhook.Errorf(payhook.ENOTFOUND, "no health is known of the URL %q", url)
		}
		return w.saveEndpointHealth(h.Resume(who, now))
	})
	if err != nil {
		return payhook.EndpointHealth{}, err
	}
	return s.EndpointHealth(ctx, url)
}

// ReleaseHeld makes up to limit of url's held notifications pending again, oldest first.
func (s *Store) ReleaseHeld(ctx context.Context, url string, now time.Time, lease payhook.Lease, limit int) ([]*payhook.Notification, error) {
	var out []*payhook.Notification
	err := s.do(ctx, func(w *writer) error {
		out = out[:0]
		rows, err := w.query(`UPDATE notifications SET status = 'pending', round_attempts = 0, next_attempt_at = ?,
				lease_owner = ?, lease_until = ?, updated_at = ?, released_at = ?
			WHERE id IN (SELECT id FROM notifications WHERE status = 'held' AND url = ?
				AND NOT EXISTS (SELECT 1 FROM endpoint_health WHERE url = ? AND state = 'disabled')
				ORDER BY created_at, id LIMIT ?)
			RETURNING `+notificationColumns, micros(now), lease.Owner, micros(lease.Until), micros(now), micros(now),
			url, url, limit)
		if err != nil {
			return fmt.Errorf("release held notifications: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			n, err := scanNotification(rows)
			if err != nil {
				return err
			}
			out = append(out, n)
		}
		return rows.Err()
	})
	sortOldestFirst(out)
	return out, err
}

// ResumingEndpoints returns the URLs with held notifications that are not disabled.
func (s *Store) ResumingEndpoints(ctx context.Context) ([]string, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT DISTINCT n.url FROM notifications n WHERE n.status = 'held'
		AND NOT EXISTS (SELECT 1 FROM endpoint_health h WHERE h.url = n.url AND h.state = 'disabled') ORDER BY n.url`)
	if err != nil {
		return nil, fmt.Errorf("resuming endpoints: %w", err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// sortOldestFirst orders notifications by creation, then id (RETURNING keeps no order).
func sortOldestFirst(notes []*payhook.Notification) {
	sort.SliceStable(notes, func(i, j int) bool {
		if !notes[i].CreatedAt.Equal(notes[j].CreatedAt) {
			return notes[i].CreatedAt.Before(notes[j].CreatedAt)
		}
		return notes[i].ID < notes[j].ID
	})
}

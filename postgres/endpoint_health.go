package postgres

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/payhook/payhook"
)

// Endpoint health (payhook.EndpointHealthStore), shared by every process on the database.
// A URL's health is read under a row lock (SELECT … FOR UPDATE) and changed by
// payhook.EndpointHealth's rule in the same database transaction, so that concurrent
// outcomes for one URL, from any process, apply one after the other and each change is
// told once.

const endpointHealthColumns = `url, state, first_failure_at, last_failure_at, last_success_at, changed_at, resumed_at, resumed_by`

func scanEndpointHealth(row pgx.Row, counts bool) (payhook.EndpointHealth, error) {
	var h payhook.EndpointHealth
	var state string
	var first, lastFailure, lastSuccess, changed, resumed int64
	var held, released, delivered, failed int64
	dest := []any{&h.URL, &state, &first, &lastFailure, &lastSuccess, &changed, &resumed, &h.ResumedBy}
	if counts {
		dest = append(dest, &held, &released, &delivered, &failed)
	}
	if err := row.Scan(dest...); err != nil {
		return h, err
	}
	h.State = payhook.EndpointState(state)
	h.Held, h.Released, h.Delivered, h.Failed = int(held), int(released), int(delivered), int(failed)
	h.FirstFailureAt, h.LastFailureAt, h.LastSuccessAt = fromMicros(first), fromMicros(lastFailure), fromMicros(lastSuccess)
	h.ChangedAt, h.ResumedAt = fromMicros(changed), fromMicros(resumed)
	return h, nil
}

// endpointHealthCounts are the counts of a health row h: held now, and those released
// since its resume with how their rounds ended.
const endpointHealthCounts = `,
	(SELECT COUNT(*) FROM notifications n WHERE n.status = 'held' AND n.url = h.url),
	(SELECT COUNT(*) FROM notifications n WHERE n.released_at > 0 AND n.url = h.url AND n.released_at >= h.resumed_at AND h.resumed_at > 0),
	(SELECT COUNT(*) FROM notifications n WHERE n.released_at > 0 AND n.url = h.url AND n.released_at >= h.resumed_at AND h.resumed_at > 0 AND n.status = 'delivered'),
	(SELECT COUNT(*) FROM notifications n WHERE n.released_at > 0 AND n.url = h.url AND n.released_at >= h.resumed_at AND h.resumed_at > 0 AND n.status = 'failed')`

const saveEndpointHealth = `INSERT INTO endpoint_health (` + endpointHealthColumns + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
	ON CONFLICT (url) DO UPDATE SET state = excluded.state, first_failure_at = excluded.first_failure_at,
		last_failure_at = excluded.last_failure_at, last_success_at = excluded.last_success_at,
		changed_at = excluded.changed_at, resumed_at = excluded.resumed_at, resumed_by = excluded.resumed_by`

func queueSaveEndpointHealth(b *pgx.Batch, h payhook.EndpointHealth) {
	b.Queue(saveEndpointHealth, h.URL, string(h.State), micros(h.FirstFailureAt), micros(h.LastFailureAt),
		micros(h.LastSuccessAt), micros(h.ChangedAt), micros(h.ResumedAt), h.ResumedBy)
}

// endpointOp is an op that reads url's health under a lock (making a healthy row first
// when it has none, so that two processes' first outcomes for a URL also apply one after
// the other), changes it with change, and saves the result.
func endpointOp(url string, change func(h payhook.EndpointHealth) payhook.EndpointHealth) *op {
	var next payhook.EndpointHealth
	return &op{
		keys: []string{"endpoint:" + url},
		lock: func(b *pgx.Batch) {
			b.Queue(`INSERT INTO endpoint_health (url, state) VALUES ($1, 'healthy') ON CONFLICT (url) DO NOTHING`, url)
			b.Queue(`SELECT `+endpointHealthColumns+` FROM endpoint_health WHERE url = $1 FOR UPDATE`, url)
		},
		decide: func(br pgx.BatchResults) error {
			if _, err := br.Exec(); err != nil {
				return fmt.Errorf("make endpoint health: %w", err)
			}
			h, err := scanEndpointHealth(br.QueryRow(), false)
			if err != nil {
				return fmt.Errorf("load endpoint health: %w", err)
			}
			next = change(h)
			return nil
		},
		queue: func(b *pgx.Batch) { queueSaveEndpointHealth(b, next) },
		read: func(br pgx.BatchResults) error {
			_, err := br.Exec()
			return wrap("save endpoint health", err)
		},
	}
}

// ObserveEndpoint applies an attempt's outcome to url's health.
func (s *Store) ObserveEndpoint(ctx context.Context, url string, failed bool, at time.Time, p payhook.EndpointPolicy) (payhook.EndpointHealth, payhook.EndpointChange, error) {
	var h payhook.EndpointHealth
	var change payhook.EndpointChange
	err := s.do(ctx, endpointOp(url, func(cur payhook.EndpointHealth) payhook.EndpointHealth {
		h, change = cur.Observe(failed, at, p)
		return h
	}))
	return h, change, err
}

// EndpointHealth returns one URL's health with its counts.
func (s *Store) EndpointHealth(ctx context.Context, url string) (payhook.EndpointHealth, error) {
	var h payhook.EndpointHealth
	err := s.withConn(ctx, func(c *pgxpool.Conn) error {
		var err error
		h, err = scanEndpointHealth(c.QueryRow(ctx, `SELECT `+endpointHealthColumns+endpointHealthCounts+`
			FROM endpoint_health h WHERE url = $1`, url), true)
		if errors.Is(err, pgx.ErrNoRows) {
			return payhook.Errorf(payhook.ENOTFOUND, "no health is known of the URL %q", url)
		}
		return wrap("load endpoint health", err)
	})
	return h, err
}

func (s *Store) listEndpointHealth(ctx context.Context, query string, counts bool) ([]payhook.EndpointHealth, error) {
	out := []payhook.EndpointHealth{}
	err := s.withConn(ctx, func(c *pgxpool.Conn) error {
		rows, err := c.Query(ctx, query)
		if err != nil {
			return fmt.Errorf("list endpoint health: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			h, err := scanEndpointHealth(rows, counts)
			if err != nil {
				return fmt.Errorf("list endpoint health: %w", err)
			}
			out = append(out, h)
		}
		return wrap("list endpoint health", rows.Err())
	})
	return out, err
}

// ListEndpointHealth returns every URL with a health row, in URL order, with counts.
func (s *Store) ListEndpointHealth(ctx context.Context) ([]payhook.EndpointHealth, error) {
	return s.listEndpointHealth(ctx, `SELECT `+endpointHealthColumns+endpointHealthCounts+` FROM endpoint_health h ORDER BY url COLLATE "C"`, true)
}

// UnhealthyEndpoints returns the URLs that are not healthy or are in a streak of failures.
func (s *Store) UnhealthyEndpoints(ctx context.Context) ([]payhook.EndpointHealth, error) {
	return s.listEndpointHealth(ctx, `SELECT `+endpointHealthColumns+` FROM endpoint_health WHERE state <> 'healthy' OR first_failure_at > 0 ORDER BY url COLLATE "C"`, false)
}

// HoldNotification makes a pending notification that owner leases held.
func (s *Store) HoldNotification(ctx context.Context, id, owner string, now time.Time) error {
	return s.do(ctx, &op{
		queue: func(b *pgx.Batch) {
			b.Queue(`UPDATE notifications SET status = 'held', lease_owner = '', lease_until = 0, updated_at = $3
				WHERE id = $1 AND status = 'pending' AND lease_owner = $2`, id, owner, micros(now))
		},
		read: func(br pgx.BatchResults) error {
			tag, err := br.Exec()
			if err != nil {
				return fmt.Errorf("hold notification %s: %w", id, err)
			}
			if tag.RowsAffected() == 0 {
				return payhook.ErrLeaseLost
			}
			return nil
		},
	})
}

// ResumeEndpoint resumes url.
func (s *Store) ResumeEndpoint(ctx context.Context, url, who string, now time.Time) (payhook.EndpointHealth, error) {
	// Rows are never deleted: one read first tells an unknown URL.
	if _, err := s.EndpointHealth(ctx, url); err != nil {
		return payhook.EndpointHealth{}, err
	}
	err := s.do(ctx, endpointOp(url, func(h payhook.EndpointHealth) payhook.EndpointHealth { return h.Resume(who, now) }))
	if err != nil {
		return payhook.EndpointHealth{}, err
	}
	return s.EndpointHealth(ctx, url)
}

// releaseHeld makes the oldest held notifications of a URL that is not disabled pending
// again under lease, skipping rows another process holds.
const releaseHeld = `UPDATE notifications n SET status = 'pending', round_attempts = 0, next_attempt_at = $1,
		lease_owner = $2, lease_until = $3, updated_at = $1, released_at = $1
	FROM (SELECT id FROM notifications WHERE status = 'held' AND url = $4
			AND NOT EXISTS (SELECT 1 FROM endpoint_health WHERE url = $4 AND state = 'disabled')
		ORDER BY created_at, id LIMIT $5
		FOR UPDATE SKIP LOCKED) due
	WHERE n.id = due.id
	RETURNING n.id, n.kind, n.session_id, n.reference_number, n.url, n.status, n.reason, n.redirect_decider,
		n.created_at, n.updated_at, n.body, n.content_type, n.round_attempts, n.next_attempt_at,
		n.extended, n.redelivery_attempts, n.redelivery_ends_at`

// ReleaseHeld makes up to limit of url's held notifications pending again, oldest first.
func (s *Store) ReleaseHeld(ctx context.Context, url string, now time.Time, lease payhook.Lease, limit int) ([]*payhook.Notification, error) {
	out, err := s.writeNotifications(ctx, "release held notifications", releaseHeld, micros(now), lease.Owner, micros(lease.Until), url, sqlLimit(limit))
	if err != nil {
		return nil, err
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// ResumingEndpoints returns the URLs with held notifications that are not disabled.
func (s *Store) ResumingEndpoints(ctx context.Context) ([]string, error) {
	out := []string{}
	err := s.withConn(ctx, func(c *pgxpool.Conn) error {
		rows, err := c.Query(ctx, `SELECT n.url FROM notifications n WHERE n.status = 'held'
			AND NOT EXISTS (SELECT 1 FROM endpoint_health h WHERE h.url = n.url AND h.state = 'disabled')
			GROUP BY n.url ORDER BY n.url COLLATE "C"`)
		if err != nil {
			return fmt.Errorf("resuming endpoints: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var u string
			if err := rows.Scan(&u); err != nil {
				return err
			}
			out = append(out, u)
		}
		return wrap("resuming endpoints", rows.Err())
	})
	return out, err
}

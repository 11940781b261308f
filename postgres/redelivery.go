package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/payhook/payhook"
)

// recordExtendedAttempt updates the notification if the lease is still the caller's and
// it is where the caller saw it ($12: entering from Ottu's round, else in extended
// redelivery), releases the lease, and inserts the attempt, in one statement.
const recordExtendedAttempt = `WITH n AS (
		UPDATE notifications SET status = $3, round_attempts = round_attempts + 1, attempt_count = attempt_count + 1,
			next_attempt_at = $4, redelivery_ends_at = $5,
			redelivery_attempts = redelivery_attempts + CASE WHEN $12::boolean THEN 0 ELSE 1 END,
			lease_owner = '', lease_until = 0, updated_at = $6
		WHERE id = $1 AND lease_owner = $2 AND CASE WHEN $12::boolean THEN status = 'pending'
			ELSE status = 'failed' AND redelivery_ends_at > 0 END
		RETURNING id, attempt_count)
	INSERT INTO attempts (notification_id, number, started_at, duration_us, status_code, error, response_excerpt)
	SELECT id, attempt_count, $7::bigint, $8::bigint, $9::integer, $10::text, $11::bytea FROM n`

// RecordExtendedAttempt stores an attempt whose outcome extended redelivery decided, if
// owner still holds the lease, and releases the lease.
func (s *Store) RecordExtendedAttempt(ctx context.Context, id string, a payhook.Attempt, step payhook.ExtendedStep, entering bool, owner string) error {
	var next, ends int64
	if r := step.Redelivery; r != nil {
		next, ends = micros(r.NextAttemptAt), micros(r.EndsAt)
	}
	now := micros(a.StartedAt.Add(a.Duration))
	return s.do(ctx, &op{
		queue: func(b *pgx.Batch) {
			b.Queue(recordExtendedAttempt, id, owner, string(step.Status), next, ends, now,
				micros(a.StartedAt), a.Duration.Microseconds(), int32(a.StatusCode), a.Error, []byte(a.ResponseExcerpt), entering)
		},
		read: func(br pgx.BatchResults) error {
			tag, err := br.Exec()
			if err != nil {
				return fmt.Errorf("record extended attempt of %s: %w", id, err)
			}
			if tag.RowsAffected() == 0 {
				return payhook.ErrLeaseLost
			}
			return nil
		},
	})
}

// orderBlocker finds an older notification of the same session and URL that n waits
// for: in its first round (pending, round_attempts = attempt_count: never re-sent), one
// still in its first round; in extended redelivery, one in extended redelivery. The
// session's index serves it.
const orderBlocker = `SELECT o.id, o.next_attempt_at FROM notifications n JOIN notifications o
	ON o.session_id = n.session_id AND o.url = n.url AND o.id <> n.id
	WHERE n.id = $1
		AND (o.created_at < n.created_at OR (o.created_at = n.created_at AND o.id < n.id))
		AND ((n.status = 'pending' AND n.round_attempts = n.attempt_count AND NOT n.redirect_decider
				AND o.status = 'pending' AND o.round_attempts = o.attempt_count)
			OR (n.redelivery_ends_at > 0 AND o.redelivery_ends_at > 0))
	ORDER BY o.next_attempt_at DESC, o.id LIMIT 1`

// OrderBlocker returns an older notification of the same transaction and URL that id
// must wait for, and its next attempt's time; "" when none.
func (s *Store) OrderBlocker(ctx context.Context, id string) (string, time.Time, error) {
	var blocker string
	var next int64
	err := s.withConn(ctx, func(c *pgxpool.Conn) error {
		err := c.QueryRow(ctx, orderBlocker, id).Scan(&blocker, &next)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		return err
	})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("order blocker of %s: %w", id, err)
	}
	if blocker == "" {
		return "", time.Time{}, nil
	}
	return blocker, fromMicros(next), nil
}

// PostponeRedelivery moves a notification's next extended attempt to at and releases
// the lease, if owner holds it.
func (s *Store) PostponeRedelivery(ctx context.Context, id, owner string, at time.Time) error {
	return s.do(ctx, &op{
		queue: func(b *pgx.Batch) {
			b.Queue(`UPDATE notifications SET next_attempt_at = $1, redelivery_ends_at = greatest(redelivery_ends_at, $1),
				lease_owner = '', lease_until = 0
				WHERE id = $2 AND lease_owner = $3 AND status = 'failed' AND redelivery_ends_at > 0`, micros(at), id, owner)
		},
		read: func(br pgx.BatchResults) error {
			tag, err := br.Exec()
			if err != nil {
				return fmt.Errorf("postpone redelivery of %s: %w", id, err)
			}
			if tag.RowsAffected() == 0 {
				return payhook.ErrLeaseLost
			}
			return nil
		},
	})
}

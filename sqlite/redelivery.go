package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/payhook/payhook"
)

// RecordExtendedAttempt stores an attempt whose outcome extended redelivery decided, if
// owner still holds the lease, and releases the lease.
func (s *Store) RecordExtendedAttempt(ctx context.Context, id string, a payhook.Attempt, step payhook.ExtendedStep, entering bool, owner string) error {
	var next, ends int64
	if r := step.Redelivery; r != nil {
		next, ends = micros(r.NextAttemptAt), micros(r.EndsAt)
	}
	from := `status = 'failed' AND redelivery_ends_at > 0`
	if entering {
		from = `status = 'pending'`
	}
	now := micros(a.StartedAt.Add(a.Duration))
	return s.do(ctx, func(w *writer) error {
		var number int
		err := w.queryRow(`UPDATE notifications SET status = ?, round_attempts = round_attempts + 1,
			attempt_count = attempt_count + 1, next_attempt_at = ?, redelivery_ends_at = ?,
			redelivery_attempts = redelivery_attempts + ?, lease_owner = '', lease_until = 0, updated_at = ?
			WHERE id = ? AND lease_owner = ? AND `+from+` RETURNING attempt_count`,
			string(step.Status), next, ends, notEntering(entering), now, id, owner).Scan(&number)
		if errors.Is(err, sql.ErrNoRows) {
			return payhook.ErrLeaseLost
		}
		if err != nil {
			return fmt.Errorf("update notification %s: %w", id, err)
		}
		_, err = w.exec(`INSERT INTO attempts (notification_id, number, started_at, duration_us, status_code, error, response_excerpt)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, id, number, micros(a.StartedAt), a.Duration.Microseconds(), a.StatusCode, a.Error, a.ResponseExcerpt)
		if err != nil {
			return fmt.Errorf("insert attempt: %w", err)
		}
		return nil
	})
}

// notEntering counts an extended attempt (1), not the last of Ottu's round (0).
func notEntering(entering bool) int {
	if entering {
		return 0
	}
	return 1
}

// orderBlocker finds an older notification of the same session and URL still in its
// first round (pending, round_attempts = attempt_count: never re-sent). The session's
// index (notifications_session) serves it: a transaction has few notifications.
const orderBlocker = `SELECT o.id FROM notifications n JOIN notifications o
	ON o.session_id = n.session_id AND o.url = n.url AND o.id <> n.id
	WHERE n.id = ? AND n.round_attempts = n.attempt_count AND NOT n.redirect_decider
		AND o.status = 'pending' AND o.round_attempts = o.attempt_count
		AND (o.created_at < n.created_at OR (o.created_at = n.created_at AND o.id < n.id))
	ORDER BY o.created_at, o.id LIMIT 1`

// OrderBlocker returns an older notification of the same transaction and URL that id
// must wait for, "" when none.
func (s *Store) OrderBlocker(ctx context.Context, id string) (string, error) {
	var blocker string
	err := s.read.QueryRowContext(ctx, orderBlocker, id).Scan(&blocker)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("order blocker of %s: %w", id, err)
	}
	return blocker, nil
}

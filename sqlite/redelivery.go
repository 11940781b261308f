package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

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

// orderBlocker finds an older notification of the same session and URL that n waits
// for: in its first round (pending, round_attempts = attempt_count: never re-sent), one
// still in its first round; in extended redelivery, one in extended redelivery. The session's
// index (notifications_session) serves it: a transaction has few notifications.
const orderBlocker = `SELECT o.id, o.next_attempt_at FROM notifications n JOIN notifications o
	ON o.session_id = n.session_id AND o.url = n.url AND o.id <> n.id
	WHERE n.id = ?
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
	stmt, err := s.order.get(ctx, s.read, orderBlocker)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("order blocker of %s: %w", id, err)
	}
	err = stmt.QueryRowContext(ctx, id).Scan(&blocker, &next)
	if errors.Is(err, sql.ErrNoRows) {
		return "", time.Time{}, nil
	}
	if err != nil {
		return "", time.Time{}, fmt.Errorf("order blocker of %s: %w", id, err)
	}
	return blocker, fromMicros(next), nil
}

// PostponeRedelivery moves a notification's next extended attempt to at and releases
// the lease, if owner holds it.
func (s *Store) PostponeRedelivery(ctx context.Context, id, owner string, at time.Time) error {
	return s.do(ctx, func(w *writer) error {
		res, err := w.exec(`UPDATE notifications SET next_attempt_at = ?1, redelivery_ends_at = max(redelivery_ends_at, ?1),
			lease_owner = '', lease_until = 0
			WHERE id = ?2 AND lease_owner = ?3 AND status = 'failed' AND redelivery_ends_at > 0`, micros(at), id, owner)
		if err != nil {
			return fmt.Errorf("postpone redelivery of %s: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return payhook.ErrLeaseLost
		}
		return nil
	})
}

// preparedRead is a read statement prepared once, on first use: the hot path's queries
// (one per notification) skip SQLite's parse and plan each time.
type preparedRead struct {
	mu   sync.Mutex
	stmt *sql.Stmt
}

func (p *preparedRead) get(ctx context.Context, db *sql.DB, query string) (*sql.Stmt, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stmt == nil {
		stmt, err := db.PrepareContext(ctx, query)
		if err != nil {
			return nil, err
		}
		p.stmt = stmt
	}
	return p.stmt, nil
}

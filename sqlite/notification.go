package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/payhook/payhook"
)

const notificationColumns = `id, kind, session_id, reference_number, url, status, reason, redirect_decider,
	created_at, updated_at, body, content_type, round_attempts, next_attempt_at,
	extended, redelivery_attempts, redelivery_ends_at`

func insertNotifications(w *writer, notes []*payhook.Notification, lease payhook.Lease) error {
	for _, n := range notes {
		owner, until := "", int64(0)
		if n.Status == payhook.StatusPending {
			owner, until = lease.Owner, micros(lease.Until)
		}
		_, err := w.exec(`INSERT INTO notifications (`+notificationColumns+`, lease_owner, lease_until)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, ?, ?)`,
			n.ID, string(n.Kind), n.SessionID, n.ReferenceNumber, n.URL, string(n.Status), string(n.Reason),
			n.RedirectDecider, micros(n.CreatedAt), micros(n.UpdatedAt), n.Body, n.ContentType,
			n.RoundAttempts, micros(n.NextAttemptAt), n.Extended, owner, until)
		if err != nil {
			return fmt.Errorf("insert notification: %w", err)
		}
	}
	return nil
}

type scanner interface{ Scan(dest ...any) error }

func scanNotification(sc scanner) (*payhook.Notification, error) {
	var n payhook.Notification
	var created, updated, next, ends int64
	var made int
	if err := sc.Scan(&n.ID, &n.Kind, &n.SessionID, &n.ReferenceNumber, &n.URL, &n.Status, &n.Reason,
		&n.RedirectDecider, &created, &updated, &n.Body, &n.ContentType, &n.RoundAttempts, &next,
		&n.Extended, &made, &ends); err != nil {
		return nil, err
	}
	n.CreatedAt, n.UpdatedAt, n.NextAttemptAt = fromMicros(created), fromMicros(updated), fromMicros(next)
	if ends > 0 {
		n.Redelivery = &payhook.Redelivery{NextAttemptAt: n.NextAttemptAt, EndsAt: fromMicros(ends), AttemptsMade: made}
	}
	return &n, nil
}

// Notification returns one notification with its attempts.
func (s *Store) Notification(ctx context.Context, id string) (*payhook.Notification, error) {
	n, err := scanNotification(s.read.QueryRowContext(ctx, `SELECT `+notificationColumns+` FROM notifications WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, payhook.Errorf(payhook.ENOTFOUND, "no notification with id %q", id)
	}
	if err != nil {
		return nil, fmt.Errorf("load notification: %w", err)
	}
	if err := s.loadAttempts(ctx, []*payhook.Notification{n}); err != nil {
		return nil, err
	}
	return n, nil
}

func filterClause(f payhook.NotificationFilter) (string, []any) {
	var conds []string
	var args []any
	add := func(c string, v any) { conds = append(conds, c); args = append(args, v) }
	if f.SessionID != "" {
		add("session_id = ?", f.SessionID)
	}
	if f.Status != "" {
		add("status = ?", string(f.Status))
		if f.Status != payhook.StatusDelivered {
			conds = append(conds, "status <> 'delivered'") // so that notifications_unsettled serves
		}
	}
	if f.Kind != "" {
		add("kind = ?", string(f.Kind))
	}
	if f.URL != "" {
		add("url = ?", f.URL)
	}
	if f.URLPrefix != "" {
		conds = append(conds, "substr(url, 1, ?) = ?")
		args = append(args, utf8.RuneCountInString(f.URLPrefix), f.URLPrefix)
	}
	if !f.Since.IsZero() {
		add("created_at >= ?", micros(f.Since))
	}
	if !f.Until.IsZero() {
		add("created_at < ?", micros(f.Until))
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// ListNotifications returns the matching notifications, newest first, and their count.
func (s *Store) ListNotifications(ctx context.Context, f payhook.NotificationFilter) ([]*payhook.Notification, int, error) {
	where, args := filterClause(f)
	var total int
	if err := s.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM notifications`+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count notifications: %w", err)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = -1 // no limit
	}
	rows, err := s.read.QueryContext(ctx, `SELECT `+notificationColumns+` FROM notifications`+where+
		` ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?`, append(args, limit, f.Offset)...)
	if err != nil {
		return nil, 0, fmt.Errorf("list notifications: %w", err)
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
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	return out, total, s.loadAttempts(ctx, out)
}

func (s *Store) loadAttempts(ctx context.Context, notes []*payhook.Notification) error {
	if len(notes) == 0 {
		return nil
	}
	byID := make(map[string]*payhook.Notification, len(notes))
	args := make([]any, len(notes))
	for i, n := range notes {
		byID[n.ID] = n
		args[i] = n.ID
		n.Attempts = []payhook.Attempt{}
	}
	rows, err := s.read.QueryContext(ctx, `SELECT notification_id, number, started_at, duration_us, status_code, error, response_excerpt
		FROM attempts WHERE notification_id IN (`+placeholders(len(notes))+`) ORDER BY notification_id, number`, args...)
	if err != nil {
		return fmt.Errorf("load attempts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var a payhook.Attempt
		var started, dur int64
		if err := rows.Scan(&id, &a.Number, &started, &dur, &a.StatusCode, &a.Error, &a.ResponseExcerpt); err != nil {
			return err
		}
		a.StartedAt, a.Duration = fromMicros(started), time.Duration(dur)*time.Microsecond
		byID[id].Attempts = append(byID[id].Attempts, a)
	}
	return rows.Err()
}

// RecordAttempt stores an attempt and the notification's new status.
func (s *Store) RecordAttempt(ctx context.Context, id string, a payhook.Attempt, status payhook.Status, next time.Time, lease payhook.Lease) error {
	owner, until := "", int64(0)
	if status == payhook.StatusPending {
		owner, until = lease.Owner, micros(lease.Until)
	}
	now := micros(a.StartedAt.Add(a.Duration))
	return s.do(ctx, func(w *writer) error {
		var number int
		if err := w.queryRow(`UPDATE notifications SET status = ?, round_attempts = round_attempts + 1,
			attempt_count = attempt_count + 1, next_attempt_at = ?, lease_owner = ?, lease_until = ?, updated_at = ?
			WHERE id = ? AND status = 'pending' AND lease_owner = ? RETURNING attempt_count`,
			string(status), micros(next), owner, until, now, id, lease.Owner).Scan(&number); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return payhook.ErrLeaseLost
			}
			return fmt.Errorf("update notification %s: %w", id, err)
		}
		_, err := w.exec(`INSERT INTO attempts (notification_id, number, started_at, duration_us, status_code, error, response_excerpt)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, id, number, micros(a.StartedAt), a.Duration.Microseconds(), a.StatusCode, a.Error, a.ResponseExcerpt)
		if err != nil {
			return fmt.Errorf("insert attempt: %w", err)
		}
		return nil
	})
}

// ClaimDue leases due, unleased, pending notifications.
func (s *Store) ClaimDue(ctx context.Context, now time.Time, lease payhook.Lease, limit int) ([]*payhook.Notification, error) {
	var out []*payhook.Notification
	err := s.do(ctx, func(w *writer) error {
		out = out[:0]
		rows, err := w.query(`UPDATE notifications SET lease_owner = ?3, lease_until = ?4
			WHERE id IN (SELECT id FROM (
					SELECT id, next_attempt_at FROM notifications WHERE status = 'pending' AND next_attempt_at <= ?1 AND lease_until < ?1
					UNION ALL
					SELECT id, next_attempt_at FROM notifications WHERE redelivery_ends_at > 0 AND next_attempt_at <= ?1 AND lease_until < ?1)
				ORDER BY next_attempt_at LIMIT ?2)
			RETURNING `+notificationColumns, micros(now), limit, lease.Owner, micros(lease.Until))
		if err != nil {
			return fmt.Errorf("claim notifications: %w", err)
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
	return out, err
}

// ReleaseLease gives back a pending notification owner holds.
func (s *Store) ReleaseLease(ctx context.Context, id, owner string) error {
	return s.do(ctx, func(w *writer) error {
		_, err := w.exec(`UPDATE notifications SET lease_owner = '', lease_until = 0
			WHERE id = ? AND (status = 'pending' OR redelivery_ends_at > 0) AND lease_owner = ?`, id, owner)
		return err
	})
}

// RenewLeases extends the leases owner holds.
func (s *Store) RenewLeases(ctx context.Context, owner string, until time.Time) (int, error) {
	var n int
	err := s.do(ctx, func(w *writer) error {
		res, err := w.exec(`UPDATE notifications SET lease_until = ?
			WHERE (status = 'pending' OR redelivery_ends_at > 0) AND lease_owner = ?`, micros(until), owner)
		if err != nil {
			return fmt.Errorf("renew leases: %w", err)
		}
		c, _ := res.RowsAffected()
		n = int(c)
		return nil
	})
	return n, err
}

// DeliveryStats counts the pending notifications and the leases held.
func (s *Store) DeliveryStats(ctx context.Context, now time.Time) (payhook.DeliveryStats, error) {
	var st payhook.DeliveryStats
	var oldest sql.NullInt64
	err := s.read.QueryRowContext(ctx, `SELECT COUNT(*), MIN(CASE WHEN next_attempt_at <= ? THEN next_attempt_at END),
		COALESCE(SUM(CASE WHEN lease_until >= ? THEN 1 ELSE 0 END), 0) FROM notifications WHERE status = 'pending'`,
		micros(now), micros(now)).Scan(&st.Pending, &oldest, &st.LeasesHeld)
	if err != nil {
		return st, fmt.Errorf("delivery stats: %w", err)
	}
	if oldest.Valid {
		st.OldestDue = fromMicros(oldest.Int64)
	}
	return st, nil
}

// Resend makes a finished notification pending again.
func (s *Store) Resend(ctx context.Context, id string, now time.Time, lease payhook.Lease) (*payhook.Notification, bool, error) {
	var n *payhook.Notification
	var queued bool
	err := s.do(ctx, func(w *writer) error {
		var err error
		n, err = scanNotification(w.queryRow(`SELECT `+notificationColumns+` FROM notifications WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return payhook.Errorf(payhook.ENOTFOUND, "no notification with id %q", id)
		}
		if err != nil {
			return err
		}
		switch {
		case n.Status == payhook.StatusPending:
			return nil
		case n.Status == payhook.StatusNotSent || n.URL == "":
			return payhook.Errorf(payhook.ECONFLICT, "notification %s was not sent (%s); there is nothing to re-send: notify again instead", id, n.Reason)
		}
		if _, err := w.exec(`UPDATE notifications SET status = 'pending', round_attempts = 0, next_attempt_at = ?,
			redelivery_attempts = 0, redelivery_ends_at = 0, lease_owner = ?, lease_until = ?, updated_at = ? WHERE id = ?`,
			micros(now), lease.Owner, micros(lease.Until), micros(now), id); err != nil {
			return err
		}
		n.Status, n.RoundAttempts, n.NextAttemptAt, n.UpdatedAt = payhook.StatusPending, 0, now, now
		n.Redelivery = nil
		queued = true
		return nil
	})
	return n, queued, err
}

// AddNotifications stores notifications that change no transaction.
func (s *Store) AddNotifications(ctx context.Context, notes []*payhook.Notification, lease payhook.Lease) error {
	return s.do(ctx, func(w *writer) error { return insertNotifications(w, notes, lease) })
}

// ResendMatching makes the matching delivered or failed notifications pending again.
func (s *Store) ResendMatching(ctx context.Context, f payhook.NotificationFilter, now time.Time) (int, error) {
	where, args := filterClause(f)
	if where == "" {
		where = " WHERE "
	} else {
		where += " AND "
	}
	where += "status IN ('delivered', 'failed') AND url <> ''"
	var n int
	err := s.do(ctx, func(w *writer) error {
		res, err := w.s.conn.ExecContext(w.ctx, `UPDATE notifications SET status = 'pending', round_attempts = 0,
			redelivery_attempts = 0, redelivery_ends_at = 0, next_attempt_at = ?, lease_owner = '', lease_until = 0, updated_at = ?`+where,
			append([]any{micros(now), micros(now)}, args...)...)
		if err != nil {
			return fmt.Errorf("resend notifications: %w", err)
		}
		c, _ := res.RowsAffected()
		n = int(c)
		return nil
	})
	return n, err
}

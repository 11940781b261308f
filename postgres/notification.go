package postgres

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/payhook/payhook"
)

const notificationColumns = `id, kind, session_id, reference_number, url, status, reason, redirect_decider,
	created_at, updated_at, body, content_type, round_attempts, next_attempt_at,
	extended, redelivery_attempts, redelivery_ends_at`

const insertNotification = `INSERT INTO notifications (` + notificationColumns + `, lease_owner, lease_until)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, 0, 0, $16, $17)`

// queueNotifications queues the insertion of notes (the pending ones under lease).
func queueNotifications(b *pgx.Batch, notes []*payhook.Notification, lease payhook.Lease) {
	for _, n := range notes {
		owner, until := "", int64(0)
		if n.Status == payhook.StatusPending {
			owner, until = lease.Owner, micros(lease.Until)
		}
		b.Queue(insertNotification, n.ID, string(n.Kind), n.SessionID, n.ReferenceNumber, n.URL, string(n.Status),
			string(n.Reason), n.RedirectDecider, micros(n.CreatedAt), micros(n.UpdatedAt), nonNil(n.Body), n.ContentType,
			int32(n.RoundAttempts), micros(n.NextAttemptAt), n.Extended, owner, until)
	}
}

func scanNotification(row pgx.Row) (*payhook.Notification, error) {
	var n payhook.Notification
	var kind, status, reason string
	var created, updated, next, ends int64
	var rounds, made int32
	if err := row.Scan(&n.ID, &kind, &n.SessionID, &n.ReferenceNumber, &n.URL, &status, &reason,
		&n.RedirectDecider, &created, &updated, &n.Body, &n.ContentType, &rounds, &next,
		&n.Extended, &made, &ends); err != nil {
		return nil, err
	}
	n.Kind, n.Status, n.Reason = payhook.Kind(kind), payhook.Status(status), payhook.Reason(reason)
	n.RoundAttempts = int(rounds)
	n.CreatedAt, n.UpdatedAt, n.NextAttemptAt = fromMicros(created), fromMicros(updated), fromMicros(next)
	if ends > 0 {
		n.Redelivery = &payhook.Redelivery{NextAttemptAt: n.NextAttemptAt, EndsAt: fromMicros(ends), AttemptsMade: int(made)}
	}
	return &n, nil
}

// Notification returns one notification with its attempts.
func (s *Store) Notification(ctx context.Context, id string) (*payhook.Notification, error) {
	var n *payhook.Notification
	err := s.withConn(ctx, func(c *pgxpool.Conn) error {
		var err error
		n, err = scanNotification(c.QueryRow(ctx, `SELECT `+notificationColumns+` FROM notifications WHERE id = $1`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return payhook.Errorf(payhook.ENOTFOUND, "no notification with id %q", id)
		}
		if err != nil {
			return fmt.Errorf("load notification: %w", err)
		}
		return loadAttempts(ctx, c, []*payhook.Notification{n})
	})
	if err != nil {
		return nil, err
	}
	return n, nil
}

// filter turns a notification filter into a WHERE clause.
func filter(f payhook.NotificationFilter) *where {
	w := &where{}
	if f.SessionID != "" {
		w.add("session_id = $", f.SessionID)
	}
	if f.Status != "" {
		w.add("status = $", string(f.Status))
		if f.Status != payhook.StatusDelivered {
			w.conds = append(w.conds, "status <> 'delivered'") // so that notifications_unsettled serves
		}
	}
	if f.Kind != "" {
		w.add("kind = $", string(f.Kind))
	}
	if f.URL != "" {
		w.add("url = $", f.URL)
	}
	if f.URLPrefix != "" {
		urlPrefix(w, f.URLPrefix)
	}
	if !f.Since.IsZero() {
		w.add("created_at >= $", micros(f.Since))
	}
	if !f.Until.IsZero() {
		w.add("created_at < $", micros(f.Until))
	}
	return w
}

// ListNotifications returns the matching notifications, newest first, with their
// attempts, and how many match in all.
func (s *Store) ListNotifications(ctx context.Context, f payhook.NotificationFilter) ([]*payhook.Notification, int, error) {
	w := filter(f)
	var limit any = f.Limit // zero fields do not filter: Limit 0 lists every match
	if f.Limit <= 0 {
		limit = nil
	}
	var total int
	out := []*payhook.Notification{}
	err := s.withConn(ctx, func(c *pgxpool.Conn) error {
		if err := c.QueryRow(ctx, `SELECT COUNT(*) FROM notifications`+w.sql(), w.args...).Scan(&total); err != nil {
			return fmt.Errorf("count notifications: %w", err)
		}
		lim, off := w.arg(limit), w.arg(max(0, f.Offset))
		rows, err := c.Query(ctx, `SELECT `+notificationColumns+` FROM notifications`+w.sql()+
			` ORDER BY created_at DESC, id DESC LIMIT `+lim+` OFFSET `+off, w.args...)
		if err != nil {
			return fmt.Errorf("list notifications: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			n, err := scanNotification(rows)
			if err != nil {
				return fmt.Errorf("list notifications: %w", err)
			}
			out = append(out, n)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("list notifications: %w", err)
		}
		return loadAttempts(ctx, c, out)
	})
	if err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

// loadAttempts fills in the attempts of notes, oldest first.
func loadAttempts(ctx context.Context, c *pgxpool.Conn, notes []*payhook.Notification) error {
	if len(notes) == 0 {
		return nil
	}
	byID := make(map[string]*payhook.Notification, len(notes))
	ids := make([]string, len(notes))
	for i, n := range notes {
		byID[n.ID] = n
		ids[i] = n.ID
		n.Attempts = []payhook.Attempt{}
	}
	rows, err := c.Query(ctx, `SELECT notification_id, number, started_at, duration_us, status_code, error, response_excerpt
		FROM attempts WHERE notification_id = ANY($1) ORDER BY notification_id, number`, ids)
	if err != nil {
		return fmt.Errorf("load attempts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var a payhook.Attempt
		var number, code int32
		var started, dur int64
		var excerpt []byte
		if err := rows.Scan(&id, &number, &started, &dur, &code, &a.Error, &excerpt); err != nil {
			return fmt.Errorf("load attempts: %w", err)
		}
		a.Number, a.StatusCode, a.ResponseExcerpt = int(number), int(code), string(excerpt)
		a.StartedAt, a.Duration = fromMicros(started), time.Duration(dur)*time.Microsecond
		byID[id].Attempts = append(byID[id].Attempts, a)
	}
	return wrap("load attempts", rows.Err())
}

// recordAttempt updates the notification if the lease is still the caller's and inserts
// the attempt numbered after it, in one statement: no row inserted means the lease was
// lost.
const recordAttempt = `WITH n AS (
		UPDATE notifications SET status = $3, round_attempts = round_attempts + 1, attempt_count = attempt_count + 1,
			next_attempt_at = $4, lease_owner = $5, lease_until = $6, updated_at = $7
		WHERE id = $1 AND status = 'pending' AND lease_owner = $2
		RETURNING id, attempt_count)
	INSERT INTO attempts (notification_id, number, started_at, duration_us, status_code, error, response_excerpt)
	SELECT id, attempt_count, $8::bigint, $9::bigint, $10::integer, $11::text, $12::bytea FROM n`

// RecordAttempt stores an attempt and the notification's new status if lease.Owner still
// owns the notification's lease (else ErrLeaseLost). Attempts are batched by the writer:
// many workers' results commit together.
func (s *Store) RecordAttempt(ctx context.Context, id string, a payhook.Attempt, status payhook.Status, next time.Time, lease payhook.Lease) error {
	owner, until := "", int64(0)
	if status == payhook.StatusPending {
		owner, until = lease.Owner, micros(lease.Until)
	}
	now := micros(a.StartedAt.Add(a.Duration))
	return s.do(ctx, &op{
		queue: func(b *pgx.Batch) {
			b.Queue(recordAttempt, id, lease.Owner, string(status), micros(next), owner, until, now,
				micros(a.StartedAt), a.Duration.Microseconds(), int32(a.StatusCode), a.Error, []byte(a.ResponseExcerpt))
		},
		read: func(br pgx.BatchResults) error {
			tag, err := br.Exec()
			if err != nil {
				return fmt.Errorf("record attempt of %s: %w", id, err)
			}
			if tag.RowsAffected() == 0 {
				return payhook.ErrLeaseLost
			}
			return nil
		},
	})
}

// claimDue leases due, unleased pending notifications and those due in extended
// redelivery (each through its own partial index), skipping the rows other
// transactions hold (FOR UPDATE SKIP LOCKED), so that concurrent claimers (processes)
// never get the same one and never wait for each other.
const claimDue = `WITH ottu AS (SELECT id, next_attempt_at FROM notifications
		WHERE status = 'pending' AND next_attempt_at <= $3 AND lease_until < $3
		ORDER BY next_attempt_at LIMIT $4
		FOR UPDATE SKIP LOCKED),
	extended AS (SELECT id, next_attempt_at FROM notifications
		WHERE redelivery_ends_at > 0 AND next_attempt_at <= $3 AND lease_until < $3
		ORDER BY next_attempt_at LIMIT $4
		FOR UPDATE SKIP LOCKED),
	due AS (SELECT id FROM (SELECT * FROM ottu UNION ALL SELECT * FROM extended) u ORDER BY next_attempt_at LIMIT $4)
	UPDATE notifications n SET lease_owner = $1, lease_until = $2
	FROM due
	WHERE n.id = due.id
	RETURNING n.id, n.kind, n.session_id, n.reference_number, n.url, n.status, n.reason, n.redirect_decider,
		n.created_at, n.updated_at, n.body, n.content_type, n.round_attempts, n.next_attempt_at,
		n.extended, n.redelivery_attempts, n.redelivery_ends_at`

// ClaimDue leases up to limit pending notifications that are due at now and whose lease
// expired (or that have none), oldest due first.
func (s *Store) ClaimDue(ctx context.Context, now time.Time, lease payhook.Lease, limit int) ([]*payhook.Notification, error) {
	out, err := s.writeNotifications(ctx, "claim notifications", claimDue, lease.Owner, micros(lease.Until), micros(now), sqlLimit(limit))
	if err != nil {
		return nil, err
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].NextAttemptAt.Before(out[j].NextAttemptAt) })
	return out, nil
}

// ReleaseLease gives back a pending notification owner holds, and wakes the sweeps of
// every process when it did.
func (s *Store) ReleaseLease(ctx context.Context, id, owner string) error {
	return s.do(ctx, &op{
		queue: func(b *pgx.Batch) {
			b.Queue(`WITH released AS (
					UPDATE notifications SET lease_owner = '', lease_until = 0
					WHERE id = $1 AND (status = 'pending' OR redelivery_ends_at > 0) AND lease_owner = $2 RETURNING id)
				SELECT pg_notify('payhook_due', '') FROM released`, id, owner)
		},
		read: func(br pgx.BatchResults) error {
			_, err := br.Exec()
			return wrap("release lease", err)
		},
	})
}

// RenewLeases extends the leases owner holds on pending notifications.
func (s *Store) RenewLeases(ctx context.Context, owner string, until time.Time) (int, error) {
	var n int
	err := s.do(ctx, &op{
		queue: func(b *pgx.Batch) {
			b.Queue(`UPDATE notifications SET lease_until = $1
				WHERE (status = 'pending' OR redelivery_ends_at > 0) AND lease_owner = $2`, micros(until), owner)
		},
		read: func(br pgx.BatchResults) error {
			tag, err := br.Exec()
			n = int(tag.RowsAffected())
			return wrap("renew leases", err)
		},
	})
	return n, err
}

// DeliveryStats counts the pending notifications, the due time of the oldest due one and
// the leases held at now.
func (s *Store) DeliveryStats(ctx context.Context, now time.Time) (payhook.DeliveryStats, error) {
	var st payhook.DeliveryStats
	var oldest *int64
	err := s.withConn(ctx, func(c *pgxpool.Conn) error {
		return wrap("delivery stats", c.QueryRow(ctx, `SELECT COUNT(*), MIN(next_attempt_at) FILTER (WHERE next_attempt_at <= $1),
			COUNT(*) FILTER (WHERE lease_until >= $1) FROM notifications WHERE status = 'pending'`, micros(now)).
			Scan(&st.Pending, &oldest, &st.LeasesHeld))
	})
	if err != nil {
		return st, err
	}
	if oldest != nil {
		st.OldestDue = fromMicros(*oldest)
	}
	return st, nil
}

// Resend makes a delivered or failed notification pending again and leases it; ok is
// false when it was already pending. Made pending without a lease, it wakes every
// process's sweep.
func (s *Store) Resend(ctx context.Context, id string, now time.Time, lease payhook.Lease) (*payhook.Notification, bool, error) {
	var n *payhook.Notification
	var queued bool
	err := s.inTx(ctx, func(conn *pgx.Conn) error {
		b := &pgx.Batch{}
		b.Queue(`BEGIN`)
		b.Queue(`SELECT `+notificationColumns+` FROM notifications WHERE id = $1 FOR UPDATE`, id)
		br := conn.SendBatch(ctx, b)
		_, err := br.Exec()
		if err == nil {
			n, err = scanNotification(br.QueryRow())
		}
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return payhook.Errorf(payhook.ENOTFOUND, "no notification with id %q", id)
		case err != nil:
			return fmt.Errorf("load notification: %w", err)
		case n.Status == payhook.StatusPending:
			return nil
		case n.Status == payhook.StatusNotSent || n.URL == "":
			return payhook.Errorf(payhook.ECONFLICT, "notification %s was not sent (%s); there is nothing to re-send: notify again instead", id, n.Reason)
		}
		b = &pgx.Batch{}
		b.Queue(`UPDATE notifications SET status = 'pending', round_attempts = 0, next_attempt_at = $1,
			redelivery_attempts = 0, redelivery_ends_at = 0, lease_owner = $2, lease_until = $3, updated_at = $1 WHERE id = $4`, micros(now), lease.Owner, micros(lease.Until), id)
		if lease.Owner == "" {
			b.Queue(notifyDue)
		}
		b.Queue(`COMMIT`)
		br = conn.SendBatch(ctx, b)
		err = execAll(br, b.Len())
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("resend notification: %w", err)
		}
		n.Status, n.RoundAttempts, n.NextAttemptAt, n.UpdatedAt = payhook.StatusPending, 0, now, now
		n.Redelivery = nil
		queued = true
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	return n, queued, nil
}

// AddNotifications stores notifications that change no transaction.
func (s *Store) AddNotifications(ctx context.Context, notes []*payhook.Notification, lease payhook.Lease) error {
	if len(notes) == 0 {
		return nil
	}
	return s.do(ctx, &op{
		queue: func(b *pgx.Batch) { queueNotifications(b, notes, lease) },
		read: func(br pgx.BatchResults) error {
			for range notes {
				if _, err := br.Exec(); err != nil {
					return fmt.Errorf("insert notification: %w", err)
				}
			}
			return nil
		},
		wake: wakeFor(notes, lease),
	})
}

// wakeFor reports whether storing notes under lease makes one due for any process (a
// pending one without a lease), which a NOTIFY then announces.
func wakeFor(notes []*payhook.Notification, lease payhook.Lease) bool {
	if lease.Owner != "" {
		return false
	}
	for _, n := range notes {
		if n.Status == payhook.StatusPending {
			return true
		}
	}
	return false
}

// ResendMatching makes every delivered or failed notification matching f pending again,
// due now and unleased, and wakes every process's sweep when there was one.
func (s *Store) ResendMatching(ctx context.Context, f payhook.NotificationFilter, now time.Time) (int, error) {
	w := filter(f)
	w.conds = append(w.conds, "status IN ('delivered', 'failed')", "url <> ''")
	at := w.arg(micros(now))
	query := `UPDATE notifications SET status = 'pending', round_attempts = 0,
		redelivery_attempts = 0, redelivery_ends_at = 0, next_attempt_at = ` + at +
		`, lease_owner = '', lease_until = 0, updated_at = ` + at + w.sql()
	var n int
	err := s.inTx(ctx, func(conn *pgx.Conn) error {
		b := &pgx.Batch{}
		b.Queue(`BEGIN`)
		b.Queue(query, w.args...)
		br := conn.SendBatch(ctx, b)
		err := execAll(br, 1)
		var tag pgconn.CommandTag
		if err == nil {
			tag, err = br.Exec()
		}
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("resend notifications: %w", err)
		}
		n = int(tag.RowsAffected())
		b = &pgx.Batch{}
		if n > 0 {
			b.Queue(notifyDue)
		}
		b.Queue(`COMMIT`)
		br = conn.SendBatch(ctx, b)
		err = execAll(br, b.Len())
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		return wrap("resend notifications", err)
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// writeNotifications runs, in the writer's batch, a statement that changes notifications
// and returns them (RETURNING the notification columns), and reads them back.
func (s *Store) writeNotifications(ctx context.Context, what, query string, args ...any) ([]*payhook.Notification, error) {
	var out []*payhook.Notification
	err := s.do(ctx, &op{
		queue: func(b *pgx.Batch) { b.Queue(query, args...) },
		read: func(br pgx.BatchResults) error {
			out = out[:0]
			rows, err := br.Query()
			if err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			defer rows.Close()
			for rows.Next() {
				n, err := scanNotification(rows)
				if err != nil {
					return fmt.Errorf("%s: %w", what, err)
				}
				out = append(out, n)
			}
			return wrap(what, rows.Err())
		},
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

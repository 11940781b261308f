package postgres

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/payhook/payhook"
)

// The error emails' flood control and queue (payhook.ErrorEmailStore), shared by every
// process on the database. A URL's window is read under a row lock (SELECT … FOR UPDATE)
// and changed by payhook.ErrorEmailWindow's rule in the same database transaction, so
// that concurrent failures to one URL, from any process, queue one email per window;
// summaries take the windows due with FOR UPDATE SKIP LOCKED, so that two processes never
// sum up the same failures; queued emails are leased with FOR UPDATE SKIP LOCKED, and a
// try is recorded only by the lease's owner (fencing). Locks are taken email first, then
// window, never the other way, so that no two of these transactions deadlock.

const errorEmailColumns = `id, url, notification_id, failed_at, detail, held, held_since, summary, recipients,
	tries, sent, last_error, due_at, created_at, lease_owner, lease_until`

func scanErrorEmail(row pgx.Row) (*payhook.ErrorEmail, error) {
	var e payhook.ErrorEmail
	var failedAt, heldSince, due, created, leaseUntil int64
	if err := row.Scan(&e.ID, &e.URL, &e.Failure.NotificationID, &failedAt, &e.Failure.Detail, &e.Held, &heldSince,
		&e.Summary, &e.To, &e.Tries, &e.Sent, &e.LastError, &due, &created, &e.Lease.Owner, &leaseUntil); err != nil {
		return nil, err
	}
	if len(e.To) == 0 {
		e.To = nil
	}
	e.Failure.URL = e.URL
	e.Failure.At, e.HeldSince, e.Due, e.CreatedAt = fromMicros(failedAt), fromMicros(heldSince), fromMicros(due), fromMicros(created)
	e.Lease.Until = fromMicros(leaseUntil)
	return &e, nil
}

const errorEmailWindowColumns = `url, last_queued, held, held_since, latest_notification, latest_at, latest_detail`

func scanErrorEmailWindow(row pgx.Row) (payhook.ErrorEmailWindow, error) {
	var win payhook.ErrorEmailWindow
	var lastQueued, heldSince, latestAt int64
	if err := row.Scan(&win.URL, &lastQueued, &win.Held, &heldSince, &win.Latest.NotificationID, &latestAt,
		&win.Latest.Detail); err != nil {
		return win, err
	}
	win.LastQueued, win.HeldSince, win.Latest.At = fromMicros(lastQueued), fromMicros(heldSince), fromMicros(latestAt)
	if win.Held > 0 {
		win.Latest.URL = win.URL
	}
	return win, nil
}

// storableText makes an error message fit a text column (no NUL, valid UTF-8).
func storableText(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
}

func nonNilStrings(list []string) []string {
	if list == nil {
		return []string{}
	}
	return list
}

// lockErrorEmailWindow begins a database transaction and reads url's window under a row
// lock, making an empty one (passed) when it has none: concurrent callers for one URL
// then run one after the other. A window deleted while the lock was awaited (an idle one
// forgotten by a summary) is made again.
func lockErrorEmailWindow(ctx context.Context, conn *pgx.Conn, url string, begin bool) (payhook.ErrorEmailWindow, error) {
	for try := 0; ; try++ {
		b := &pgx.Batch{}
		if begin && try == 0 {
			b.Queue(`BEGIN`)
		}
		b.Queue(`INSERT INTO error_email_windows (`+errorEmailWindowColumns+`) VALUES ($1, 0, 0, 0, '', 0, '')
			ON CONFLICT (url) DO NOTHING`, url)
		b.Queue(`SELECT `+errorEmailWindowColumns+` FROM error_email_windows WHERE url = $1 FOR UPDATE`, url)
		br := conn.SendBatch(ctx, b)
		err := execAll(br, b.Len()-1)
		var win payhook.ErrorEmailWindow
		if err == nil {
			win, err = scanErrorEmailWindow(br.QueryRow())
		}
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		switch {
		case errors.Is(err, pgx.ErrNoRows) && try < 3:
			continue
		case err != nil:
			return win, fmt.Errorf("lock error email window: %w", err)
		}
		return win, nil
	}
}

// queueSaveErrorEmailWindow queues the storing of win, or its deletion when it is idle at
// now.
func queueSaveErrorEmailWindow(b *pgx.Batch, win payhook.ErrorEmailWindow, interval time.Duration, now time.Time) {
	if win.Idle(interval, now) {
		b.Queue(`DELETE FROM error_email_windows WHERE url = $1`, win.URL)
		return
	}
	b.Queue(`INSERT INTO error_email_windows (`+errorEmailWindowColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (url) DO UPDATE SET last_queued = excluded.last_queued, held = excluded.held,
			held_since = excluded.held_since, latest_notification = excluded.latest_notification,
			latest_at = excluded.latest_at, latest_detail = excluded.latest_detail`,
		win.URL, micros(win.LastQueued), win.Held, micros(win.HeldSince), win.Latest.NotificationID,
		micros(win.Latest.At), nonNil(win.Latest.Detail))
}

// queueInsertErrorEmail queues the insertion of e, returning its id.
func queueInsertErrorEmail(b *pgx.Batch, e *payhook.ErrorEmail) {
	b.Queue(`INSERT INTO error_emails (url, notification_id, failed_at, detail, held, held_since, summary, recipients,
			tries, sent, last_error, due_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
		RETURNING id`,
		e.URL, e.Failure.NotificationID, micros(e.Failure.At), nonNil(e.Failure.Detail), e.Held, micros(e.HeldSince),
		e.Summary, nonNilStrings(e.To), e.Tries, e.Sent, storableText(e.LastError), micros(e.Due), micros(e.CreatedAt))
}

// AdmitErrorEmail applies flood control to a failure and queues its email when the
// window has passed: the URL's window locked, the rule applied, the email and the
// window written, in one database transaction.
func (s *Store) AdmitErrorEmail(ctx context.Context, f payhook.ErrorEmailFailure, interval time.Duration, now time.Time) (*payhook.ErrorEmail, error) {
	var out *payhook.ErrorEmail
	err := s.inTx(ctx, func(conn *pgx.Conn) error {
		win, err := lockErrorEmailWindow(ctx, conn, f.URL, true)
		if err != nil {
			return err
		}
		next, e := win.Admit(f, interval, now)
		b := &pgx.Batch{}
		if e != nil {
			queueInsertErrorEmail(b, e)
		}
		queueSaveErrorEmailWindow(b, next, interval, now)
		b.Queue(`COMMIT`)
		br := conn.SendBatch(ctx, b)
		n := b.Len()
		if e != nil {
			err = br.QueryRow().Scan(&e.ID)
			n--
		}
		if err == nil {
			err = execAll(br, n)
		}
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("admit error email: %w", err)
		}
		out = e
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// QueueErrorEmailSummaries sums up the held-back failures whose window has passed: the
// windows due are locked with SKIP LOCKED (a window another process is admitting to or
// summing up is left to it, or to the next look), and each summary is queued in the
// transaction that starts the window again.
func (s *Store) QueueErrorEmailSummaries(ctx context.Context, interval time.Duration, now time.Time) (int, error) {
	cut := now.Add(-interval).UnixMicro()
	var found bool
	if err := s.withConn(ctx, func(c *pgxpool.Conn) error {
		return wrap("look for error email summaries", c.QueryRow(ctx,
			`SELECT EXISTS (SELECT 1 FROM error_email_windows WHERE last_queued <= $1)`, cut).Scan(&found))
	}); err != nil || !found {
		return 0, err
	}
	var queued int
	err := s.inTx(ctx, func(conn *pgx.Conn) error {
		queued = 0
		b := &pgx.Batch{}
		b.Queue(`BEGIN`)
		b.Queue(`SELECT `+errorEmailWindowColumns+` FROM error_email_windows WHERE last_queued <= $1
			ORDER BY held_since, url FOR UPDATE SKIP LOCKED`, cut)
		br := conn.SendBatch(ctx, b)
		var wins []payhook.ErrorEmailWindow
		_, err := br.Exec()
		if err == nil {
			var rows pgx.Rows
			if rows, err = br.Query(); err == nil {
				for rows.Next() {
					win, serr := scanErrorEmailWindow(rows)
					if serr != nil {
						err = serr
						break
					}
					wins = append(wins, win)
				}
				rows.Close()
				if err == nil {
					err = rows.Err()
				}
			}
		}
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("lock error email windows: %w", err)
		}
		sort.SliceStable(wins, func(i, j int) bool { return wins[i].HeldSince.Before(wins[j].HeldSince) })
		write := &pgx.Batch{}
		for _, win := range wins {
			next, e := win.Summary(interval, now)
			if e != nil {
				queueInsertErrorEmail(write, e)
				queued++
			}
			queueSaveErrorEmailWindow(write, next, interval, now)
		}
		write.Queue(`COMMIT`)
		br = conn.SendBatch(ctx, write)
		err = execAll(br, write.Len())
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		return wrap("queue error email summaries", err)
	})
	if err != nil {
		return 0, err
	}
	return queued, nil
}

const leaseErrorEmails = `UPDATE error_emails e SET lease_owner = $1, lease_until = $2
	FROM (SELECT id FROM error_emails
		WHERE due_at <= $3 AND lease_until < $3
		ORDER BY due_at, id LIMIT $4
		FOR UPDATE SKIP LOCKED) due
	WHERE e.id = due.id
	RETURNING e.id, e.url, e.notification_id, e.failed_at, e.detail, e.held, e.held_since, e.summary, e.recipients,
		e.tries, e.sent, e.last_error, e.due_at, e.created_at, e.lease_owner, e.lease_until`

// LeaseErrorEmails leases due, unleased queued emails; concurrent callers skip the rows
// another one is leasing.
func (s *Store) LeaseErrorEmails(ctx context.Context, now time.Time, lease payhook.Lease, limit int) ([]*payhook.ErrorEmail, error) {
	if limit <= 0 {
		return nil, nil
	}
	var out []*payhook.ErrorEmail
	err := s.do(ctx, &op{
		queue: func(b *pgx.Batch) {
			b.Queue(leaseErrorEmails, lease.Owner, micros(lease.Until), micros(now), limit)
		},
		read: func(br pgx.BatchResults) error {
			out = out[:0]
			rows, err := br.Query()
			if err != nil {
				return fmt.Errorf("lease error emails: %w", err)
			}
			defer rows.Close()
			for rows.Next() {
				e, err := scanErrorEmail(rows)
				if err != nil {
					return fmt.Errorf("lease error emails: %w", err)
				}
				out = append(out, e)
			}
			return wrap("lease error emails", rows.Err())
		},
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Due.Equal(out[j].Due) {
			return out[i].Due.Before(out[j].Due)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// FinishErrorEmail records how a try of a leased email ended, if owner still holds it:
// one statement fenced on the owner for a retry or an email finished; for a give-back,
// the email deleted (fenced) and its URL's window locked and changed in one database
// transaction.
func (s *Store) FinishErrorEmail(ctx context.Context, id int64, owner string, o payhook.ErrorEmailOutcome) error {
	if owner == "" {
		return payhook.ErrLeaseLost
	}
	if !o.RetryAt.IsZero() || !o.GiveBack {
		return s.do(ctx, &op{
			queue: func(b *pgx.Batch) {
				if o.RetryAt.IsZero() {
					b.Queue(`DELETE FROM error_emails WHERE id = $1 AND lease_owner = $2`, id, owner)
					return
				}
				b.Queue(`UPDATE error_emails SET recipients = $3, tries = $4, sent = $5, last_error = $6, due_at = $7,
					lease_owner = '', lease_until = 0 WHERE id = $1 AND lease_owner = $2`,
					id, owner, nonNilStrings(o.To), o.Tries, o.Sent, storableText(o.LastError), micros(o.RetryAt))
			},
			read: func(br pgx.BatchResults) error {
				tag, err := br.Exec()
				if err != nil {
					return fmt.Errorf("finish error email: %w", err)
				}
				if tag.RowsAffected() == 0 {
					return payhook.ErrLeaseLost
				}
				return nil
			},
		})
	}
	return s.inTx(ctx, func(conn *pgx.Conn) error {
		b := &pgx.Batch{}
		b.Queue(`BEGIN`)
		b.Queue(`DELETE FROM error_emails WHERE id = $1 AND lease_owner = $2 RETURNING `+errorEmailColumns, id, owner)
		br := conn.SendBatch(ctx, b)
		var e *payhook.ErrorEmail
		_, err := br.Exec()
		if err == nil {
			e, err = scanErrorEmail(br.QueryRow())
		}
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return payhook.ErrLeaseLost
		case err != nil:
			return fmt.Errorf("finish error email: %w", err)
		}
		win, err := lockErrorEmailWindow(ctx, conn, e.URL, false)
		if err != nil {
			return err
		}
		write := &pgx.Batch{}
		// Failures given back are never idle, so the interval does not matter here.
		queueSaveErrorEmailWindow(write, win.GiveBack(e), 0, time.Time{})
		write.Queue(`COMMIT`)
		br = conn.SendBatch(ctx, write)
		err = execAll(br, write.Len())
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		return wrap("give back error email", err)
	})
}

// ErrorEmailStats counts the queued emails and the held-back failures.
func (s *Store) ErrorEmailStats(ctx context.Context) (payhook.ErrorEmailStats, error) {
	var st payhook.ErrorEmailStats
	err := s.withConn(ctx, func(c *pgxpool.Conn) error {
		return wrap("error email stats", c.QueryRow(ctx, `SELECT (SELECT COUNT(*) FROM error_emails),
			(SELECT COALESCE(SUM(held), 0) FROM error_email_windows)`).Scan(&st.Queued, &st.HeldBack))
	})
	return st, err
}

package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/payhook/payhook"
)

// The error emails' flood control and queue (payhook.ErrorEmailStore). Every change runs
// in the writer, so each is atomic against every other: one process owns the file, and
// the writer serialises its goroutines (two mailers on one Store share one window per
// URL and never lease one email twice). Looks that usually find nothing read first, so
// that polling costs no commit.

const errorEmailColumns = `id, url, notification_id, failed_at, detail, held, held_since, summary, recipients,
	tries, sent, last_error, due_at, created_at, lease_owner, lease_until`

func scanErrorEmail(sc scanner) (*payhook.ErrorEmail, error) {
	var e payhook.ErrorEmail
	var failedAt, heldSince, due, created, leaseUntil int64
	var recipients string
	if err := sc.Scan(&e.ID, &e.URL, &e.Failure.NotificationID, &failedAt, &e.Failure.Detail, &e.Held, &heldSince,
		&e.Summary, &recipients, &e.Tries, &e.Sent, &e.LastError, &due, &created, &e.Lease.Owner, &leaseUntil); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(recipients), &e.To); err != nil {
		return nil, fmt.Errorf("error email %d: recipients: %w", e.ID, err)
	}
	e.Failure.URL = e.URL
	e.Failure.At, e.HeldSince, e.Due, e.CreatedAt = fromMicros(failedAt), fromMicros(heldSince), fromMicros(due), fromMicros(created)
	e.Lease.Until = fromMicros(leaseUntil)
	return &e, nil
}

func encodeRecipients(to []string) (string, error) {
	if to == nil {
		to = []string{}
	}
	b, err := json.Marshal(to)
	return string(b), err
}

const errorEmailWindowColumns = `url, last_queued, held, held_since, latest_notification, latest_at, latest_detail`

func scanErrorEmailWindow(sc scanner) (payhook.ErrorEmailWindow, error) {
	var win payhook.ErrorEmailWindow
	var lastQueued, heldSince, latestAt int64
	if err := sc.Scan(&win.URL, &lastQueued, &win.Held, &heldSince, &win.Latest.NotificationID, &latestAt,
		&win.Latest.Detail); err != nil {
		return win, err
	}
	win.LastQueued, win.HeldSince, win.Latest.At = fromMicros(lastQueued), fromMicros(heldSince), fromMicros(latestAt)
	if win.Held > 0 {
		win.Latest.URL = win.URL
	}
	return win, nil
}

// errorEmailWindow returns url's window, or a new one (zero, passed) when it has none.
func (w *writer) errorEmailWindow(url string) (payhook.ErrorEmailWindow, error) {
	win, err := scanErrorEmailWindow(w.queryRow(`SELECT `+errorEmailWindowColumns+` FROM error_email_windows WHERE url = ?`, url))
	if errors.Is(err, sql.ErrNoRows) {
		return payhook.ErrorEmailWindow{URL: url}, nil
	}
	if err != nil {
		return win, fmt.Errorf("load error email window: %w", err)
	}
	return win, nil
}

// saveErrorEmailWindow stores win, or forgets it when it is idle at now.
func (w *writer) saveErrorEmailWindow(win payhook.ErrorEmailWindow, interval time.Duration, now time.Time) error {
	if win.Idle(interval, now) {
		if _, err := w.exec(`DELETE FROM error_email_windows WHERE url = ?`, win.URL); err != nil {
			return fmt.Errorf("forget error email window: %w", err)
		}
		return nil
	}
	detail := win.Latest.Detail
	if detail == nil {
		detail = []byte{}
	}
	if _, err := w.exec(`INSERT INTO error_email_windows (`+errorEmailWindowColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (url) DO UPDATE SET last_queued = excluded.last_queued, held = excluded.held,
			held_since = excluded.held_since, latest_notification = excluded.latest_notification,
			latest_at = excluded.latest_at, latest_detail = excluded.latest_detail`,
		win.URL, micros(win.LastQueued), win.Held, micros(win.HeldSince), win.Latest.NotificationID,
		micros(win.Latest.At), detail); err != nil {
		return fmt.Errorf("save error email window: %w", err)
	}
	return nil
}

// queueErrorEmail inserts e and sets its ID.
func (w *writer) queueErrorEmail(e *payhook.ErrorEmail) error {
	to, err := encodeRecipients(e.To)
	if err != nil {
		return err
	}
	detail := e.Failure.Detail
	if detail == nil {
		detail = []byte{}
	}
	if err := w.queryRow(`INSERT INTO error_emails (url, notification_id, failed_at, detail, held, held_since, summary,
			recipients, tries, sent, last_error, due_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		e.URL, e.Failure.NotificationID, micros(e.Failure.At), detail, e.Held, micros(e.HeldSince), e.Summary,
		to, e.Tries, e.Sent, e.LastError, micros(e.Due), micros(e.CreatedAt)).Scan(&e.ID); err != nil {
		return fmt.Errorf("queue error email: %w", err)
	}
	return nil
}

// AdmitErrorEmail applies flood control to a failure and queues its email when the
// window has passed.
func (s *Store) AdmitErrorEmail(ctx context.Context, f payhook.ErrorEmailFailure, interval time.Duration, now time.Time) (*payhook.ErrorEmail, error) {
	var out *payhook.ErrorEmail
	err := s.do(ctx, func(w *writer) error {
		win, err := w.errorEmailWindow(f.URL)
		if err != nil {
			return err
		}
		next, e := win.Admit(f, interval, now)
		if e != nil {
			if err := w.queueErrorEmail(e); err != nil {
				return err
			}
		}
		if err := w.saveErrorEmailWindow(next, interval, now); err != nil {
			return err
		}
		out = e
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// QueueErrorEmailSummaries sums up the held-back failures whose window has passed.
func (s *Store) QueueErrorEmailSummaries(ctx context.Context, interval time.Duration, now time.Time) (int, error) {
	cut := now.Add(-interval).UnixMicro()
	var found int
	if err := s.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM error_email_windows WHERE last_queued <= ? LIMIT 1)`,
		cut).Scan(&found); err != nil {
		return 0, fmt.Errorf("look for error email summaries: %w", err)
	}
	if found == 0 {
		return 0, nil
	}
	var queued int
	err := s.do(ctx, func(w *writer) error {
		queued = 0
		rows, err := w.query(`SELECT `+errorEmailWindowColumns+` FROM error_email_windows WHERE last_queued <= ?`, cut)
		if err != nil {
			return fmt.Errorf("load error email windows: %w", err)
		}
		var wins []payhook.ErrorEmailWindow
		for rows.Next() {
			win, err := scanErrorEmailWindow(rows)
			if err != nil {
				rows.Close()
				return err
			}
			wins = append(wins, win)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		sort.SliceStable(wins, func(i, j int) bool { return wins[i].HeldSince.Before(wins[j].HeldSince) })
		for _, win := range wins {
			next, e := win.Summary(interval, now)
			if e != nil {
				if err := w.queueErrorEmail(e); err != nil {
					return err
				}
				queued++
			}
			if err := w.saveErrorEmailWindow(next, interval, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return queued, nil
}

// LeaseErrorEmails leases due, unleased queued emails.
func (s *Store) LeaseErrorEmails(ctx context.Context, now time.Time, lease payhook.Lease, limit int) ([]*payhook.ErrorEmail, error) {
	var found int
	if err := s.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM error_emails WHERE due_at <= ? AND lease_until < ? LIMIT 1)`,
		micros(now), micros(now)).Scan(&found); err != nil {
		return nil, fmt.Errorf("look for due error emails: %w", err)
	}
	if found == 0 || limit <= 0 {
		return nil, nil
	}
	var out []*payhook.ErrorEmail
	err := s.do(ctx, func(w *writer) error {
		out = out[:0]
		rows, err := w.query(`UPDATE error_emails SET lease_owner = ?, lease_until = ?
			WHERE id IN (SELECT id FROM error_emails WHERE due_at <= ? AND lease_until < ? ORDER BY due_at, id LIMIT ?)
			RETURNING `+errorEmailColumns, lease.Owner, micros(lease.Until), micros(now), micros(now), limit)
		if err != nil {
			return fmt.Errorf("lease error emails: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			e, err := scanErrorEmail(rows)
			if err != nil {
				return err
			}
			out = append(out, e)
		}
		return rows.Err()
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

// FinishErrorEmail records how a try of a leased email ended, if owner still holds it.
func (s *Store) FinishErrorEmail(ctx context.Context, id int64, owner string, o payhook.ErrorEmailOutcome) error {
	if owner == "" {
		return payhook.ErrLeaseLost
	}
	return s.do(ctx, func(w *writer) error {
		e, err := scanErrorEmail(w.queryRow(`SELECT `+errorEmailColumns+` FROM error_emails WHERE id = ? AND lease_owner = ?`, id, owner))
		if errors.Is(err, sql.ErrNoRows) {
			return payhook.ErrLeaseLost
		}
		if err != nil {
			return fmt.Errorf("load error email: %w", err)
		}
		if !o.RetryAt.IsZero() {
			to, err := encodeRecipients(o.To)
			if err != nil {
				return err
			}
			if _, err := w.exec(`UPDATE error_emails SET recipients = ?, tries = ?, sent = ?, last_error = ?, due_at = ?,
				lease_owner = '', lease_until = 0 WHERE id = ?`, to, o.Tries, o.Sent, o.LastError, micros(o.RetryAt), id); err != nil {
				return fmt.Errorf("requeue error email: %w", err)
			}
			return nil
		}
		if _, err := w.exec(`DELETE FROM error_emails WHERE id = ?`, id); err != nil {
			return fmt.Errorf("finish error email: %w", err)
		}
		if !o.GiveBack {
			return nil
		}
		win, err := w.errorEmailWindow(e.URL)
		if err != nil {
			return err
		}
		// Failures given back are never idle, so the interval does not matter here.
		return w.saveErrorEmailWindow(win.GiveBack(e), 0, time.Time{})
	})
}

// ErrorEmailStats counts the queued emails and the held-back failures.
func (s *Store) ErrorEmailStats(ctx context.Context) (payhook.ErrorEmailStats, error) {
	var st payhook.ErrorEmailStats
	err := s.read.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM error_emails),
		(SELECT COALESCE(SUM(held), 0) FROM error_email_windows)`).Scan(&st.Queued, &st.HeldBack)
	if err != nil {
		return st, fmt.Errorf("error email stats: %w", err)
	}
	return st, nil
}

package payhook

import (
	"context"
	"time"
)

// ErrorEmailFailure is a failed notification as the error emails (SPEC §8) record it.
type ErrorEmailFailure struct {
	// URL is where the notification failed to go: flood control counts per URL.
	URL string
	// NotificationID names the failed notification.
	NotificationID string
	// At is when it failed.
	At time.Time
	// Detail is what the email tells of the failure (the notification and its
	// transaction as they were when it failed), encoded by the mailer; a store keeps it
	// as it is and never reads it.
	Detail []byte
}

// ErrorEmail is an error email waiting in the store to be sent: the failure it tells, the
// failures to the same URL it sums up, and how its tries went. It stays queued until it
// is sent or given up, across restarts, and one process at a time holds it (Lease).
type ErrorEmail struct {
	// ID names the queued email (assigned by the store).
	ID int64
	// URL is the destination URL whose failure the email tells.
	URL string
	// Failure is the failure the email tells: its own, or for a summary the latest of
	// those held back.
	Failure ErrorEmailFailure
	// Held is how many failures to URL flood control held back and this email sums up
	// (for a summary, Failure is one of them); HeldSince is when the first of them
	// failed (zero when Held is 0).
	Held      int
	HeldSince time.Time
	// Summary marks an email that sums up held-back failures when no new failure came
	// after the window passed.
	Summary bool
	// To is who has still to accept the email: empty before its first try (the
	// addresses of the settings at that try apply), then those not yet reached.
	To []string
	// Tries counts the tries so far; Sent the addresses that accepted the email so far;
	// LastError is what the last failed try got.
	Tries     int
	Sent      int
	LastError string
	// Due is when the email is to be tried (next).
	Due       time.Time
	CreatedAt time.Time
	// Lease is the process that holds the email while it tries it (zero when none).
	Lease Lease
}

// Failures is how many failures the email tells: the held-back ones it sums up, and its
// own unless it is a summary.
func (e *ErrorEmail) Failures() int {
	if e.Summary {
		return e.Held
	}
	return e.Held + 1
}

// FirstFailedAt is when the first failure the email tells failed.
func (e *ErrorEmail) FirstFailedAt() time.Time {
	if e.Held > 0 && !e.HeldSince.IsZero() {
		return e.HeldSince
	}
	return e.Failure.At
}

// ErrorEmailWindow is flood control's record of one destination URL: at most one error
// email per URL per interval; the failures in between are held back, counted, and
// summed up by the next email. Its methods are the rule, with no I/O: a store loads the
// window, applies them and saves the result in one atomic step.
type ErrorEmailWindow struct {
	URL string
	// LastQueued is when the last email about URL was queued; zero when none was (or
	// failures were given back to an URL without a window): the window has passed.
	LastQueued time.Time
	// Held counts the failures held back since LastQueued, the first at HeldSince;
	// Latest is the latest of them (zero when Held is 0).
	Held      int
	HeldSince time.Time
	Latest    ErrorEmailFailure
}

// Passed reports whether the window is over at now: a new email may go out.
func (w ErrorEmailWindow) Passed(interval time.Duration, now time.Time) bool {
	return w.LastQueued.IsZero() || now.Sub(w.LastQueued) >= interval
}

// Idle reports whether the window can be forgotten at now: nothing held back and the
// window over (a new failure then opens a new one).
func (w ErrorEmailWindow) Idle(interval time.Duration, now time.Time) bool {
	return w.Held == 0 && w.Passed(interval, now)
}

// Admit applies flood control to failure f at now. When the window has passed, it
// returns the email to queue for f, summing up the failures held back before it, and
// the window starting again at now; otherwise f is held back and counted, and the email
// is nil.
func (w ErrorEmailWindow) Admit(f ErrorEmailFailure, interval time.Duration, now time.Time) (ErrorEmailWindow, *ErrorEmail) {
	if w.Passed(interval, now) {
		e := &ErrorEmail{URL: f.URL, Failure: f, Held: w.Held, HeldSince: w.HeldSince, Due: now, CreatedAt: now}
		if e.Held == 0 {
			e.HeldSince = time.Time{}
		}
		return ErrorEmailWindow{URL: f.URL, LastQueued: now}, e
	}
	if w.Held == 0 {
		w.HeldSince = f.At
	}
	w.Held++
	if w.Latest.At.IsZero() || !f.At.Before(w.Latest.At) {
		w.Latest = f
	}
	return w, nil
}

// Summary returns, when failures are held back and the window has passed at now, the
// email that sums them up and the window starting again at now; otherwise w and nil.
func (w ErrorEmailWindow) Summary(interval time.Duration, now time.Time) (ErrorEmailWindow, *ErrorEmail) {
	if w.Held == 0 || !w.Passed(interval, now) {
		return w, nil
	}
	e := &ErrorEmail{URL: w.URL, Failure: w.Latest, Held: w.Held, HeldSince: w.HeldSince, Summary: true,
		Due: now, CreatedAt: now}
	return ErrorEmailWindow{URL: w.URL, LastQueued: now}, e
}

// GiveBack counts the failures of e, an email that nobody got, back into the window as
// held back, so that the next email to its URL sums them up rather than lose them. The
// window's LastQueued is kept: a window that is over (or a new one) sums them up at the
// next look.
func (w ErrorEmailWindow) GiveBack(e *ErrorEmail) ErrorEmailWindow {
	n := e.Failures()
	if n <= 0 {
		return w
	}
	w.URL = e.URL
	if since := e.FirstFailedAt(); w.Held == 0 || since.Before(w.HeldSince) {
		w.HeldSince = since
	}
	if w.Held == 0 || e.Failure.At.After(w.Latest.At) {
		w.Latest = e.Failure
	}
	w.Held += n
	return w
}

// ErrorEmailOutcome is how a try of a leased error email ended (FinishErrorEmail).
type ErrorEmailOutcome struct {
	// RetryAt, when set, keeps the email queued, unleased, due again then, with To,
	// Tries, Sent and LastError as given (a shutdown hands an email back this way with
	// RetryAt now and its Tries unchanged). When zero, the email is finished: sent, or
	// given up, and removed.
	RetryAt   time.Time
	To        []string
	Tries     int
	Sent      int
	LastError string
	// GiveBack, for a finished email that nobody got, counts its failures back into its
	// URL's window (ErrorEmailWindow.GiveBack) in the same atomic step.
	GiveBack bool
}

// ErrorEmailStats is what the store holds of the error emails (metrics).
type ErrorEmailStats struct {
	// Queued counts the emails waiting to be sent (or being tried).
	Queued int
	// HeldBack counts the failures flood control holds back, over every URL.
	HeldBack int
}

// ErrorEmailStore is what the error emails (package mail) keep in the store: flood
// control per destination URL and the emails waiting to be sent, so that a restart loses
// none and every process sharing the store keeps to one email per URL per window. Every
// method is atomic and safe for concurrent use by several processes.
type ErrorEmailStore interface {
	// AdmitErrorEmail applies flood control (ErrorEmailWindow.Admit) to failure f at now,
	// in one atomic step against the URL's stored window: when the window has passed (or
	// the URL has none) it queues the failure's email, due now and summing up the
	// failures held back before, and returns it with its ID; otherwise it counts f as
	// held back (keeping it when it is the latest) and returns nil. Of concurrent calls
	// for one URL, from any process, exactly one queues an email per window.
	AdmitErrorEmail(ctx context.Context, f ErrorEmailFailure, interval time.Duration, now time.Time) (*ErrorEmail, error)
	// QueueErrorEmailSummaries turns, for every URL whose window has passed at now with
	// failures held back, those failures into one queued summary email
	// (ErrorEmailWindow.Summary), due now, oldest HeldSince first, and forgets the idle
	// windows; it returns how many it queued. Each URL's held-back failures are taken
	// once: concurrent calls (processes) never queue two summaries of them.
	QueueErrorEmailSummaries(ctx context.Context, interval time.Duration, now time.Time) (int, error)
	// LeaseErrorEmails leases to lease.Owner, until lease.Until, up to limit queued
	// emails that are due at now and whose lease expired (or that have none), earliest
	// due first, and returns them. Concurrent callers (processes) never get the same
	// email (SKIP LOCKED semantics: a locked email is skipped, not waited for).
	LeaseErrorEmails(ctx context.Context, now time.Time, lease Lease, limit int) ([]*ErrorEmail, error)
	// FinishErrorEmail records how a try of email id ended (see ErrorEmailOutcome) if
	// owner still holds its lease; otherwise it returns ErrLeaseLost and changes nothing
	// (another process leased it after the lease expired, and its try counts).
	FinishErrorEmail(ctx context.Context, id int64, owner string, o ErrorEmailOutcome) error
	// ErrorEmailStats counts the queued emails and the held-back failures (metrics).
	ErrorEmailStats(ctx context.Context) (ErrorEmailStats, error)
}

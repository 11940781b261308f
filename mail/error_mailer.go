// Package mail sends payhook's error emails (SPEC §8): when a notification has failed
// and notify_on_error is on, each address in emails is told which transaction, which
// URL and what each attempt got, through SMTP with github.com/wneessen/go-mail.
//
// The store is the truth. The delivery engine hands a failure over with NotifyFailure,
// which never waits: a goroutine records it in the store, where flood control lets one
// email per destination URL through per interval and counts the failures in between
// (payhook.ErrorEmailWindow), and where the emails wait to be sent. Another goroutine
// sums up the held-back failures whose window has passed and sends the queued emails,
// each leased to one process, retrying an SMTP outage with backoff. A restart loses
// nothing the store took, and every process sharing the store keeps to one email per
// URL per window.
package mail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	netmail "net/mail"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/payhook/payhook"
)

// Defaults of Config.
const (
	DefaultInterval     = 10 * time.Minute
	DefaultQueueSize    = 10000
	DefaultSendAttempts = 5
	DefaultRetryBackoff = 10 * time.Second
	DefaultSendTimeout  = 30 * time.Second
)

const (
	// maxRetryBackoff caps the doubling wait between two tries of an email.
	maxRetryBackoff = 5 * time.Minute
	// lookupTimeout bounds each read of the settings, a notification or a transaction,
	// and each call to the store.
	lookupTimeout = 10 * time.Second
	// leaseBatch is how many due emails a process leases at once.
	leaseBatch = 4
)

// Store is what the ErrorMailer keeps in the store: payhook.ErrorEmailStore, which every
// payhook.Store has (see there for each method's concurrency contract).
type Store interface {
	AdmitErrorEmail(ctx context.Context, f payhook.ErrorEmailFailure, interval time.Duration, now time.Time) (*payhook.ErrorEmail, error)
	QueueErrorEmailSummaries(ctx context.Context, interval time.Duration, now time.Time) (int, error)
	LeaseErrorEmails(ctx context.Context, now time.Time, lease payhook.Lease, limit int) ([]*payhook.ErrorEmail, error)
	FinishErrorEmail(ctx context.Context, id int64, owner string, o payhook.ErrorEmailOutcome) error
	ErrorEmailStats(ctx context.Context) (payhook.ErrorEmailStats, error)
}

// Config configures an ErrorMailer. Settings, Transaction and Notification are read when
// a failure is recorded and when an email is first tried, so that a change to
// notify_on_error or emails applies at once; service.Service's methods of those names
// fit.
type Config struct {
	SMTP SMTPConfig
	// Store keeps flood control and the queued emails (required): every payhook.Store.
	Store Store
	// Owner names this process in the leases of the queued emails; processes sharing a
	// store need different owners (default: host name, process id and a random part).
	Owner string
	// BaseURL is how the dashboard and the API are reached, for the links in the email
	// and the default sender (payhook@ its host name, or payhook@localhost for an IP).
	BaseURL string
	// Settings returns the current settings: notify_on_error and emails.
	Settings func(ctx context.Context) (payhook.Settings, error)
	// Transaction returns a transaction by session id, for its order_no.
	Transaction func(ctx context.Context, sessionID string) (*payhook.Transaction, error)
	// Notification returns a notification with all its attempts.
	Notification func(ctx context.Context, id string) (*payhook.Notification, error)
	// Interval is the flood-control window: at most one email per destination URL per
	// Interval (default DefaultInterval), across every process sharing the store.
	Interval time.Duration
	// FlushInterval is how often the store is looked at for held-back failures whose
	// window has passed, to be summed up without waiting for a new failure, and for
	// emails due (queued by another process that stopped, or due for a retry) (default
	// Interval/10, at most a minute).
	FlushInterval time.Duration
	// QueueSize bounds the failures waiting to be recorded in the store (default
	// DefaultQueueSize); beyond it they are dropped with a warning, never waited for.
	QueueSize int
	// SendAttempts is how many times an email is tried before it is given up (default
	// DefaultSendAttempts); RetryBackoff the first wait between two tries, doubled after
	// each (default DefaultRetryBackoff, at most 5 minutes); SendTimeout bounds one try
	// (default DefaultSendTimeout).
	SendAttempts int
	RetryBackoff time.Duration
	SendTimeout  time.Duration
	// Clock tells the time of flood control and of the emails; tests inject their own.
	Clock  payhook.Clock
	Logger *slog.Logger
}

// Stats counts what an ErrorMailer did since it was made (this process only; the store
// counts what is queued and held back for all of them).
type Stats struct {
	Failures   int64 // failures handed over by NotifyFailure
	Dropped    int64 // failures dropped because the queue was full
	Unrecorded int64 // failures the store did not take (it was unavailable)
	Skipped    int64 // failures not emailed: notify_on_error off, no emails, or settings unreadable
	Held       int64 // failures held back by flood control, to be summed up
	Sent       int64 // emails the SMTP server accepted (one per address)
	SendErrors int64 // tries that failed (each retried or given up)
	GivenUp    int64 // emails given up (one per address): refused for good, or out of attempts
}

// ErrorMailer emails the addresses of the settings when a notification fails. Make one
// with New, Start it, hand it failures with NotifyFailure (or OnFinished), Close it.
type ErrorMailer struct {
	cfg      Config
	from     string
	sender   *smtpSender
	log      *slog.Logger
	leaseFor time.Duration

	events   chan failure
	wake     chan struct{} // an email was queued: look at once
	stop     chan struct{}
	recorded chan struct{} // closed when every failure handed over is recorded
	wg       sync.WaitGroup
	// sendCtx ends when Close gives up waiting: it cuts the tries and the store calls.
	sendCtx context.Context
	abort   context.CancelFunc

	mu      sync.Mutex // guards started, closed and the hand-over to events
	started bool
	closed  bool

	nextRetry      time.Time // the earliest retry this process scheduled; the outbox goroutine's
	warnedNoEmails atomic.Bool
	stats          struct {
		failures, dropped, unrecorded, skipped, held, sent, sendErrors, givenUp atomic.Int64
	}
}

// failure is what NotifyFailure keeps of a failed notification: enough to write the
// email should the store not answer.
type failure struct {
	notification payhook.Notification // without its body
	at           time.Time
	// endpoint, when set, makes this a change of a URL's health (endpoint_email.go).
	endpoint *endpointDetail
}

// New returns an ErrorMailer; nothing runs until Start.
func New(cfg Config) (*ErrorMailer, error) {
	if cfg.Settings == nil || cfg.Transaction == nil || cfg.Notification == nil || cfg.Store == nil {
		return nil, errors.New("mail: Store, Settings, Transaction and Notification are required")
	}
	if cfg.SMTP.Host == "" || cfg.SMTP.Port < 1 || cfg.SMTP.Port > 65535 {
		return nil, errors.New("mail: SMTP host and port are required")
	}
	from := cfg.SMTP.From
	if from == "" {
		from = defaultFrom(cfg.BaseURL)
	}
	if _, err := netmail.ParseAddress(from); err != nil {
		return nil, fmt.Errorf("mail: sender %q is not an email address", from)
	}
	if cfg.Owner == "" {
		host, _ := os.Hostname()
		cfg.Owner = fmt.Sprintf("%s/%d/%s", host, os.Getpid(), payhook.NewSessionID()[:8])
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = min(cfg.Interval/10, time.Minute)
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	if cfg.SendAttempts <= 0 {
		cfg.SendAttempts = DefaultSendAttempts
	}
	if cfg.RetryBackoff <= 0 {
		cfg.RetryBackoff = DefaultRetryBackoff
	}
	if cfg.SendTimeout <= 0 {
		cfg.SendTimeout = DefaultSendTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &ErrorMailer{
		cfg: cfg, from: from, sender: &smtpSender{cfg: cfg.SMTP, timeout: cfg.SendTimeout},
		log: cfg.Logger.With("component", "error_email", "owner", cfg.Owner),
		// A lease outlives the tries of a batch, each bounded by SendTimeout and lookups.
		leaseFor: leaseBatch*(cfg.SendTimeout+lookupTimeout) + time.Minute,
		events:   make(chan failure, cfg.QueueSize), wake: make(chan struct{}, 1), stop: make(chan struct{}),
		recorded: make(chan struct{}), sendCtx: ctx, abort: cancel,
	}, nil
}

// defaultFrom is payhook@ the base URL's host name, or payhook@localhost when it has
// none or is an IP address.
func defaultFrom(baseURL string) string {
	host := ""
	if u, err := url.Parse(baseURL); err == nil {
		host = u.Hostname()
	}
	if host == "" || net.ParseIP(host) != nil {
		host = "localhost"
	}
	return "payhook@" + host
}

// From is the sender of the emails.
func (m *ErrorMailer) From() string { return m.from }

// Owner names this ErrorMailer in the leases of the queued emails.
func (m *ErrorMailer) Owner() string { return m.cfg.Owner }

// Start starts the goroutines that record the failures and send the emails; the emails
// the store holds due (from before a restart, or from a process that stopped) go out
// at once. Failures handed over before Start wait in the queue.
func (m *ErrorMailer) Start() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.started || m.closed {
		return
	}
	m.started = true
	m.wg.Add(2)
	go m.record()
	go m.outbox()
}

// OnFinished fits delivery.Config.OnFinished: it hands failed notifications to
// NotifyFailure and ignores delivered ones.
func (m *ErrorMailer) OnFinished(n *payhook.Notification, status payhook.Status, last payhook.Attempt) {
	if status == payhook.StatusFailed {
		m.NotifyFailure(n, last)
	}
}

// NotifyFailure hands over a notification whose round of attempts failed, last being
// its last attempt. It never blocks: the failure is queued for the store, or dropped
// with a warning when the queue is full, or ignored after Close. n is copied, not kept.
func (m *ErrorMailer) NotifyFailure(n *payhook.Notification, last payhook.Attempt) {
	f := failure{notification: *n, at: m.cfg.Clock.Now()}
	f.notification.Body, f.notification.Attempts = nil, append([]payhook.Attempt(nil), n.Attempts...)
	if len(f.notification.Attempts) == 0 || f.notification.Attempts[len(f.notification.Attempts)-1].Number != last.Number {
		f.notification.Attempts = append(f.notification.Attempts, last)
	}
	f.notification.Status = payhook.StatusFailed
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		m.log.Warn("failure after close not emailed", "notification", n.ID, "url", n.URL)
		return
	}
	m.stats.failures.Add(1)
	select {
	case m.events <- f:
	default:
		if d := m.stats.dropped.Add(1); d == 1 || d%1000 == 0 {
			m.log.Warn("error email queue full: failure dropped", "notification", n.ID, "url", n.URL,
				"dropped_so_far", d, "queue_size", m.cfg.QueueSize)
		}
	}
}

// Stats returns what the ErrorMailer did so far.
func (m *ErrorMailer) Stats() Stats {
	s := &m.stats
	return Stats{Failures: s.failures.Load(), Dropped: s.dropped.Load(), Unrecorded: s.unrecorded.Load(),
		Skipped: s.skipped.Load(), Held: s.held.Load(), Sent: s.sent.Load(), SendErrors: s.sendErrors.Load(),
		GivenUp: s.givenUp.Load()}
}

// Close stops taking failures, records in the store the ones handed over, and tries
// once more the emails due, until ctx ends; then it cuts the try in progress. Nothing is
// given up at shutdown: held-back failures and queued emails stay in the store, for the
// next start or another process.
func (m *ErrorMailer) Close(ctx context.Context) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	started := m.started
	m.mu.Unlock()
	if !started {
		m.abort()
		if n := len(m.events); n > 0 {
			m.log.Warn("closed before start: failures not emailed", "count", n)
		}
		return nil
	}
	close(m.stop)
	done := make(chan struct{})
	go func() { m.wg.Wait(); close(done) }()
	select {
	case <-done:
		m.abort()
		return nil
	case <-ctx.Done():
		m.abort()
		<-done
		return fmt.Errorf("mail: shutdown cut short, error emails left in the store: %w", ctx.Err())
	}
}

// record takes the failures from the queue into the store, until Close; then it records
// those still queued.
func (m *ErrorMailer) record() {
	defer m.wg.Done()
	defer close(m.recorded)
	for {
		select {
		case f := <-m.events:
			m.handle(f)
		case <-m.stop:
			// Nothing is queued after closed is set: drain, then stop.
			for {
				select {
				case f := <-m.events:
					m.handle(f)
				default:
					return
				}
			}
		}
	}
}

// outbox sums up the held-back failures whose window has passed and sends the queued
// emails: at once after a failure was queued, when a retry is due, and every
// FlushInterval; once more at Close after the last failures were recorded.
func (m *ErrorMailer) outbox() {
	defer m.wg.Done()
	tick := time.NewTicker(m.cfg.FlushInterval)
	defer tick.Stop()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	var retryAt time.Time
	for {
		m.pass()
		if next := m.nextRetry; !next.IsZero() && (retryAt.IsZero() || next.Before(retryAt)) {
			retryAt = next
			retry.Reset(max(next.Sub(m.cfg.Clock.Now()), 0))
		}
		m.nextRetry = time.Time{}
		select {
		case <-tick.C:
		case <-m.wake:
		case <-retry.C:
			retryAt = time.Time{}
		case <-m.stop:
			<-m.recorded
			m.pass()
			return
		}
	}
}

// poke wakes the outbox without waiting.
func (m *ErrorMailer) poke() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// recipients returns who gets error emails now, or nil (with why) when nobody does.
func (m *ErrorMailer) recipients() ([]string, string) {
	ctx, cancel := context.WithTimeout(m.sendCtx, lookupTimeout)
	defer cancel()
	st, err := m.cfg.Settings(ctx)
	switch {
	case err != nil:
		m.log.Error("load settings", "err", err)
		return nil, "settings unreadable"
	case !st.NotifyOnError:
		return nil, "notify_on_error is off"
	case len(st.Emails) == 0:
		if m.warnedNoEmails.CompareAndSwap(false, true) {
			m.log.Warn("notify_on_error is on but emails is empty: nobody gets error emails; add addresses in Webhook Config")
		}
		return nil, "emails is empty"
	}
	return st.Emails, ""
}

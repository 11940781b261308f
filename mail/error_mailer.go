// Package mail sends payhook's error emails (SPEC §8): when a notification has failed
// and notify_on_error is on, each address in emails is told which transaction, which
// URL and what each attempt got, through SMTP with github.com/wneessen/go-mail.
//
// The delivery engine hands a failure over with NotifyFailure, which never waits: the
// ErrorMailer decides, renders and sends on its own goroutines. Flood control lets one
// email per destination URL through per interval and sums up the failures in between;
// an SMTP outage is retried with backoff and logged, never felt by a delivery.
package mail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	netmail "net/mail"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	gomail "github.com/wneessen/go-mail"

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
	// lookupTimeout bounds each read of the settings, a notification or a transaction.
	lookupTimeout = 10 * time.Second
)

// Config configures an ErrorMailer. Settings, Transaction and Notification are read when
// an email is decided, so that a change to notify_on_error or emails applies at once;
// service.Service's methods of those names fit.
type Config struct {
	SMTP SMTPConfig
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
	// Interval (default DefaultInterval).
	Interval time.Duration
	// FlushInterval is how often held-back failures whose window has passed are looked
	// for, to be summed up without waiting for a new failure (default Interval/10, at
	// most a minute).
	FlushInterval time.Duration
	// QueueSize bounds the failures waiting to be looked at (default DefaultQueueSize);
	// beyond it they are dropped with a warning, never waited for.
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

// Stats counts what an ErrorMailer did since it was made.
type Stats struct {
	Failures   int64 // failures handed over by NotifyFailure
	Dropped    int64 // failures dropped because the queue was full
	Skipped    int64 // failures not emailed: notify_on_error off, no emails, or settings unreadable
	Held       int64 // failures held back by flood control, to be summed up
	Sent       int64 // emails the SMTP server accepted (one per address)
	SendErrors int64 // tries that failed (each retried or given up)
	GivenUp    int64 // emails given up: refused for good, out of attempts, or shutdown
}

// ErrorMailer emails the addresses of the settings when a notification fails. Make one
// with New, Start it, hand it failures with NotifyFailure (or OnFinished), Close it.
type ErrorMailer struct {
	cfg    Config
	from   string
	sender *smtpSender
	log    *slog.Logger

	events chan failure
	outbox chan *job
	stop   chan struct{}
	wg     sync.WaitGroup
	// sendCtx ends when Close gives up waiting: it cuts the sends and waits short.
	sendCtx context.Context
	abort   context.CancelFunc

	mu      sync.Mutex // guards started, closed and the hand-over to events
	started bool
	closed  bool

	gateMu sync.Mutex
	gate   *floodGate

	warnedNoEmails bool // touched by the run goroutine only
	stats          struct{ failures, dropped, skipped, held, sent, sendErrors, givenUp atomic.Int64 }
}

// failure is what NotifyFailure keeps of a failed notification: enough to write the
// email should the store not answer.
type failure struct {
	notification payhook.Notification // without its body
	at           time.Time
}

// job is an email to send: rendered, with its recipients and the failures it covers
// (counted back into flood control when it cannot be sent).
type job struct {
	letter   Letter
	to       []string
	url      string
	latest   failure
	failures int
	since    time.Time
}

// New returns an ErrorMailer; nothing runs until Start.
func New(cfg Config) (*ErrorMailer, error) {
	if cfg.Settings == nil || cfg.Transaction == nil || cfg.Notification == nil {
		return nil, errors.New("mail: Settings, Transaction and Notification are required")
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
		log:    cfg.Logger.With("component", "error_email"),
		events: make(chan failure, cfg.QueueSize), outbox: make(chan *job, 64), stop: make(chan struct{}),
		sendCtx: ctx, abort: cancel, gate: newFloodGate(cfg.Interval),
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

// Start starts the goroutines that decide and send the emails. Failures handed over
// before Start wait in the queue.
func (m *ErrorMailer) Start() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.started || m.closed {
		return
	}
	m.started = true
	m.wg.Add(2)
	go m.run()
	go m.deliver()
}

// OnFinished fits delivery.Config.OnFinished: it hands failed notifications to
// NotifyFailure and ignores delivered ones.
func (m *ErrorMailer) OnFinished(n *payhook.Notification, status payhook.Status, last payhook.Attempt) {
	if status == payhook.StatusFailed {
		m.NotifyFailure(n, last)
	}
}

// NotifyFailure hands over a notification whose round of attempts failed, last being
// its last attempt. It never blocks: the failure is queued, or dropped with a warning
// when the queue is full, or ignored after Close. n is copied, not kept.
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
	return Stats{Failures: s.failures.Load(), Dropped: s.dropped.Load(), Skipped: s.skipped.Load(),
		Held: s.held.Load(), Sent: s.sent.Load(), SendErrors: s.sendErrors.Load(), GivenUp: s.givenUp.Load()}
}

// Close stops taking failures, sums up the ones flood control still holds back (their
// window not passed), and sends what is queued, retrying as usual, until ctx ends; what
// is left then is given up and logged.
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
		return fmt.Errorf("mail: error emails given up at shutdown: %w", ctx.Err())
	}
}

// run decides: it takes failures from the queue, lets flood control decide, renders
// the emails and hands them to deliver; on a timer it sums up held-back failures.
func (m *ErrorMailer) run() {
	defer m.wg.Done()
	defer close(m.outbox)
	t := time.NewTicker(m.cfg.FlushInterval)
	defer t.Stop()
	for {
		select {
		case f := <-m.events:
			m.handle(f)
		case <-t.C:
			m.flush(false)
		case <-m.stop:
			// Nothing is queued after closed is set: drain, then sum up everything held.
			for {
				select {
				case f := <-m.events:
					m.handle(f)
				default:
					m.flush(true)
					return
				}
			}
		}
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
		if !m.warnedNoEmails {
			m.warnedNoEmails = true
			m.log.Warn("notify_on_error is on but emails is empty: nobody gets error emails; add addresses in Webhook Config")
		}
		return nil, "emails is empty"
	}
	return st.Emails, ""
}

func (m *ErrorMailer) handle(f failure) {
	n := &f.notification
	to, why := m.recipients()
	if to == nil {
		m.stats.skipped.Add(1)
		m.log.Debug("failure not emailed", "why", why, "notification", n.ID, "url", n.URL)
		return
	}
	m.gateMu.Lock()
	ok, held, since := m.gate.admit(n.URL, f, m.cfg.Clock.Now())
	m.gateMu.Unlock()
	if !ok {
		m.stats.held.Add(1)
		m.log.Debug("failure held back by flood control", "notification", n.ID, "url", n.URL)
		return
	}
	m.enqueue(m.compose(f, to, held, since, false), f, held+1, f.at)
	if held > 0 {
		m.log.Debug("email sums up held-back failures", "url", n.URL, "held", held)
	}
}

// flush sums up the held-back failures whose window has passed (all of them when all).
func (m *ErrorMailer) flush(all bool) {
	m.gateMu.Lock()
	due := m.gate.due(m.cfg.Clock.Now(), all)
	m.gateMu.Unlock()
	if len(due) == 0 {
		return
	}
	to, why := m.recipients()
	for _, s := range due {
		if to == nil {
			m.stats.skipped.Add(int64(s.held))
			m.log.Info("held-back failures not summed up", "why", why, "url", s.url, "failures", s.held)
			continue
		}
		m.enqueue(m.compose(s.latest, to, s.held, s.since, true), s.latest, s.held, s.since)
	}
}

// compose renders the email of a failure, reading the notification's attempts and its
// transaction; when the store does not answer, what NotifyFailure kept stands in.
func (m *ErrorMailer) compose(f failure, to []string, held int, since time.Time, isSummary bool) *job {
	ctx, cancel := context.WithTimeout(m.sendCtx, lookupTimeout)
	defer cancel()
	n := &f.notification
	if full, err := m.cfg.Notification(ctx, n.ID); err != nil {
		m.log.Warn("load notification for error email", "notification", n.ID, "err", err)
	} else {
		n = full
	}
	t, err := m.cfg.Transaction(ctx, n.SessionID)
	if err != nil {
		t = nil
		if payhook.ErrorCode(err) != payhook.ENOTFOUND {
			m.log.Warn("load transaction for error email", "session_id", n.SessionID, "err", err)
		}
	}
	e := FailureEmail{Notification: n, Transaction: t, Held: held, HeldSince: since, Summary: isSummary,
		Interval: m.cfg.Interval, BaseURL: m.cfg.BaseURL}
	letter, err := e.Render()
	if err != nil {
		// A template bug: still tell them, in as few words as can be trusted.
		m.log.Error("render error email", "notification", n.ID, "err", err)
		letter = Letter{Subject: "[payhook] Notification failed: " + oneLine(n.URL),
			Text: fmt.Sprintf("Notification %s to %s failed (session_id %s).\n", n.ID, n.URL, n.SessionID)}
	}
	return &job{letter: letter, to: to, url: n.URL}
}

// enqueue hands an email to deliver; it waits only for deliver, and not past Close's end.
func (m *ErrorMailer) enqueue(j *job, latest failure, failures int, since time.Time) {
	j.latest, j.failures, j.since = latest, failures, since
	select {
	case m.outbox <- j:
	case <-m.sendCtx.Done():
		m.stats.givenUp.Add(int64(len(j.to)))
		m.log.Error("error email given up at shutdown", "url", j.url, "subject", j.letter.Subject)
	}
}

// deliver sends the emails one after the other, each with its retries.
func (m *ErrorMailer) deliver() {
	defer m.wg.Done()
	for j := range m.outbox {
		m.send(j)
	}
}

// send tries an email until every address accepted it, refused it for good, or the
// attempts ran out. One message per address, so that a refused address does not keep
// the email from the others.
func (m *ErrorMailer) send(j *job) {
	log := m.log.With("url", j.url, "subject", j.letter.Subject)
	pending := j.to
	delivered := 0
	backoff := m.cfg.RetryBackoff
	for attempt := 1; len(pending) > 0; attempt++ {
		if m.sendCtx.Err() != nil {
			m.stats.givenUp.Add(int64(len(pending)))
			log.Error("error email given up at shutdown", "to", pending)
			return
		}
		msgs, addrs := m.messages(j, pending)
		if len(msgs) == 0 {
			m.stats.givenUp.Add(int64(len(pending)))
			return
		}
		ctx, cancel := context.WithTimeout(m.sendCtx, m.cfg.SendTimeout)
		err := m.sender.send(ctx, msgs)
		cancel()
		var retry []string
		for i, msg := range msgs {
			switch {
			case msg.IsDelivered():
				delivered++
				m.stats.sent.Add(1)
			case permanent(msg):
				m.stats.givenUp.Add(1)
				log.Error("error email refused by the SMTP server", "to", addrs[i], "err", msg.SendError())
			default:
				retry = append(retry, addrs[i])
			}
		}
		if len(retry) == 0 {
			if delivered > 0 {
				log.Info("error email sent", "to", j.to, "attempts", attempt)
			}
			return
		}
		if err == nil {
			err = errors.New("not accepted")
		}
		m.stats.sendErrors.Add(1)
		pending = retry
		if attempt >= m.cfg.SendAttempts {
			m.stats.givenUp.Add(int64(len(pending)))
			log.Error("error email given up", "to", pending, "attempts", attempt, "err", err)
			break
		}
		log.Warn("error email not sent; retrying", "to", pending, "attempt", attempt, "retry_in", backoff, "err", err)
		if !m.sleep(backoff) {
			m.stats.givenUp.Add(int64(len(pending)))
			log.Error("error email given up at shutdown", "to", pending, "err", err)
			return
		}
		backoff = min(2*backoff, maxRetryBackoff)
	}
	if delivered == 0 {
		// Nobody heard of these failures: count them into the next email to this URL.
		m.gateMu.Lock()
		m.gate.giveBack(j.url, j.latest, j.failures, j.since)
		m.gateMu.Unlock()
	}
}

// messages builds one message per address (afresh for each try).
func (m *ErrorMailer) messages(j *job, to []string) ([]*gomail.Msg, []string) {
	var msgs []*gomail.Msg
	var addrs []string
	for _, addr := range to {
		msg := gomail.NewMsg()
		if err := msg.From(m.from); err != nil {
			m.log.Error("error email sender", "from", m.from, "err", err)
			return nil, nil
		}
		if err := msg.To(addr); err != nil {
			m.log.Error("error email address refused", "to", addr, "err", err)
			continue
		}
		msg.Subject(j.letter.Subject)
		msg.SetDateWithValue(m.cfg.Clock.Now())
		msg.SetMessageID()
		msg.SetUserAgent("payhook")
		msg.SetGenHeader("Auto-Submitted", "auto-generated") // RFC 3834: no auto-replies
		msg.SetGenHeader(gomail.HeaderXAutoResponseSuppress, "All")
		// The plain text goes as 8bit, not quoted-printable, so that links and ids stay whole
		// on their lines for any reader; lines are kept under SMTP's 998-octet limit.
		msg.SetBodyString(gomail.TypeTextPlain, wrapLongLines(j.letter.Text, maxTextLine),
			gomail.WithPartEncoding(gomail.NoEncoding))
		if j.letter.HTML != "" {
			msg.AddAlternativeString(gomail.TypeTextHTML, j.letter.HTML)
		}
		msgs = append(msgs, msg)
		addrs = append(addrs, addr)
	}
	return msgs, addrs
}

// sleep waits d, or returns false when Close gives up first.
func (m *ErrorMailer) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-m.sendCtx.Done():
		return false
	}
}

// maxTextLine bounds a line of the plain-text part (SMTP allows 998 octets).
const maxTextLine = 900

// wrapLongLines hard-wraps lines longer than max bytes (a long answer excerpt or URL); a
// split never falls inside a UTF-8 sequence.
func wrapLongLines(text string, max int) string {
	var b strings.Builder
	for i, line := range strings.Split(text, "\n") {
		if i > 0 {
			b.WriteByte('\n')
		}
		for len(line) > max {
			cut := max
			for cut > 0 && !utf8.RuneStart(line[cut]) {
				cut--
			}
			b.WriteString(line[:cut])
			b.WriteByte('\n')
			line = line[cut:]
		}
		b.WriteString(line)
	}
	return b.String()
}

package mail

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	gomail "github.com/wneessen/go-mail"

	"github.com/payhook/payhook"
)

// The outbox: the emails queued in the store, sent by whichever process leases them.

// pass queues the summaries whose window has passed, then leases and tries the due
// emails until none is left or Close gives up.
func (m *ErrorMailer) pass() {
	if m.sendCtx.Err() != nil {
		return
	}
	ctx, cancel := context.WithTimeout(m.sendCtx, lookupTimeout)
	n, err := m.cfg.Store.QueueErrorEmailSummaries(ctx, m.cfg.Interval, m.cfg.Clock.Now())
	cancel()
	switch {
	case err != nil:
		m.log.Error("sum up held-back failures", "err", err)
	case n > 0:
		m.log.Debug("held-back failures summed up", "emails", n)
	}
	for m.sendCtx.Err() == nil {
		now := m.cfg.Clock.Now()
		ctx, cancel := context.WithTimeout(m.sendCtx, lookupTimeout)
		emails, err := m.cfg.Store.LeaseErrorEmails(ctx, now, payhook.Lease{Owner: m.cfg.Owner, Until: now.Add(m.leaseFor)}, leaseBatch)
		cancel()
		if err != nil {
			m.log.Error("lease error emails", "err", err)
			return
		}
		if len(emails) == 0 {
			return
		}
		for i, e := range emails {
			if m.sendCtx.Err() != nil {
				for _, e := range emails[i:] {
					m.finish(e, payhook.ErrorEmailOutcome{RetryAt: m.cfg.Clock.Now(), To: e.To, Tries: e.Tries,
						Sent: e.Sent, LastError: e.LastError})
				}
				return
			}
			m.try(e)
		}
	}
}

// try sends a leased email once to each address that has still to accept it (the
// settings' addresses on the first try), one message per address so that a refused
// address does not keep the email from the others, and records in the store how it
// went: sent, retried later with backoff, or given up. An email given up that nobody got
// counts its failures back into flood control, to be summed up by the next email.
func (m *ErrorMailer) try(e *payhook.ErrorEmail) {
	log := m.log.With("url", e.URL, "email", e.ID)
	to := e.To
	if len(to) == 0 {
		var why string
		if to, why = m.recipients(); to == nil {
			m.stats.skipped.Add(int64(e.Failures()))
			log.Info("error email not sent", "why", why, "failures", e.Failures())
			m.finish(e, payhook.ErrorEmailOutcome{})
			return
		}
	}
	letter := m.render(e)
	log = log.With("subject", letter.Subject)
	msgs, addrs := m.messages(letter, to)
	if len(msgs) == 0 {
		m.stats.givenUp.Add(int64(len(to)))
		m.finish(e, payhook.ErrorEmailOutcome{})
		return
	}
	ctx, cancel := context.WithTimeout(m.sendCtx, m.cfg.SendTimeout)
	err := m.sender.send(ctx, msgs)
	cancel()
	sent := e.Sent
	var retry []string
	for i, msg := range msgs {
		switch {
		case msg.IsDelivered():
			sent++
			m.stats.sent.Add(1)
		case permanent(msg):
			m.stats.givenUp.Add(1)
			log.Error("error email refused by the SMTP server", "to", addrs[i], "err", msg.SendError())
		default:
			retry = append(retry, addrs[i])
		}
	}
	tries := e.Tries + 1
	if len(retry) == 0 {
		if sent > e.Sent {
			log.Info("error email sent", "to", to, "attempts", tries)
		}
		m.finish(e, payhook.ErrorEmailOutcome{})
		return
	}
	if err == nil {
		err = errors.New("not accepted")
	}
	now := m.cfg.Clock.Now()
	if m.sendCtx.Err() != nil {
		// Close gave up waiting and cut this try: the email goes back to the store as it
		// was, for the next start or another process.
		log.Warn("error email left queued at shutdown", "to", retry)
		m.finish(e, payhook.ErrorEmailOutcome{RetryAt: now, To: retry, Tries: e.Tries, Sent: sent, LastError: e.LastError})
		return
	}
	m.stats.sendErrors.Add(1)
	if tries >= m.cfg.SendAttempts {
		m.stats.givenUp.Add(int64(len(retry)))
		log.Error("error email given up", "to", retry, "attempts", tries, "err", err)
		// Nobody heard of these failures: count them into the next email to this URL.
		m.finish(e, payhook.ErrorEmailOutcome{GiveBack: sent == 0})
		return
	}
	backoff := m.backoff(tries)
	log.Warn("error email not sent; retrying", "to", retry, "attempt", tries, "retry_in", backoff, "err", err)
	next := now.Add(backoff)
	m.finish(e, payhook.ErrorEmailOutcome{RetryAt: next, To: retry, Tries: tries, Sent: sent, LastError: err.Error()})
	if m.nextRetry.IsZero() || next.Before(m.nextRetry) {
		m.nextRetry = next
	}
}

// backoff is the wait after the tries-th failed try: RetryBackoff, doubled after each,
// at most maxRetryBackoff.
func (m *ErrorMailer) backoff(tries int) time.Duration {
	d := m.cfg.RetryBackoff
	for i := 1; i < tries && d < maxRetryBackoff; i++ {
		d *= 2
	}
	return min(d, maxRetryBackoff)
}

// finish records in the store how a try ended. It runs even when Close gave up (a
// shutdown hands leased emails back this way), bounded on its own.
func (m *ErrorMailer) finish(e *payhook.ErrorEmail, o payhook.ErrorEmailOutcome) {
	ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
	defer cancel()
	err := m.cfg.Store.FinishErrorEmail(ctx, e.ID, m.cfg.Owner, o)
	switch {
	case errors.Is(err, payhook.ErrLeaseLost):
		m.log.Warn("error email lease lost: another process took it over", "url", e.URL, "email", e.ID)
	case err != nil:
		// The lease runs out and the email is tried again: a duplicate rather than none.
		m.log.Error("record error email try", "url", e.URL, "email", e.ID, "err", err)
	}
}

// render writes the email from what the store recorded of its failure.
func (m *ErrorMailer) render(e *payhook.ErrorEmail) Letter {
	if d, ok := decodeEndpointDetail(e.Failure); ok {
		repeats := e.Held
		if e.Summary {
			repeats--
		}
		return EndpointEmail{Health: *d.Endpoint, Change: d.Change, BaseURL: m.cfg.BaseURL, Repeats: max(repeats, 0)}.Render()
	}
	d, ok := decodeDetail(e.Failure)
	if !ok {
		m.log.Warn("error email detail unreadable", "url", e.URL, "notification", e.Failure.NotificationID)
		d.Notification = &payhook.Notification{ID: e.Failure.NotificationID, URL: e.URL, Status: payhook.StatusFailed}
	}
	n := d.Notification
	fe := FailureEmail{Notification: n, Transaction: d.Transaction, Held: e.Held, HeldSince: e.HeldSince,
		Summary: e.Summary, Interval: m.cfg.Interval, BaseURL: m.cfg.BaseURL}
	letter, err := fe.Render()
	if err != nil {
		// A template bug: still tell them, in as few words as can be trusted.
		m.log.Error("render error email", "notification", n.ID, "err", err)
		letter = Letter{Subject: "[payhook] Notification failed: " + oneLine(n.URL),
			Text: fmt.Sprintf("Notification %s to %s failed (session_id %s).\n", n.ID, n.URL, n.SessionID)}
	}
	return letter
}

// messages builds one message per address (afresh for each try).
func (m *ErrorMailer) messages(letter Letter, to []string) ([]*gomail.Msg, []string) {
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
		msg.Subject(letter.Subject)
		msg.SetDateWithValue(m.cfg.Clock.Now())
		msg.SetMessageID()
		msg.SetUserAgent("payhook")
		msg.SetGenHeader("Auto-Submitted", "auto-generated") // RFC 3834: no auto-replies
		msg.SetGenHeader(gomail.HeaderXAutoResponseSuppress, "All")
		// The plain text goes as 8bit, not quoted-printable, so that links and ids stay whole
		// on their lines for any reader; lines are kept under SMTP's 998-octet limit.
		msg.SetBodyString(gomail.TypeTextPlain, wrapLongLines(letter.Text, maxTextLine),
			gomail.WithPartEncoding(gomail.NoEncoding))
		if letter.HTML != "" {
			msg.AddAlternativeString(gomail.TypeTextHTML, letter.HTML)
		}
		msgs = append(msgs, msg)
		addrs = append(addrs, addr)
	}
	return msgs, addrs
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

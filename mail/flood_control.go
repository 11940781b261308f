package mail

import (
	"context"
	"encoding/json"
	"time"

	"github.com/payhook/payhook"
)

// Flood control lives in the store (payhook.ErrorEmailWindow, applied atomically by
// Store.AdmitErrorEmail), so that every process sharing it keeps to one email per URL
// per window and a restart forgets no held-back failure. This file is the mailer's side:
// what it records of a failure, and how.

// failureDetail is what an email tells of a failure, recorded with it in the store
// (payhook.ErrorEmailFailure.Detail): the notification with its attempts and body, and
// its transaction, as they were when it failed, so that an email sent later, or by
// another process after a restart, tells the same.
type failureDetail struct {
	Notification *payhook.Notification `json:"notification"`
	Transaction  *payhook.Transaction  `json:"transaction,omitempty"`
}

// admitTries is how many times a failure is offered to a store that does not take it;
// admitBackoff the wait between two.
const (
	admitTries   = 3
	admitBackoff = time.Second
)

// handle records a failure in the store, unless nobody is to be told: flood control
// there queues its email or holds it back.
func (m *ErrorMailer) handle(f failure) {
	n := &f.notification
	if to, why := m.recipients(); to == nil {
		m.stats.skipped.Add(1)
		m.log.Debug("failure not emailed", "why", why, "notification", n.ID, "url", n.URL)
		return
	}
	var rec payhook.ErrorEmailFailure
	if f.endpoint != nil {
		rec = endpointRecord(f)
	} else {
		rec = payhook.ErrorEmailFailure{URL: n.URL, NotificationID: n.ID, At: f.at, Detail: m.detail(f)}
	}
	var e *payhook.ErrorEmail
	var err error
	for try := 1; ; try++ {
		ctx, cancel := context.WithTimeout(m.sendCtx, lookupTimeout)
		e, err = m.cfg.Store.AdmitErrorEmail(ctx, rec, m.cfg.Interval, m.cfg.Clock.Now())
		cancel()
		if err == nil || try == admitTries || !m.pause(admitBackoff) {
			break
		}
		m.log.Warn("record failure for error email; retrying", "notification", n.ID, "url", n.URL, "err", err)
	}
	switch {
	case err != nil:
		m.stats.unrecorded.Add(1)
		m.log.Error("failure not recorded for error email: the store did not take it", "notification", n.ID,
			"url", n.URL, "err", err)
	case e == nil:
		m.stats.held.Add(1)
		m.log.Debug("failure held back by flood control", "notification", n.ID, "url", n.URL)
	default:
		if e.Held > 0 {
			m.log.Debug("email sums up held-back failures", "url", n.URL, "held", e.Held)
		}
		m.poke()
	}
}

// detail encodes what the email will tell of a failure, reading the notification's
// attempts and its transaction; when the store does not answer, what NotifyFailure kept
// stands in.
func (m *ErrorMailer) detail(f failure) []byte {
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
	b, err := json.Marshal(failureDetail{Notification: n, Transaction: t})
	if err != nil {
		m.log.Error("encode error email detail", "notification", n.ID, "err", err)
		return nil
	}
	return b
}

// decodeDetail reads back what detail recorded; ok is false when it cannot.
func decodeDetail(f payhook.ErrorEmailFailure) (failureDetail, bool) {
	var d failureDetail
	if len(f.Detail) == 0 || json.Unmarshal(f.Detail, &d) != nil || d.Notification == nil {
		return failureDetail{}, false
	}
	return d, true
}

// pause waits d, or returns false when Close gives up first.
func (m *ErrorMailer) pause(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-m.sendCtx.Done():
		return false
	}
}

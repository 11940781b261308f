package delivery

import (
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/payhook/payhook"
)

// Extended redelivery (issue 10): after Ottu's round failed with an outcome that waiting
// may mend, a notification created with extended redelivery on (payhook.Settings.
// ExtendedFor) is tried again on the configured schedule. The decision of what follows an
// attempt is payhook.NextExtendedStep; this file only carries it out. Between two extended
// attempts the notification is not in memory: it is failed in the store with its next
// attempt's time, unleased, and the sweep (of any process, after a restart too) claims it
// when it is due.

// defaultJitter moves a wait by up to ±10 %, so that the notifications of an outage do
// not all come back at the same instant.
func defaultJitter(d time.Duration) time.Duration {
	return d + time.Duration((rand.Float64()*0.2-0.1)*float64(d))
}

// retryAfter reads a Retry-After header sent with a 429 or a 503 (delay-seconds or an
// HTTP date), 0 when there is none or it cannot be read.
func retryAfter(resp *http.Response, now time.Time) time.Duration {
	if resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable {
		return 0
	}
	v := strings.TrimSpace(resp.Header.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(min(secs, int64(payhook.MaxRetryAfter/time.Second))) * time.Second
	}
	if at, err := http.ParseTime(v); err == nil && at.After(now) {
		return min(at.Sub(now), payhook.MaxRetryAfter)
	}
	return 0
}

// entersExtended reports whether an attempt that NextStep failed hands n over to extended
// redelivery rather than ending it.
func entersExtended(n *payhook.Notification, step payhook.Step, o payhook.AttemptOutcome) bool {
	return step.Status == payhook.StatusFailed && n.Extended && n.Redelivery == nil && o.TryLater()
}

// recordExtended decides and stores what follows an attempt of n that extended
// redelivery governs: the last of Ottu's round (entering) or an extended one. It retries
// while the store cannot take the write, like record.
func (e *Engine) recordExtended(n *payhook.Notification, st payhook.Settings, a payhook.Attempt, o payhook.AttemptOutcome, entering bool) (payhook.ExtendedStep, error) {
	made := 0
	if !entering {
		made = n.Redelivery.AttemptsMade + 1
	}
	jitter := e.cfg.Jitter
	if jitter == nil {
		jitter = defaultJitter
	}
	step := payhook.NextExtendedStep(st.Schedule(), made, o, e.cfg.Clock.Now(), jitter)
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
		err := e.cfg.Store.RecordExtendedAttempt(e.ctx, n.ID, a, step, entering, e.cfg.Owner)
		if err == nil || payhook.ErrorCode(err) != payhook.EUNAVAILABLE {
			return step, err
		}
		e.cfg.Logger.Warn("record extended attempt: the store cannot take writes; retrying", "notification", n.ID, "err", err)
		if !e.sleep(wait) {
			return step, err
		}
	}
}

// extendedAttempt carries out the end of an extended attempt of n (claimed by the sweep
// when due): records it and reports how it ended.
func (e *Engine) extendedAttempt(n *payhook.Notification, st payhook.Settings, a payhook.Attempt, o payhook.AttemptOutcome) Result {
	log := e.cfg.Logger.With("notification", n.ID, "url", n.URL)
	step, err := e.recordExtended(n, st, a, o, false)
	if err != nil {
		if errors.Is(err, payhook.ErrLeaseLost) {
			// Taken over, or re-sent meanwhile (a re-send stops the schedule).
			log.Warn("extended attempt not recorded: the notification was taken over or re-sent", "err", err)
			return Result{Status: payhook.StatusPending}
		}
		log.Error("record extended attempt", "err", err)
		e.release(n.ID)
		return Result{Status: payhook.StatusPending}
	}
	extendedTotal.WithLabelValues(extendedOutcome(step)).Inc()
	n.Redelivery = step.Redelivery
	n.Attempts = append(n.Attempts, a)
	log.Debug("extended attempt", "status_code", a.StatusCode, "error", a.Error, "next", step.Status, "more", step.Redelivery != nil)
	return Result{Status: step.Status, StatusCode: a.StatusCode}
}

func extendedOutcome(s payhook.ExtendedStep) string {
	switch {
	case s.Status == payhook.StatusDelivered:
		return "delivered"
	case s.Redelivery != nil:
		return "again"
	}
	return "given_up"
}

var extendedTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "payhook_extended_attempts_total",
	Help: "Attempts of extended redelivery (after Ottu's round failed), by what followed: delivered, again (another extended attempt is scheduled), given_up (a final answer or the schedule used up).",
}, []string{"outcome"})

// enterExtended records the last attempt of Ottu's round of n (failed: NextStep said so)
// as handing n over to extended redelivery, and ends the round as failed: the customer's
// redirect and the error email go as they would without it (the email says until when
// the schedule runs).
func (e *Engine) enterExtended(n *payhook.Notification, st payhook.Settings, a payhook.Attempt, o payhook.AttemptOutcome, round int) Result {
	log := e.cfg.Logger.With("notification", n.ID, "url", n.URL)
	step, err := e.recordExtended(n, st, a, o, true)
	if err != nil {
		if errors.Is(err, payhook.ErrLeaseLost) {
			log.Warn("attempt not recorded: the lease was taken over by another process", "err", err)
			return Result{Status: payhook.StatusPending}
		}
		log.Error("record attempt", "err", err)
		e.release(n.ID)
		return Result{Status: payhook.StatusPending}
	}
	n.RoundAttempts = round
	n.Redelivery = step.Redelivery
	n.Attempts = append(n.Attempts, a)
	finishedTotal.WithLabelValues(string(payhook.StatusFailed)).Inc()
	if e.cfg.OnFinished != nil {
		e.cfg.OnFinished(n, payhook.StatusFailed, a)
	}
	return Result{Status: payhook.StatusFailed, StatusCode: a.StatusCode}
}

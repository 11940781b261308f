package payhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// DefaultExtendedSchedule is the default wait, in seconds, before each attempt of
// extended redelivery: 1 min, 5 min, 30 min, 2 h, 6 h, 12 h, 24 h (about 45 h in all).
var DefaultExtendedSchedule = []float64{60, 300, 1800, 7200, 21600, 43200, 86400}

// The bounds of an extended schedule.
const (
	MaxExtendedSteps = 20
	MaxExtendedStep  = 7 * 24 * time.Hour
	// MaxRetryAfter bounds how long a merchant's Retry-After may push an attempt back.
	MaxRetryAfter = 24 * time.Hour
)

// RedeliverySettings is the global extended-redelivery block of Settings: after Ottu's
// attempts are used up, a notification that got no answer, a 429 or a 5xx keeps being
// tried on a schedule. Off by default: Ottu's rules are then exact.
type RedeliverySettings struct {
	// ExtendedRedelivery turns extended redelivery on for every URL whose configuration
	// does not say otherwise.
	ExtendedRedelivery bool `json:"extended_redelivery"`
	// ExtendedSchedule is the wait in seconds before each extended attempt, counted from
	// the attempt before it; empty means DefaultExtendedSchedule. Decimals are allowed.
	ExtendedSchedule []float64 `json:"extended_schedule"`
	// OperationsExtendedRedelivery overrides ExtendedRedelivery for the operations
	// webhook URL; nil follows it.
	OperationsExtendedRedelivery *bool `json:"operations_extended_redelivery"`
}

// Schedule returns the extended schedule as durations (the default when none is set).
func (r RedeliverySettings) Schedule() []time.Duration {
	src := r.ExtendedSchedule
	if len(src) == 0 {
		src = DefaultExtendedSchedule
	}
	out := make([]time.Duration, len(src))
	for i, s := range src {
		out[i] = seconds(s)
	}
	return out
}

// ExtendedFor decides whether a notification to url gets extended redelivery: the
// operations URL follows OperationsExtendedRedelivery when set, every other URL its
// plugin's override when set, else the global switch. The decision is taken when the
// notification is created and kept with it.
func (s Settings) ExtendedFor(p PluginSettings, url string, operations bool) bool {
	switch {
	case operations && url == s.OperationsWebhookURL && s.OperationsExtendedRedelivery != nil:
		return *s.OperationsExtendedRedelivery
	case operations && url == s.OperationsWebhookURL:
		return s.ExtendedRedelivery
	case p.ExtendedRedelivery != nil:
		return *p.ExtendedRedelivery
	}
	return s.ExtendedRedelivery
}

// apply sets one field of the block from a config PATCH; known is false for a name that
// is not the block's.
func (r *RedeliverySettings) apply(name string, raw json.RawMessage) (known bool, err error) {
	switch name {
	case "extended_redelivery":
		return true, decodeField(raw, &r.ExtendedRedelivery)
	case "extended_schedule":
		var v []float64 // null or []: the default
		if err := json.Unmarshal(raw, &v); err != nil {
			return true, fmt.Errorf("must be a list of numbers of seconds")
		}
		if err := ValidateExtendedSchedule(v); err != nil {
			return true, err
		}
		if len(v) == 0 || slices.Equal(v, DefaultExtendedSchedule) {
			v = nil // the default, kept as such (it may change with a new version)
		}
		r.ExtendedSchedule = v
		return true, nil
	case "operations_extended_redelivery":
		if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
			r.OperationsExtendedRedelivery = nil
			return true, nil
		}
		var v bool
		if err := json.Unmarshal(raw, &v); err != nil {
			return true, fmt.Errorf("must be true, false or null (follow extended_redelivery)")
		}
		r.OperationsExtendedRedelivery = &v
		return true, nil
	}
	return false, nil
}

// ValidateExtendedSchedule checks a schedule: empty (the default) or 1 to 20 waits, each
// more than 0 and at most 7 days. The waits need not grow: a merchant may want a steady
// pace.
func ValidateExtendedSchedule(v []float64) error {
	if len(v) > MaxExtendedSteps {
		return fmt.Errorf("at most %d steps (got %d)", MaxExtendedSteps, len(v))
	}
	for i, s := range v {
		if !(s > 0) || seconds(s) > MaxExtendedStep {
			return fmt.Errorf("step %d (%v) must be more than 0 and at most 604800 seconds (7 days)", i+1, s)
		}
	}
	return nil
}

// Redelivery is where a notification's extended redelivery stands, set while extended
// attempts remain after Ottu's round failed. The notification's status stays failed (as
// Ottu says) until an extended attempt is accepted (delivered).
type Redelivery struct {
	// NextAttemptAt is when the next extended attempt is due.
	NextAttemptAt time.Time
	// EndsAt is when the schedule's last attempt is due if every wait runs as planned.
	EndsAt time.Time
	// AttemptsMade counts the extended attempts made so far (not Ottu's).
	AttemptsMade int
}

// TryLater reports whether an outcome may be mended by waiting: no answer, 429, or a
// 5xx. Any other answer (3xx, other 4xx, other 2xx) is the merchant's final word.
func (o AttemptOutcome) TryLater() bool {
	return o.NoAnswer || o.StatusCode == 429 || (o.StatusCode >= 500 && o.StatusCode <= 599)
}

// ExtendedStep is what follows an attempt in (or entering) extended redelivery.
type ExtendedStep struct {
	// Status is delivered or failed.
	Status Status
	// Redelivery is the schedule's state when another extended attempt follows; nil when
	// none does (delivered, a final answer, or the schedule used up).
	Redelivery *Redelivery
}

// NextExtendedStep applies extended redelivery after an attempt that ended at now.
// made counts the extended attempts made including this one: 0 for the last attempt of
// Ottu's round (which NextStep failed), 1 for the first extended attempt, and so on.
// An accepted answer delivers; an outcome that TryLater mends is tried again after
// schedule[made], changed by jitter (nil: none), unless the schedule is used up. A
// Retry-After the merchant sent with a 429 or 503 replaces the wait, bounded below by
// half the schedule's wait and above by MaxRetryAfter; jitter does not apply to it.
func NextExtendedStep(schedule []time.Duration, made int, o AttemptOutcome, now time.Time, jitter func(time.Duration) time.Duration) ExtendedStep {
	switch {
	case o.Delivered():
		return ExtendedStep{Status: StatusDelivered}
	case !o.TryLater() || made >= len(schedule):
		return ExtendedStep{Status: StatusFailed}
	}
	wait := schedule[made]
	switch {
	case o.RetryAfter > 0 && (o.StatusCode == 429 || o.StatusCode == 503):
		wait = min(max(o.RetryAfter, wait/2), MaxRetryAfter)
	case jitter != nil:
		wait = jitter(wait)
	}
	next := now.Add(wait)
	end := next
	for _, d := range schedule[made+1:] {
		end = end.Add(d)
	}
	return ExtendedStep{Status: StatusFailed, Redelivery: &Redelivery{NextAttemptAt: next, EndsAt: end, AttemptsMade: made}}
}

// RedeliveryStore is what extended redelivery and ordering per transaction need of the
// store (part of Store).
type RedeliveryStore interface {
	// RecordExtendedAttempt stores an attempt whose outcome extended redelivery decided
	// (NextExtendedStep), if owner still holds the notification's lease (else
	// ErrLeaseLost, nothing stored). entering says the attempt was the last of Ottu's
	// round (the notification is pending); otherwise it was an extended attempt (the
	// notification is failed, in extended redelivery). The notification takes
	// step.Status; with step.Redelivery it stays in extended redelivery, due at its
	// NextAttemptAt, else it leaves it. Either way its lease is released: the sweep claims
	// it when it is due.
	RecordExtendedAttempt(ctx context.Context, id string, a Attempt, step ExtendedStep, entering bool, owner string) error
	// OrderBlocker returns the id, and next attempt's time, of an older notification of
	// the same transaction (session id) to the same URL that notification id must wait
	// for ("" when none). Older: created earlier, or at the same time with a smaller id.
	// A notification in its first round of Ottu's attempts (pending, never re-sent, not
	// deciding a redirect) waits for an older one still in its first round; one in
	// extended redelivery waits for an older one in extended redelivery (the one due
	// last is returned). Others never wait.
	OrderBlocker(ctx context.Context, id string) (blocker string, next time.Time, err error)
	// PostponeRedelivery moves the next extended attempt of a notification in extended
	// redelivery to at (and the schedule's end to at if it was earlier), if owner holds
	// its lease (else ErrLeaseLost), and releases the lease: it goes after an older one.
	PostponeRedelivery(ctx context.Context, id, owner string, at time.Time) error
}

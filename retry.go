package payhook

import "time"

// AttemptOutcome classifies how an attempt ended.
type AttemptOutcome struct {
	// StatusCode is the merchant's answer, 0 when there was none.
	StatusCode int
	// NoAnswer is set when the attempt timed out or the connection failed (refused,
	// reset, DNS): a merchant who did not answer. Such an attempt may be retried.
	NoAnswer bool
	// RetryAfter is the wait the merchant asked for in a Retry-After header with a 429 or
	// a 503 (0 when none); only extended redelivery honours it (NextExtendedStep).
	RetryAfter time.Duration
}

// Delivered reports whether the merchant accepted the notification (200 or 201).
func (o AttemptOutcome) Delivered() bool { return o.StatusCode == 200 || o.StatusCode == 201 }

// Step is what a delivery does after an attempt.
type Step struct {
	// Status is the notification's status after the attempt: delivered, failed, or
	// pending when another attempt follows.
	Status Status
	// RetryAfter is the wait before the next attempt when Status is pending.
	RetryAfter time.Duration
}

// NextStep applies SPEC §4: 200 and 201 deliver; any other answer fails at once; only an
// attempt without an answer is retried, while retries are on and attempts remain
// (attempts counts those made in this round, including this one), after the constant
// backoff.
func NextStep(s Settings, attempts int, o AttemptOutcome) Step {
	switch {
	case o.Delivered():
		return Step{Status: StatusDelivered}
	case !o.NoAnswer:
		return Step{Status: StatusFailed}
	case attempts >= s.MaxAttempts():
		return Step{Status: StatusFailed}
	}
	return Step{Status: StatusPending, RetryAfter: s.Backoff()}
}

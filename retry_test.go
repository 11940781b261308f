package payhook

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestNextStep(t *testing.T) {
	t.Parallel()
	def := DefaultSettings("pu9MpX3yPR") // 3 attempts, 5 s backoff
	noRetry := def
	noRetry.RetryEnabled = false
	scaled := def
	scaled.Retries, scaled.BackoffFactor = 5, 0.25
	zeroBackoff := def
	zeroBackoff.BackoffFactor = 0

	noAnswer := AttemptOutcome{NoAnswer: true}
	tests := []struct {
		name     string
		s        Settings
		attempts int
		o        AttemptOutcome
		want     Step
	}{
		{"200 delivers", def, 1, AttemptOutcome{StatusCode: 200}, Step{Status: StatusDelivered}},
		{"201 delivers", def, 1, AttemptOutcome{StatusCode: 201}, Step{Status: StatusDelivered}},
		{"200 on the last attempt delivers", def, 3, AttemptOutcome{StatusCode: 200}, Step{Status: StatusDelivered}},
		{"202 fails without retry", def, 1, AttemptOutcome{StatusCode: 202}, Step{Status: StatusFailed}},
		{"204 fails without retry", def, 1, AttemptOutcome{StatusCode: 204}, Step{Status: StatusFailed}},
		{"301 fails without retry", def, 1, AttemptOutcome{StatusCode: 301}, Step{Status: StatusFailed}},
		{"302 fails without retry", def, 1, AttemptOutcome{StatusCode: 302}, Step{Status: StatusFailed}},
		{"400 fails without retry", def, 1, AttemptOutcome{StatusCode: 400}, Step{Status: StatusFailed}},
		{"500 fails without retry", def, 1, AttemptOutcome{StatusCode: 500}, Step{Status: StatusFailed}},
		{"503 fails without retry", def, 1, AttemptOutcome{StatusCode: 503}, Step{Status: StatusFailed}},
		{"refused by the guard (no answer flag off) fails", def, 1, AttemptOutcome{}, Step{Status: StatusFailed}},
		{"no answer, first of 3: retry after backoff", def, 1, noAnswer, Step{Status: StatusPending, RetryAfter: 5 * time.Second}},
		{"no answer, second of 3: retry after backoff", def, 2, noAnswer, Step{Status: StatusPending, RetryAfter: 5 * time.Second}},
		{"no answer, third of 3: failed", def, 3, noAnswer, Step{Status: StatusFailed}},
		{"no answer beyond the limit: failed", def, 4, noAnswer, Step{Status: StatusFailed}},
		{"retry off: one attempt only", noRetry, 1, noAnswer, Step{Status: StatusFailed}},
		{"retry off: 200 still delivers", noRetry, 1, AttemptOutcome{StatusCode: 200}, Step{Status: StatusDelivered}},
		{"decimal backoff", scaled, 4, noAnswer, Step{Status: StatusPending, RetryAfter: 250 * time.Millisecond}},
		{"decimal backoff, last attempt", scaled, 5, noAnswer, Step{Status: StatusFailed}},
		{"zero backoff retries at once", zeroBackoff, 1, noAnswer, Step{Status: StatusPending}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, NextStep(tt.s, tt.attempts, tt.o))
		})
	}
}

// TestNextStep_BackoffIsConstant replays a whole round: every wait is the same, and the
// round ends after exactly MaxAttempts attempts.
func TestNextStep_BackoffIsConstant(t *testing.T) {
	t.Parallel()
	for retries := 1; retries <= 10; retries++ {
		s := DefaultSettings("pu9MpX3yPR")
		s.Retries, s.BackoffFactor = retries, 1.5
		attempts := 0
		for {
			attempts++
			step := NextStep(s, attempts, AttemptOutcome{NoAnswer: true})
			if step.Status != StatusPending {
				require.Equal(t, StatusFailed, step.Status)
				break
			}
			require.Equal(t, 1500*time.Millisecond, step.RetryAfter, "attempt %d of %d", attempts, retries)
		}
		require.Equal(t, retries, attempts)
	}
}

func TestSettings_MaxAttemptsAndWorstCase(t *testing.T) {
	t.Parallel()
	s := DefaultSettings("pu9MpX3yPR")
	require.Equal(t, 3, s.MaxAttempts())
	// The documents' worst case: 3 × 15 s + 2 × 5 s.
	require.Equal(t, 55*time.Second, s.WorstCase())
	s.RetryEnabled = false
	require.Equal(t, 1, s.MaxAttempts())
	require.Equal(t, 15*time.Second, s.WorstCase())
	s.RetryEnabled, s.Retries = true, 0
	require.Equal(t, 1, s.MaxAttempts(), "no retries configured still means one attempt")
	s.Retries, s.Timeout, s.BackoffFactor = 3, 0.5, 0.2
	require.Equal(t, 500*time.Millisecond, s.TimeoutDuration())
	require.Equal(t, 200*time.Millisecond, s.Backoff())
}

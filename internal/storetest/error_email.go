package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook"
)

// window is the flood-control interval of the error-email tests.
const window = 10 * time.Minute

// newFailure returns a failure to url at base plus d, with a detail of its own.
func newFailure(url string, d time.Duration) payhook.ErrorEmailFailure {
	return payhook.ErrorEmailFailure{URL: url, NotificationID: payhook.NewNotificationID(), At: base.Add(d),
		Detail: fmt.Appendf(nil, `{"url":%q,"at":%q}`, url, base.Add(d).Format(time.RFC3339Nano))}
}

// admit records f at its own time and returns the email queued for it (nil: held back).
func admit(t *testing.T, s payhook.Store, f payhook.ErrorEmailFailure) *payhook.ErrorEmail {
	t.Helper()
	e, err := s.AdmitErrorEmail(t.Context(), f, window, f.At)
	require.NoError(t, err)
	return e
}

// leaseAll leases every email due at now for owner and returns them.
func leaseAll(t *testing.T, s payhook.Store, owner string, now time.Time) []*payhook.ErrorEmail {
	t.Helper()
	list, err := s.LeaseErrorEmails(t.Context(), now, payhook.Lease{Owner: owner, Until: now.Add(time.Minute)}, 1000)
	require.NoError(t, err)
	return list
}

// requireErrorEmailStats requires the store's counts.
func requireErrorEmailStats(t *testing.T, s payhook.Store, queued, heldBack int) {
	t.Helper()
	st, err := s.ErrorEmailStats(t.Context())
	require.NoError(t, err)
	require.Equal(t, payhook.ErrorEmailStats{Queued: queued, HeldBack: heldBack}, st)
}

// requireSameFailure requires a failure as it was recorded.
func requireSameFailure(t *testing.T, want, got payhook.ErrorEmailFailure) {
	t.Helper()
	require.Equal(t, want.URL, got.URL)
	require.Equal(t, want.NotificationID, got.NotificationID)
	requireSameTime(t, want.At, got.At, "failure time")
	require.Equal(t, string(want.Detail), string(got.Detail), "the detail is kept as it is")
}

func emailIDs(list []*payhook.ErrorEmail) []int64 {
	out := make([]int64, len(list))
	for i, e := range list {
		out[i] = e.ID
	}
	return out
}

// testErrorEmailStore checks payhook.ErrorEmailStore: flood control per URL, the queue of
// error emails with its leases, and their concurrency contracts.
func testErrorEmailStore(t *testing.T, h Harness) {
	const a, b = "https://a.example/hook", "https://b.example/hook"

	t.Run("AdmitQueuesTheFirstAndHoldsBackTheRestOfTheWindow", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		requireErrorEmailStats(t, s, 0, 0)
		first := newFailure(a, 0)
		e := admit(t, s, first)
		require.NotNil(t, e, "no window yet: queued")
		firstID := e.ID
		require.NotZero(t, e.ID)
		require.Equal(t, a, e.URL)
		requireSameFailure(t, first, e.Failure)
		require.Zero(t, e.Held)
		require.True(t, e.HeldSince.IsZero())
		require.False(t, e.Summary)
		require.Empty(t, e.To)
		require.Zero(t, e.Tries)
		requireSameTime(t, base, e.Due, "due at once")

		require.Nil(t, admit(t, s, newFailure(a, time.Minute)), "within the window: held back")
		latest := newFailure(a, 9*time.Minute+59*time.Second)
		require.Nil(t, admit(t, s, latest))
		other := admit(t, s, newFailure(b, time.Minute))
		require.NotNil(t, other, "another URL has its own window")
		requireErrorEmailStats(t, s, 2, 2)

		next := newFailure(a, window)
		e = admit(t, s, next)
		require.NotNil(t, e, "the window passed: queued")
		requireSameFailure(t, next, e.Failure)
		require.Equal(t, 2, e.Held, "sums up the held-back failures")
		requireSameTime(t, base.Add(time.Minute), e.HeldSince, "since the first held back")
		requireErrorEmailStats(t, s, 3, 0)
		require.Nil(t, admit(t, s, newFailure(a, window+time.Second)), "a new window started with it")

		got := leaseAll(t, s, "worker", base.Add(window))
		require.Equal(t, []int64{firstID, other.ID, e.ID}, emailIDs(got), "leased in due order")
	})

	t.Run("AdmitOfConcurrentFailuresQueuesOneEmailPerWindow", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		stores := processes(t, h, s)
		queued := make([]*payhook.ErrorEmail, racers)
		errs := concurrently(racers, func(i int) error {
			var err error
			queued[i], err = pick(stores, i).AdmitErrorEmail(t.Context(), newFailure(a, time.Duration(i)*time.Millisecond), window, base)
			return err
		})
		n := 0
		for i, err := range errs {
			require.NoError(t, err)
			if queued[i] != nil {
				n++
				require.Zero(t, queued[i].Held)
			}
		}
		require.Equal(t, 1, n, "one email per URL per window, whichever process")
		requireErrorEmailStats(t, s, 1, racers-1)
	})

	t.Run("SummariesSumUpOnlyAfterTheWindowOncePerURL", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		admit(t, s, newFailure(a, 0))
		admit(t, s, newFailure(b, 0))
		admit(t, s, newFailure(b, 2*time.Minute)) // b's held back first
		admit(t, s, newFailure(a, 3*time.Minute))
		latest := newFailure(a, 5*time.Minute)
		admit(t, s, latest)
		const idle = "https://idle.example/hook"
		admit(t, s, newFailure(idle, 0))
		for _, e := range leaseAll(t, s, "worker", base) {
			require.NoError(t, s.FinishErrorEmail(ctx, e.ID, "worker", payhook.ErrorEmailOutcome{}))
		}
		requireErrorEmailStats(t, s, 0, 3)

		n, err := s.QueueErrorEmailSummaries(ctx, window, base.Add(window-time.Second))
		require.NoError(t, err)
		require.Zero(t, n, "no window has passed")

		n, err = s.QueueErrorEmailSummaries(ctx, window, base.Add(window))
		require.NoError(t, err)
		require.Equal(t, 2, n, "a and b; not the idle URL")
		requireErrorEmailStats(t, s, 2, 0)
		got := leaseAll(t, s, "worker", base.Add(window))
		require.Len(t, got, 2)
		require.Equal(t, b, got[0].URL, "oldest held-back failure first")
		require.Equal(t, a, got[1].URL)
		sum := got[1]
		require.True(t, sum.Summary)
		require.Equal(t, 2, sum.Held)
		require.Equal(t, 2, sum.Failures())
		requireSameTime(t, base.Add(3*time.Minute), sum.HeldSince, "since the first held back")
		requireSameFailure(t, latest, sum.Failure)
		requireSameTime(t, base.Add(window), sum.Due, "due at once")

		require.Nil(t, admit(t, s, newFailure(a, window+time.Minute)), "the summary started a new window")
		n, err = s.QueueErrorEmailSummaries(ctx, window, base.Add(window+time.Minute))
		require.NoError(t, err)
		require.Zero(t, n, "summed up once")
		require.NotNil(t, admit(t, s, newFailure(idle, window+time.Minute)), "the idle URL's window is over")
	})

	t.Run("SummariesOfConcurrentCallersTakeEachURLOnce", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		stores := processes(t, h, s)
		const urls = 5
		for u := range urls {
			url := fmt.Sprintf("https://%d.example/hook", u)
			admit(t, s, newFailure(url, 0))
			admit(t, s, newFailure(url, time.Minute))
			admit(t, s, newFailure(url, 2*time.Minute))
		}
		counts := make([]int, racers)
		errs := concurrently(racers, func(i int) error {
			var err error
			counts[i], err = pick(stores, i).QueueErrorEmailSummaries(t.Context(), window, base.Add(window))
			return err
		})
		total := 0
		for i, err := range errs {
			require.NoError(t, err)
			total += counts[i]
		}
		require.Equal(t, urls, total, "one summary per URL in all")
		requireErrorEmailStats(t, s, 2*urls, 0)
		seen := map[string]bool{}
		for _, e := range leaseAll(t, s, "worker", base.Add(window)) {
			if e.Summary {
				require.False(t, seen[e.URL], "two summaries of %s", e.URL)
				seen[e.URL] = true
				require.Equal(t, 2, e.Held)
			}
		}
		require.Len(t, seen, urls)
	})

	t.Run("LeaseTakesTheEarliestDueUpToLimit", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		// Queued 3, 1 and 2 minutes before base, and one a minute after.
		var emails []*payhook.ErrorEmail
		for i, d := range []time.Duration{-3 * time.Minute, -time.Minute, -2 * time.Minute, time.Minute} {
			emails = append(emails, admit(t, s, newFailure(fmt.Sprintf("https://%d.example/hook", i), d)))
		}
		l := payhook.Lease{Owner: "worker-a", Until: base.Add(time.Minute)}
		got, err := s.LeaseErrorEmails(ctx, base, l, 2)
		require.NoError(t, err)
		require.Equal(t, []int64{emails[0].ID, emails[2].ID}, emailIDs(got), "the two earliest due, in order")
		require.Equal(t, "worker-a", got[0].Lease.Owner)
		requireSameTime(t, l.Until, got[0].Lease.Until, "lease")
		requireSameFailure(t, emails[0].Failure, got[0].Failure)
		got, err = s.LeaseErrorEmails(ctx, base, lease("worker-b", time.Minute), 10)
		require.NoError(t, err)
		require.Equal(t, []int64{emails[1].ID}, emailIDs(got), "the rest of the due ones; never one not due yet")
		got, err = s.LeaseErrorEmails(ctx, base, lease("worker-c", time.Minute), 10)
		require.NoError(t, err)
		require.Empty(t, got)
		requireErrorEmailStats(t, s, 4, 0)
	})

	t.Run("LeaseSkipsUnexpiredLeasesAndTakesExpiredOnes", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		e := admit(t, s, newFailure(a, 0))
		got, err := s.LeaseErrorEmails(ctx, base, lease("worker-a", time.Minute), 10)
		require.NoError(t, err)
		require.Len(t, got, 1)
		got, err = s.LeaseErrorEmails(ctx, base.Add(30*time.Second), lease("worker-b", 5*time.Minute), 10)
		require.NoError(t, err)
		require.Empty(t, got, "worker-a's lease has not expired")
		got, err = s.LeaseErrorEmails(ctx, base.Add(2*time.Minute), lease("worker-b", 5*time.Minute), 10)
		require.NoError(t, err)
		require.Equal(t, []int64{e.ID}, emailIDs(got), "worker-a's lease expired: worker-b takes it")
		require.Equal(t, "worker-b", got[0].Lease.Owner)
	})

	t.Run("LeaseNeverHandsOneEmailToTwoCallers", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		stores := processes(t, h, s)
		const emails = 60
		for i := range emails {
			admit(t, s, newFailure(fmt.Sprintf("https://%d.example/hook", i), -time.Duration(i%7)*time.Second))
		}
		var mu sync.Mutex
		owner := map[int64]int{}
		errs := concurrently(racers, func(i int) error {
			for {
				list, err := pick(stores, i).LeaseErrorEmails(t.Context(), base, lease(fmt.Sprintf("worker-%d", i), time.Hour), 3)
				if err != nil || len(list) == 0 {
					return err
				}
				mu.Lock()
				for _, e := range list {
					if j, dup := owner[e.ID]; dup {
						mu.Unlock()
						return fmt.Errorf("error email %d handed to worker-%d and worker-%d", e.ID, j, i)
					}
					owner[e.ID] = i
				}
				mu.Unlock()
			}
		})
		for _, err := range errs {
			require.NoError(t, err)
		}
		require.Len(t, owner, emails, "every due email leased")
		for id, i := range owner {
			require.NoError(t, s.FinishErrorEmail(t.Context(), id, fmt.Sprintf("worker-%d", i), payhook.ErrorEmailOutcome{}),
				"worker-%d holds the lease it was handed", i)
		}
		requireErrorEmailStats(t, s, 0, 0)
	})

	t.Run("FinishSentRemovesIt", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		admit(t, s, newFailure(a, 0))
		e := leaseAll(t, s, "worker", base)[0]
		require.NoError(t, s.FinishErrorEmail(t.Context(), e.ID, "worker", payhook.ErrorEmailOutcome{}))
		requireErrorEmailStats(t, s, 0, 0)
		require.Empty(t, leaseAll(t, s, "worker", base.Add(time.Hour)))
		require.ErrorIs(t, s.FinishErrorEmail(t.Context(), e.ID, "worker", payhook.ErrorEmailOutcome{}), payhook.ErrLeaseLost,
			"finished once")
	})

	t.Run("FinishRetryKeepsItUnleasedUntilDue", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		queued := admit(t, s, newFailure(a, 0))
		e := leaseAll(t, s, "worker-a", base)[0]
		o := payhook.ErrorEmailOutcome{RetryAt: base.Add(time.Minute), To: []string{"dev@example.com", "ops@example.com"},
			Tries: 1, Sent: 1, LastError: "dial tcp: connection refused"}
		require.NoError(t, s.FinishErrorEmail(ctx, e.ID, "worker-a", o))
		requireErrorEmailStats(t, s, 1, 0)
		require.Empty(t, leaseAll(t, s, "worker-b", base.Add(59*time.Second)), "not due yet")
		got := leaseAll(t, s, "worker-b", base.Add(time.Minute))
		require.Len(t, got, 1, "due again, and no longer leased: another worker takes it")
		r := got[0]
		require.Equal(t, e.ID, r.ID)
		require.Equal(t, o.To, r.To)
		require.Equal(t, 1, r.Tries)
		require.Equal(t, 1, r.Sent)
		require.Equal(t, o.LastError, r.LastError)
		requireSameTime(t, o.RetryAt, r.Due, "due")
		requireSameFailure(t, queued.Failure, r.Failure)
		require.ErrorIs(t, s.FinishErrorEmail(ctx, e.ID, "worker-a", payhook.ErrorEmailOutcome{}), payhook.ErrLeaseLost,
			"worker-a gave it back")
	})

	t.Run("FinishGiveBackCountsItsFailuresIntoTheWindow", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		admit(t, s, newFailure(a, 0))
		admit(t, s, newFailure(a, time.Minute))
		admit(t, s, newFailure(a, 2*time.Minute))
		e := admit(t, s, newFailure(a, window)) // sums up 2
		require.Equal(t, 2, e.Held)
		for _, l := range leaseAll(t, s, "worker", base) {
			require.NoError(t, s.FinishErrorEmail(ctx, l.ID, "worker", payhook.ErrorEmailOutcome{}))
		}
		later := newFailure(a, window+time.Minute)
		require.Nil(t, admit(t, s, later))

		got := leaseAll(t, s, "worker", base.Add(window))
		require.Equal(t, []int64{e.ID}, emailIDs(got))
		require.NoError(t, s.FinishErrorEmail(ctx, e.ID, "worker", payhook.ErrorEmailOutcome{GiveBack: true}))
		requireErrorEmailStats(t, s, 0, 4)

		n, err := s.QueueErrorEmailSummaries(ctx, window, base.Add(2*window))
		require.NoError(t, err)
		require.Equal(t, 1, n)
		sum := leaseAll(t, s, "worker", base.Add(2*window))[0]
		require.Equal(t, 4, sum.Held, "the 3 failures nobody heard of and the one held back since")
		requireSameTime(t, base.Add(time.Minute), sum.HeldSince, "since the first of them")
		requireSameFailure(t, later, sum.Failure)
	})

	t.Run("FinishGiveBackWithoutAWindowSumsUpAtTheNextLook", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		f := newFailure(a, 0)
		e := admit(t, s, f)
		n, err := s.QueueErrorEmailSummaries(ctx, window, base.Add(window)) // forgets a's idle window
		require.NoError(t, err)
		require.Zero(t, n)
		leaseAll(t, s, "worker", base.Add(window))
		require.NoError(t, s.FinishErrorEmail(ctx, e.ID, "worker", payhook.ErrorEmailOutcome{GiveBack: true}))
		requireErrorEmailStats(t, s, 0, 1)
		n, err = s.QueueErrorEmailSummaries(ctx, window, base.Add(window))
		require.NoError(t, err)
		require.Equal(t, 1, n)
		sum := leaseAll(t, s, "worker", base.Add(window))[0]
		require.Equal(t, 1, sum.Held)
		requireSameFailure(t, f, sum.Failure)
	})

	t.Run("FinishOnlyByTheLeaseOwner", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		e := admit(t, s, newFailure(a, 0))
		require.ErrorIs(t, s.FinishErrorEmail(ctx, e.ID, "worker-a", payhook.ErrorEmailOutcome{}), payhook.ErrLeaseLost,
			"not leased")
		require.ErrorIs(t, s.FinishErrorEmail(ctx, e.ID, "", payhook.ErrorEmailOutcome{}), payhook.ErrLeaseLost,
			"nobody owns it")
		require.Len(t, leaseAll(t, s, "worker-a", base), 1)
		require.ErrorIs(t, s.FinishErrorEmail(ctx, e.ID, "worker-b", payhook.ErrorEmailOutcome{}), payhook.ErrLeaseLost)

		// worker-a's lease expires and worker-b takes the email over: worker-a's result
		// is no longer recorded, not even a give-back.
		require.Len(t, leaseAll(t, s, "worker-b", base.Add(2*time.Minute)), 1)
		err := s.FinishErrorEmail(ctx, e.ID, "worker-a", payhook.ErrorEmailOutcome{GiveBack: true})
		require.ErrorIs(t, err, payhook.ErrLeaseLost)
		require.True(t, errors.Is(err, payhook.ErrLeaseLost))
		requireErrorEmailStats(t, s, 1, 0)
		require.NoError(t, s.FinishErrorEmail(ctx, e.ID, "worker-b", payhook.ErrorEmailOutcome{}))
		requireErrorEmailStats(t, s, 0, 0)
	})

	t.Run("FinishGiveBackLosesNoConcurrentFailure", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		stores := processes(t, h, s)
		e := admit(t, s, newFailure(a, 0))
		leaseAll(t, s, "worker", base)
		// While racers-1 failures to a are held back, the email is given back.
		errs := concurrently(racers, func(i int) error {
			if i == 0 {
				return pick(stores, i).FinishErrorEmail(t.Context(), e.ID, "worker", payhook.ErrorEmailOutcome{GiveBack: true})
			}
			got, err := pick(stores, i).AdmitErrorEmail(t.Context(), newFailure(a, time.Duration(i)*time.Second), window,
				base.Add(time.Minute))
			if err == nil && got != nil {
				err = fmt.Errorf("failure %d queued within the window", i)
			}
			return err
		})
		for _, err := range errs {
			require.NoError(t, err)
		}
		requireErrorEmailStats(t, s, 0, racers)
	})
}

package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook"
)

func testUnacknowledged(t *testing.T, h Harness) {
	t.Run("EverythingButDeliveredAndNotSentInTheWindowOldestFirst", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		const a, b = "https://a.example/hook", "https://b.example/hook"
		session := payhook.NewSessionID()
		note := func(url string, created time.Duration) *payhook.Notification {
			return newNotification(session, url, base.Add(created))
		}
		pending, failed, delivered := note(a, time.Minute), note(a, 2*time.Minute), note(a, 3*time.Minute)
		failedB := note(b, 4*time.Minute)
		retried := note(a, 5*time.Minute) // failed, re-sent, still pending
		notSent := note(a, 6*time.Minute)
		notSent.Status, notSent.Reason = payhook.StatusNotSent, payhook.ReasonStateFiltered
		noURL := finished(note("", 7*time.Minute), payhook.StatusNotSent)
		before, atEnd := note(a, -time.Second), note(a, time.Hour) // outside [base, base+1h)
		l := lease("worker", 48*time.Hour)
		require.NoError(t, s.AddNotifications(ctx, []*payhook.Notification{atEnd, retried, pending, failed, delivered,
			failedB, notSent, noURL, before}, l))
		record := func(n *payhook.Notification, code int, st payhook.Status) {
			t.Helper()
			require.NoError(t, s.RecordAttempt(ctx, n.ID, newAttempt(n.CreatedAt.Add(time.Second), code), st, time.Time{}, l))
		}
		record(failed, 500, payhook.StatusFailed)
		record(delivered, 200, payhook.StatusDelivered)
		record(failedB, 0, payhook.StatusFailed)
		record(retried, 503, payhook.StatusFailed)
		_, ok, err := s.Resend(ctx, retried.ID, base.Add(10*time.Minute), l)
		require.NoError(t, err)
		require.True(t, ok)

		window := payhook.ReconciliationFilter{Since: base, Until: base.Add(time.Hour)}
		got, total, err := s.Unacknowledged(ctx, window)
		require.NoError(t, err)
		require.Equal(t, 4, total)
		require.Equal(t, ids([]*payhook.Notification{pending, failed, failedB, retried}), ids(got))
		require.Equal(t, payhook.StatusFailed, got[1].Status)
		require.Equal(t, b, got[2].URL)
		require.Equal(t, payhook.StatusPending, got[3].Status)

		window.URL = a
		got, total, err = s.Unacknowledged(ctx, window)
		require.NoError(t, err)
		require.Equal(t, 3, total)
		require.Equal(t, ids([]*payhook.Notification{pending, failed, retried}), ids(got))

		window.Limit, window.Offset = 2, 1
		got, total, err = s.Unacknowledged(ctx, window)
		require.NoError(t, err)
		require.Equal(t, 3, total, "the count ignores the page")
		require.Equal(t, ids([]*payhook.Notification{failed, retried}), ids(got))

		got, total, err = s.Unacknowledged(ctx, payhook.ReconciliationFilter{URL: "https://c.example/", Since: base, Until: base.Add(time.Hour)})
		require.NoError(t, err)
		require.Zero(t, total)
		require.NotNil(t, got)
		require.Empty(t, got)
	})
}

func testDeliveredIDs(t *testing.T, h Harness) {
	t.Run("ByTheDayOfTheAcceptedAttemptOncePerDayDigestsExcluded", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		const a, b = "https://a.example/hook", "https://b.example/hook"
		day := time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)
		session := payhook.NewSessionID()
		l := lease("worker", 96*time.Hour)
		var all []*payhook.Notification
		note := func(url string, created time.Time) *payhook.Notification {
			n := newNotification(session, url, created)
			all = append(all, n)
			return n
		}
		// Created the day before, delivered on the day after a retry: counts on the day.
		late := note(a, day.Add(-time.Minute))
		onDay := note(a, day.Add(time.Hour))
		// Delivered on the day, re-sent and delivered again on the day: once.
		twice := note(a, day.Add(2*time.Hour))
		// Delivered at the day's last instant, and one at the next day's first.
		lastInstant := note(a, day.Add(23*time.Hour))
		nextDay := note(a, day.Add(23*time.Hour))
		failed := note(a, day.Add(3*time.Hour))
		toB := note(b, day.Add(4*time.Hour))
		digest := note(a, day.Add(5*time.Hour))
		digest.Kind = payhook.KindDigest
		require.NoError(t, s.AddNotifications(ctx, all, l))

		record := func(n *payhook.Notification, at time.Time, code int, st payhook.Status) {
			t.Helper()
			require.NoError(t, s.RecordAttempt(ctx, n.ID, newAttempt(at, code), st, time.Time{}, l))
		}
		record(late, day.Add(-30*time.Second), 0, payhook.StatusPending)
		record(late, day.Add(10*time.Second), 201, payhook.StatusDelivered)
		record(onDay, day.Add(time.Hour), 200, payhook.StatusDelivered)
		record(twice, day.Add(2*time.Hour), 200, payhook.StatusDelivered)
		_, _, err := s.Resend(ctx, twice.ID, day.Add(3*time.Hour), l)
		require.NoError(t, err)
		record(twice, day.Add(3*time.Hour), 200, payhook.StatusDelivered)
		record(lastInstant, day.Add(24*time.Hour-time.Microsecond), 200, payhook.StatusDelivered)
		record(nextDay, day.Add(24*time.Hour), 200, payhook.StatusDelivered)
		record(failed, day.Add(3*time.Hour), 500, payhook.StatusFailed)
		record(toB, day.Add(4*time.Hour), 201, payhook.StatusDelivered)
		record(digest, day.Add(5*time.Hour), 200, payhook.StatusDelivered)

		got, err := s.DeliveredIDs(ctx, "", day, day.Add(24*time.Hour))
		require.NoError(t, err)
		want := map[string][]string{a: inByteOrder(late.ID, onDay.ID, twice.ID, lastInstant.ID), b: {toB.ID}}
		require.Equal(t, want, got)

		got, err = s.DeliveredIDs(ctx, a, day, day.Add(24*time.Hour))
		require.NoError(t, err)
		require.Equal(t, map[string][]string{a: want[a]}, got)

		got, err = s.DeliveredIDs(ctx, a, day.Add(24*time.Hour), day.Add(48*time.Hour))
		require.NoError(t, err)
		require.Equal(t, map[string][]string{a: {nextDay.ID}}, got)

		got, err = s.DeliveredIDs(ctx, "https://c.example/", day, day.Add(24*time.Hour))
		require.NoError(t, err)
		require.Empty(t, got)
	})
}

func testAddDigestNotification(t *testing.T, h Harness) {
	t.Run("OnceByIdAcrossConcurrentCallers", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		stores := processes(t, h, s)
		ctx := t.Context()
		const callers = 8
		added := make([]bool, callers)
		errs := make([]error, callers)
		var wg sync.WaitGroup
		for i := range callers {
			wg.Go(func() {
				n := newNotification("", "https://a.example/hook", base)
				n.ID, n.Kind = "digest_same_for_all", payhook.KindDigest
				n.Body = fmt.Appendf(nil, `{"caller":%d}`, i)
				added[i], errs[i] = pick(stores, i).AddDigestNotification(ctx, n, lease(fmt.Sprintf("process-%d", i), time.Minute))
			})
		}
		wg.Wait()
		winners := 0
		for i := range callers {
			require.NoError(t, errs[i])
			if added[i] {
				winners++
			}
		}
		require.Equal(t, 1, winners, "one caller stores the digest")
		got, err := s.Notification(ctx, "digest_same_for_all")
		require.NoError(t, err)
		require.Equal(t, payhook.KindDigest, got.Kind)
		require.Equal(t, payhook.StatusPending, got.Status)

		// Stored pending and leased: the engine of the caller that stored it sends it.
		claimed, err := s.ClaimDue(ctx, base, lease("other", time.Minute), 10)
		require.NoError(t, err)
		require.Empty(t, claimed, "the storing caller holds the lease")
	})
}

// inByteOrder returns ids in byte order.
func inByteOrder(ids ...string) []string {
	out := append([]string(nil), ids...)
	slices.Sort(out)
	return out
}

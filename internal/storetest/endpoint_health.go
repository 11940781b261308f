package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook"
)

var healthPolicy = payhook.EndpointPolicy{FailingAfter: time.Minute, DisableAfter: time.Hour}

func observe(t *testing.T, s payhook.Store, url string, failed bool, at time.Duration) (payhook.EndpointHealth, payhook.EndpointChange) {
	t.Helper()
	h, change, err := s.ObserveEndpoint(t.Context(), url, failed, base.Add(at), healthPolicy)
	require.NoError(t, err)
	return h, change
}

func testObserveEndpoint(t *testing.T, h Harness) {
	t.Run("FailingThenDisabledThenRecovered", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		const url = "https://merchant.example/down"
		_, err := s.EndpointHealth(t.Context(), url)
		require.Equal(t, payhook.ENOTFOUND, payhook.ErrorCode(err), "unknown before its first outcome")

		got, change := observe(t, s, url, true, 0)
		require.Equal(t, payhook.EndpointHealthy, got.State)
		require.Empty(t, change)
		require.Equal(t, base, utc(got.FirstFailureAt))
		_, change = observe(t, s, url, true, 59*time.Second)
		require.Empty(t, change, "a minute has not passed")
		got, change = observe(t, s, url, true, time.Minute)
		require.Equal(t, payhook.EndpointBecameFailing, change)
		require.Equal(t, payhook.EndpointFailing, got.State)
		_, change = observe(t, s, url, true, 2*time.Minute)
		require.Empty(t, change, "failing is told once")
		got, change = observe(t, s, url, true, time.Hour)
		require.Equal(t, payhook.EndpointBecameDisabled, change)

		stored, err := s.EndpointHealth(t.Context(), url)
		require.NoError(t, err)
		require.Equal(t, payhook.EndpointDisabled, stored.State)
		require.Equal(t, base, utc(stored.FirstFailureAt))
		require.Equal(t, base.Add(time.Hour), utc(stored.LastFailureAt))
		require.Equal(t, base.Add(time.Hour), utc(stored.ChangedAt))
		require.Equal(t, got.State, stored.State)

		_, change = observe(t, s, url, false, -30*time.Second)
		require.Empty(t, change, "a success older than the streak does not clear it")
		got, change = observe(t, s, url, false, 2*time.Hour)
		require.Equal(t, payhook.EndpointRecovered, change)
		require.Equal(t, payhook.EndpointHealthy, got.State)
		require.True(t, got.FirstFailureAt.IsZero())
		stored, err = s.EndpointHealth(t.Context(), url)
		require.NoError(t, err)
		require.Equal(t, payhook.EndpointHealthy, stored.State)
		require.Equal(t, base.Add(2*time.Hour), utc(stored.LastSuccessAt))

		unhealthy, err := s.UnhealthyEndpoints(t.Context())
		require.NoError(t, err)
		require.Empty(t, unhealthy)
	})

	t.Run("ConcurrentFailuresTellOneChange", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		stores := processes(t, h, s)
		const url = "https://merchant.example/racing"
		observe(t, s, url, true, 0)
		changes := make([]payhook.EndpointChange, racers)
		errs := concurrently(racers, func(i int) error {
			var err error
			_, changes[i], err = pick(stores, i).ObserveEndpoint(t.Context(), url, true, base.Add(2*time.Minute+time.Duration(i)), healthPolicy)
			return err
		})
		told := 0
		for i, err := range errs {
			require.NoError(t, err)
			if changes[i] != "" {
				require.Equal(t, payhook.EndpointBecameFailing, changes[i])
				told++
			}
		}
		require.Equal(t, 1, told)
		list, err := s.UnhealthyEndpoints(t.Context())
		require.NoError(t, err)
		require.Len(t, list, 1)
		require.Equal(t, payhook.EndpointFailing, list[0].State)
	})
}

func testHeldNotifications(t *testing.T, h Harness) {
	s := h.Open(t)
	ctx := t.Context()
	const url = "https://merchant.example/webhook" // addPending's
	observe(t, s, url, true, 0)
	_, change := observe(t, s, url, true, time.Hour)
	require.Equal(t, payhook.EndpointBecameDisabled, change)

	notes := addPending(t, s, 5, func(i int) time.Time { return base.Add(time.Duration(i) * time.Second) })
	claimed, err := s.ClaimDue(ctx, base.Add(time.Minute), lease("a", time.Minute), 10)
	require.NoError(t, err)
	require.Len(t, claimed, 5)
	require.ErrorIs(t, s.HoldNotification(ctx, notes[0].ID, "b", base.Add(time.Minute)), payhook.ErrLeaseLost, "b does not lease it")
	for _, n := range notes {
		require.NoError(t, s.HoldNotification(ctx, n.ID, "a", base.Add(time.Minute)))
	}
	require.ErrorIs(t, s.HoldNotification(ctx, notes[0].ID, "a", base.Add(time.Minute)), payhook.ErrLeaseLost, "held already")

	got, err := s.Notification(ctx, notes[0].ID)
	require.NoError(t, err)
	require.Equal(t, payhook.StatusHeld, got.Status)
	list, total, err := s.ListNotifications(ctx, payhook.NotificationFilter{Status: payhook.StatusHeld})
	require.NoError(t, err)
	require.Equal(t, 5, total)
	require.Len(t, list, 5)
	again, err := s.ClaimDue(ctx, base.Add(time.Hour), lease("c", time.Minute), 10)
	require.NoError(t, err)
	require.Empty(t, again, "held notifications are not due")
	stats, err := s.DeliveryStats(ctx, base.Add(time.Hour))
	require.NoError(t, err)
	require.Zero(t, stats.Pending)

	released, err := s.ReleaseHeld(ctx, url, base.Add(2*time.Hour), lease("a", 3*time.Hour), 10)
	require.NoError(t, err)
	require.Empty(t, released, "a disabled URL's held notifications stay held")
	resuming, err := s.ResumingEndpoints(ctx)
	require.NoError(t, err)
	require.Empty(t, resuming)
	eh, err := s.EndpointHealth(ctx, url)
	require.NoError(t, err)
	require.Equal(t, 5, eh.Held)

	_, err = s.ResumeEndpoint(ctx, "https://merchant.example/unknown", "ops@shop.example", base)
	require.Equal(t, payhook.ENOTFOUND, payhook.ErrorCode(err))
	resumedAt := base.Add(2 * time.Hour)
	eh, err = s.ResumeEndpoint(ctx, url, "ops@shop.example", resumedAt)
	require.NoError(t, err)
	require.Equal(t, payhook.EndpointHealthy, eh.State)
	require.True(t, eh.FirstFailureAt.IsZero())
	require.Equal(t, resumedAt, utc(eh.ResumedAt))
	require.Equal(t, "ops@shop.example", eh.ResumedBy)
	require.Equal(t, 5, eh.Held)
	require.Zero(t, eh.Released)
	resuming, err = s.ResumingEndpoints(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{url}, resuming)

	first, err := s.ReleaseHeld(ctx, url, resumedAt.Add(time.Second), lease("a", 3*time.Hour), 3)
	require.NoError(t, err)
	require.Equal(t, []string{notes[0].ID, notes[1].ID, notes[2].ID}, ids(first), "oldest first")
	require.Equal(t, payhook.StatusPending, first[0].Status)
	rest, err := s.ReleaseHeld(ctx, url, resumedAt.Add(2*time.Second), lease("a", 3*time.Hour), 3)
	require.NoError(t, err)
	require.Equal(t, []string{notes[3].ID, notes[4].ID}, ids(rest))
	require.NoError(t, s.RecordAttempt(ctx, notes[0].ID, newAttempt(resumedAt.Add(3*time.Second), 200), payhook.StatusDelivered, time.Time{}, lease("a", time.Hour)))
	require.NoError(t, s.RecordAttempt(ctx, notes[1].ID, newAttempt(resumedAt.Add(3*time.Second), 500), payhook.StatusFailed, time.Time{}, lease("a", time.Hour)))

	eh, err = s.EndpointHealth(ctx, url)
	require.NoError(t, err)
	require.Equal(t, []int{0, 5, 1, 1}, []int{eh.Held, eh.Released, eh.Delivered, eh.Failed})
	all, err := s.ListEndpointHealth(ctx)
	require.NoError(t, err)
	require.Len(t, all, 1)
	require.Equal(t, eh.Released, all[0].Released)
	resuming, err = s.ResumingEndpoints(ctx)
	require.NoError(t, err)
	require.Empty(t, resuming, "nothing held any more")
}

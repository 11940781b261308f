package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook"
)

// extendedStep is a step that keeps n in extended redelivery, due at next.
func extendedStep(next time.Time, made int) payhook.ExtendedStep {
	return payhook.ExtendedStep{Status: payhook.StatusFailed,
		Redelivery: &payhook.Redelivery{NextAttemptAt: next, EndsAt: next.Add(time.Hour), AttemptsMade: made}}
}

// inExtended stores a pending extended notification, claims it as owner and records the
// last attempt of Ottu's round as entering extended redelivery, due at next.
func inExtended(t *testing.T, s payhook.Store, owner string, next time.Time) *payhook.Notification {
	t.Helper()
	ctx := t.Context()
	n := newNotification(payhook.NewSessionID(), "https://merchant.example/webhook", base)
	n.Extended = true
	require.NoError(t, s.AddNotifications(ctx, []*payhook.Notification{n}, lease(owner, time.Minute)))
	require.NoError(t, s.RecordExtendedAttempt(ctx, n.ID, newAttempt(base, 503), extendedStep(next, 0), true, owner))
	return n
}

func testRecordExtendedAttempt(t *testing.T, h Harness) {
	t.Run("EntersRunsAndEndsDelivered", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		next := base.Add(time.Minute)
		n := inExtended(t, s, "worker-a", next)

		got, err := s.Notification(ctx, n.ID)
		require.NoError(t, err)
		require.True(t, got.Extended)
		require.Equal(t, payhook.StatusFailed, got.Status, "failed as Ottu says, while the schedule runs")
		require.NotNil(t, got.Redelivery)
		requireSameTime(t, next, got.Redelivery.NextAttemptAt, "next extended attempt")
		requireSameTime(t, next.Add(time.Hour), got.Redelivery.EndsAt, "end of the schedule")
		require.Equal(t, 0, got.Redelivery.AttemptsMade)
		require.Len(t, got.Attempts, 1)

		claimed, err := s.ClaimDue(ctx, next.Add(-time.Second), lease("worker-b", 2*time.Minute), 10)
		require.NoError(t, err)
		require.Empty(t, claimed, "not due yet; the lease was released")
		claimed, err = s.ClaimDue(ctx, next, lease("worker-b", 2*time.Minute), 10)
		require.NoError(t, err)
		require.Equal(t, []string{n.ID}, ids(claimed), "due: any process claims it (after a restart too)")
		require.Equal(t, payhook.StatusFailed, claimed[0].Status)
		require.NotNil(t, claimed[0].Redelivery)

		again := next.Add(5 * time.Minute)
		require.NoError(t, s.RecordExtendedAttempt(ctx, n.ID, newAttempt(next, 0), extendedStep(again, 1), false, "worker-b"))
		got, err = s.Notification(ctx, n.ID)
		require.NoError(t, err)
		require.Equal(t, 1, got.Redelivery.AttemptsMade)
		requireSameTime(t, again, got.Redelivery.NextAttemptAt, "next extended attempt")

		claimed, err = s.ClaimDue(ctx, again, lease("worker-c", 10*time.Minute), 10)
		require.NoError(t, err)
		require.Len(t, claimed, 1)
		require.NoError(t, s.RecordExtendedAttempt(ctx, n.ID, newAttempt(again, 200), payhook.ExtendedStep{Status: payhook.StatusDelivered}, false, "worker-c"))
		got, err = s.Notification(ctx, n.ID)
		require.NoError(t, err)
		require.Equal(t, payhook.StatusDelivered, got.Status)
		require.Nil(t, got.Redelivery)
		require.Len(t, got.Attempts, 3)
		require.Equal(t, []int{1, 2, 3}, []int{got.Attempts[0].Number, got.Attempts[1].Number, got.Attempts[2].Number})
		claimed, err = s.ClaimDue(ctx, again.Add(time.Hour), lease("worker-d", time.Hour), 10)
		require.NoError(t, err)
		require.Empty(t, claimed, "delivered: nothing more")
	})

	t.Run("TheScheduleUsedUpFailsForGood", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		n := inExtended(t, s, "worker-a", base.Add(time.Minute))
		_, err := s.ClaimDue(ctx, base.Add(time.Minute), lease("worker-a", time.Hour), 10)
		require.NoError(t, err)
		require.NoError(t, s.RecordExtendedAttempt(ctx, n.ID, newAttempt(base.Add(time.Minute), 0), payhook.ExtendedStep{Status: payhook.StatusFailed}, false, "worker-a"))
		got, err := s.Notification(ctx, n.ID)
		require.NoError(t, err)
		require.Equal(t, payhook.StatusFailed, got.Status)
		require.Nil(t, got.Redelivery)
		claimed, err := s.ClaimDue(ctx, base.Add(48*time.Hour), lease("worker-b", time.Hour), 10)
		require.NoError(t, err)
		require.Empty(t, claimed)
	})

	t.Run("FencedByTheLeaseAndTheState", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		n := newNotification(payhook.NewSessionID(), "https://merchant.example/webhook", base)
		require.NoError(t, s.AddNotifications(ctx, []*payhook.Notification{n}, lease("worker-a", time.Minute)))
		require.ErrorIs(t, s.RecordExtendedAttempt(ctx, n.ID, newAttempt(base, 0), extendedStep(base.Add(time.Minute), 0), true, "worker-b"),
			payhook.ErrLeaseLost, "another owner's lease")
		require.ErrorIs(t, s.RecordExtendedAttempt(ctx, n.ID, newAttempt(base, 0), extendedStep(base.Add(time.Minute), 1), false, "worker-a"),
			payhook.ErrLeaseLost, "not in extended redelivery")

		x := inExtended(t, s, "worker-a", base.Add(time.Minute))
		_, err := s.ClaimDue(ctx, base.Add(time.Minute), lease("worker-a", time.Hour), 10)
		require.NoError(t, err)
		require.ErrorIs(t, s.RecordExtendedAttempt(ctx, x.ID, newAttempt(base, 0), extendedStep(base.Add(time.Hour), 0), true, "worker-a"),
			payhook.ErrLeaseLost, "no longer in Ottu's round")
		got, err := s.Notification(ctx, n.ID)
		require.NoError(t, err)
		require.Empty(t, got.Attempts, "nothing stored")
	})

	t.Run("LeasesRenewAndReleaseInExtendedRedelivery", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		n := inExtended(t, s, "worker-a", base)
		claimed, err := s.ClaimDue(ctx, base, lease("worker-b", time.Minute), 10)
		require.NoError(t, err)
		require.Len(t, claimed, 1)
		held, err := s.RenewLeases(ctx, "worker-b", base.Add(time.Hour))
		require.NoError(t, err)
		require.Equal(t, 1, held)
		claimed, err = s.ClaimDue(ctx, base.Add(30*time.Minute), lease("worker-c", time.Minute), 10)
		require.NoError(t, err)
		require.Empty(t, claimed, "renewed")
		require.NoError(t, s.ReleaseLease(ctx, n.ID, "worker-b"))
		claimed, err = s.ClaimDue(ctx, base.Add(time.Second), lease("worker-c", time.Minute), 10)
		require.NoError(t, err)
		require.Equal(t, []string{n.ID}, ids(claimed), "released")
	})

	t.Run("ResendStopsTheSchedule", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		one := inExtended(t, s, "worker-a", base.Add(time.Hour))
		two := inExtended(t, s, "worker-a", base.Add(time.Hour))
		got, ok, err := s.Resend(ctx, one.ID, base, lease("worker-b", time.Minute))
		require.NoError(t, err)
		require.True(t, ok)
		require.Nil(t, got.Redelivery)
		n, err := s.ResendMatching(ctx, payhook.NotificationFilter{SessionID: two.SessionID}, base)
		require.NoError(t, err)
		require.Equal(t, 1, n)
		for _, id := range []string{one.ID, two.ID} {
			got, err := s.Notification(ctx, id)
			require.NoError(t, err)
			require.Equal(t, payhook.StatusPending, got.Status, "a fresh round of Ottu's attempts")
			require.Nil(t, got.Redelivery, "the schedule stopped")
			require.Equal(t, 0, got.RoundAttempts)
		}
	})
}

func testOrderBlocker(t *testing.T, h Harness) {
	const url = "https://merchant.example/webhook"
	// older returns a payment notification (deciding) and a newer operation notification
	// of one session to url, stored pending.
	pair := func(t *testing.T, s payhook.Store) (older, newer *payhook.Notification) {
		t.Helper()
		session := payhook.NewSessionID()
		older = newNotification(session, url, base)
		newer = newNotification(session, url, base.Add(time.Millisecond))
		newer.Kind, newer.RedirectDecider = payhook.KindOperation, false
		require.NoError(t, s.AddNotifications(t.Context(), []*payhook.Notification{newer, older}, payhook.Lease{}))
		return older, newer
	}
	blocker := func(t *testing.T, s payhook.Store, id string) string {
		t.Helper()
		b, _, err := s.OrderBlocker(t.Context(), id)
		require.NoError(t, err)
		return b
	}

	t.Run("AnOlderOneInItsFirstRoundBlocks", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		older, newer := pair(t, s)
		require.Equal(t, older.ID, blocker(t, s, newer.ID))
		require.Empty(t, blocker(t, s, older.ID), "the older one waits for nothing")

		_, err := s.ClaimDue(ctx, base, lease("worker-a", time.Minute), 1)
		require.NoError(t, err)
		require.NoError(t, s.RecordAttempt(ctx, older.ID, newAttempt(base, 0), payhook.StatusPending, base.Add(time.Second), lease("worker-a", time.Minute)))
		require.Equal(t, older.ID, blocker(t, s, newer.ID), "still within Ottu's attempts")

		require.NoError(t, s.RecordAttempt(ctx, older.ID, newAttempt(base, 500), payhook.StatusFailed, time.Time{}, lease("worker-a", time.Minute)))
		require.Empty(t, blocker(t, s, newer.ID), "the older one used its attempts up")
	})

	t.Run("InExtendedRedeliveryTheNewerFollowsTheOlder", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		older, newer := pair(t, s)
		_, err := s.ClaimDue(ctx, base, lease("worker-a", time.Minute), 1)
		require.NoError(t, err)
		olderNext := base.Add(time.Minute)
		require.NoError(t, s.RecordExtendedAttempt(ctx, older.ID, newAttempt(base, 0), extendedStep(olderNext, 0), true, "worker-a"))
		require.Empty(t, blocker(t, s, newer.ID), "the older one used Ottu's attempts up: the newer one goes on")

		_, err = s.ClaimDue(ctx, base.Add(time.Second), lease("worker-a", time.Minute), 1)
		require.NoError(t, err)
		require.NoError(t, s.RecordExtendedAttempt(ctx, newer.ID, newAttempt(base, 0), extendedStep(base.Add(50*time.Second), 0), true, "worker-a"))
		id, next, err := s.OrderBlocker(ctx, newer.ID)
		require.NoError(t, err)
		require.Equal(t, older.ID, id, "both in extended redelivery: the newer one follows the older one")
		requireSameTime(t, olderNext, next, "the older one's next attempt")
		require.Empty(t, blocker(t, s, older.ID))

		// the newer one, claimed when due, is postponed to after the older one
		claimed, err := s.ClaimDue(ctx, base.Add(50*time.Second), lease("worker-b", time.Minute), 10)
		require.NoError(t, err)
		require.Equal(t, []string{newer.ID}, ids(claimed))
		require.ErrorIs(t, s.PostponeRedelivery(ctx, newer.ID, "worker-c", olderNext.Add(time.Second)), payhook.ErrLeaseLost)
		require.NoError(t, s.PostponeRedelivery(ctx, newer.ID, "worker-b", olderNext.Add(time.Second)))
		got, err := s.Notification(ctx, newer.ID)
		require.NoError(t, err)
		requireSameTime(t, olderNext.Add(time.Second), got.Redelivery.NextAttemptAt, "postponed")
		require.Equal(t, 0, got.Redelivery.AttemptsMade, "no attempt made")
		require.Len(t, got.Attempts, 1)
		claimed, err = s.ClaimDue(ctx, olderNext, lease("worker-b", time.Minute), 10)
		require.NoError(t, err)
		require.Equal(t, []string{older.ID}, ids(claimed), "released, due after the older one")

		require.NoError(t, s.RecordExtendedAttempt(ctx, older.ID, newAttempt(olderNext, 200), payhook.ExtendedStep{Status: payhook.StatusDelivered}, false, "worker-b"))
		require.Empty(t, blocker(t, s, newer.ID), "the older one was delivered")
	})

	t.Run("OnlyTheSameSessionAndURL", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		session := payhook.NewSessionID()
		older := newNotification(session, url, base)
		otherURL := newNotification(session, "https://other.example/webhook", base.Add(time.Millisecond))
		otherSession := newNotification(payhook.NewSessionID(), url, base.Add(time.Millisecond))
		for _, n := range []*payhook.Notification{otherURL, otherSession} {
			n.RedirectDecider = false
		}
		require.NoError(t, s.AddNotifications(ctx, []*payhook.Notification{older, otherURL, otherSession}, payhook.Lease{}))
		require.Empty(t, blocker(t, s, otherURL.ID))
		require.Empty(t, blocker(t, s, otherSession.ID))
	})

	t.Run("TheRedirectDeciderNeverWaits", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		older, newer := pair(t, s)
		// a newer deciding notification (a later checkout try) behind the older one
		n := newNotification(older.SessionID, url, base.Add(time.Second))
		require.NoError(t, s.AddNotifications(t.Context(), []*payhook.Notification{n}, payhook.Lease{}))
		require.Empty(t, blocker(t, s, n.ID))
		require.Equal(t, older.ID, blocker(t, s, newer.ID))
	})

	t.Run("ReSendsNeitherWaitNorBlock", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		session := payhook.NewSessionID()
		old := finished(newNotification(session, url, base), payhook.StatusFailed)
		mid := newNotification(session, url, base.Add(time.Millisecond))
		mid.RedirectDecider = false
		require.NoError(t, s.AddNotifications(ctx, []*payhook.Notification{old, mid}, payhook.Lease{}))
		// old is failed with an attempt recorded the way the engine does
		require.Empty(t, blocker(t, s, mid.ID), "a failed older one does not block")

		// re-send an old one that was attempted: it does not block the newer one
		resent := newNotification(session, url, base.Add(-time.Second))
		resent.RedirectDecider = false
		require.NoError(t, s.AddNotifications(ctx, []*payhook.Notification{resent}, lease("worker-a", time.Minute)))
		require.NoError(t, s.RecordAttempt(ctx, resent.ID, newAttempt(base, 404), payhook.StatusFailed, time.Time{}, lease("worker-a", time.Minute)))
		_, ok, err := s.Resend(ctx, resent.ID, base, lease("worker-a", time.Minute))
		require.NoError(t, err)
		require.True(t, ok)
		require.Empty(t, blocker(t, s, mid.ID), "a manual re-send of an old notification does not hold newer ones")

		// and a re-sent newer one does not wait behind an older one in its first round
		first := newNotification(session, "https://third.example/", base)
		later := newNotification(session, "https://third.example/", base.Add(time.Millisecond))
		later.RedirectDecider = false
		require.NoError(t, s.AddNotifications(ctx, []*payhook.Notification{first, later}, lease("worker-a", time.Minute)))
		require.Equal(t, first.ID, blocker(t, s, later.ID))
		require.NoError(t, s.RecordAttempt(ctx, later.ID, newAttempt(base, 404), payhook.StatusFailed, time.Time{}, lease("worker-a", time.Minute)))
		_, _, err = s.Resend(ctx, later.ID, base, lease("worker-a", time.Minute))
		require.NoError(t, err)
		require.Empty(t, blocker(t, s, later.ID), "a re-send is an operator's choice: it does not wait")
	})
}

func testPluginSettingsExtendedRedelivery(t *testing.T, h Harness) {
	s := h.Open(t)
	ctx := t.Context()
	yes, no := true, false
	for _, v := range []*bool{&yes, &no, nil} {
		ps := payhook.PluginSettings{Plugin: payhook.PluginECommerce, WebhookURL: "https://merchant.example/shop",
			States: []payhook.State{}, ExtendedRedelivery: v}
		require.NoError(t, s.PutPluginSettings(ctx, ps))
		got, ok, err := s.PluginSettings(ctx, payhook.PluginECommerce)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, ps, got)
		list, err := s.ListPluginSettings(ctx)
		require.NoError(t, err)
		require.Equal(t, []payhook.PluginSettings{ps}, list)
	}
}

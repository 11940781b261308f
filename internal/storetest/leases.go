package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook"
)

func testClaimDue(t *testing.T, h Harness) {
	t.Run("LeasesTheOldestDueUpToLimit", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		// Due 3, 5, 1, 4 and 2 minutes before base: stored out of order.
		ago := []int{3, 5, 1, 4, 2}
		notes := addPending(t, s, len(ago), func(i int) time.Time { return base.Add(-time.Duration(ago[i]) * time.Minute) })
		addPending(t, s, 1, dueAt(base.Add(time.Minute)))

		got, err := s.ClaimDue(ctx, base, lease("worker-a", time.Minute), 3)
		require.NoError(t, err)
		require.ElementsMatch(t, []string{notes[1].ID, notes[3].ID, notes[0].ID}, ids(got), "the three oldest due")
		got, err = s.ClaimDue(ctx, base, lease("worker-b", time.Minute), 10)
		require.NoError(t, err)
		require.ElementsMatch(t, []string{notes[4].ID, notes[2].ID}, ids(got), "the rest of the due ones")
		got, err = s.ClaimDue(ctx, base, lease("worker-c", time.Minute), 10)
		require.NoError(t, err)
		require.Empty(t, got)
	})

	t.Run("TakesWhatIsDueAtNowAndLeavesTheRest", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		session := payhook.NewSessionID()
		dueNow := newNotification(session, "https://merchant.example/a", base)
		notYet := newNotification(session, "https://merchant.example/a", base.Add(time.Second))
		var done []*payhook.Notification
		for _, st := range []payhook.Status{payhook.StatusDelivered, payhook.StatusFailed, payhook.StatusNotSent} {
			done = append(done, finished(newNotification(session, "https://merchant.example/a", base.Add(-time.Hour)), st))
		}
		require.NoError(t, s.AddNotifications(ctx, append([]*payhook.Notification{dueNow, notYet}, done...), payhook.Lease{}))

		got, err := s.ClaimDue(ctx, base, lease("worker-a", time.Minute), 10)
		require.NoError(t, err)
		require.Equal(t, []string{dueNow.ID}, ids(got), "due at now; never one not due yet or finished")
		require.Equal(t, dueNow.Body, got[0].Body)
		require.Equal(t, dueNow.URL, got[0].URL)
		require.Equal(t, payhook.StatusPending, got[0].Status)
	})

	t.Run("SkipsUnexpiredLeasesAndTakesExpiredOnes", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		notes := addPending(t, s, 2, dueAt(base))
		got, err := s.ClaimDue(ctx, base, lease("worker-a", time.Minute), 10)
		require.NoError(t, err)
		require.Len(t, got, 2)

		got, err = s.ClaimDue(ctx, base.Add(30*time.Second), lease("worker-b", 5*time.Minute), 10)
		require.NoError(t, err)
		require.Empty(t, got, "worker-a's lease has not expired")
		got, err = s.ClaimDue(ctx, base.Add(2*time.Minute), lease("worker-b", 5*time.Minute), 10)
		require.NoError(t, err)
		require.ElementsMatch(t, ids(notes), ids(got), "worker-a's lease expired: worker-b takes them")
	})

	t.Run("ReturnsThemWithoutAttempts", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		n := addPending(t, s, 1, dueAt(base))[0]
		l := lease("worker-a", 10*time.Second)
		_, err := s.ClaimDue(ctx, base, l, 1)
		require.NoError(t, err)
		require.NoError(t, s.RecordAttempt(ctx, n.ID, newAttempt(base, 503), payhook.StatusPending, base.Add(5*time.Second), l))

		got, err := s.ClaimDue(ctx, base.Add(time.Minute), lease("worker-b", 2*time.Minute), 10)
		require.NoError(t, err)
		require.Len(t, got, 1)
		require.Empty(t, got[0].Attempts)
		require.Equal(t, 1, got[0].RoundAttempts)
		requireSameTime(t, base.Add(5*time.Second), got[0].NextAttemptAt, "NextAttemptAt")
		require.Equal(t, n.Body, got[0].Body)
	})

	t.Run("ConcurrentCallersNeverShareANotification", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		requireClaimedOnce(t, []payhook.Store{s})
	})

	t.Run("ConcurrentProcessesNeverShareANotification", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		requireClaimedOnce(t, []payhook.Store{s, secondProcess(t, h, s)})
	})
}

// requireClaimedOnce stores pending notifications and has racers workers, spread over the
// stores, claim them a few at a time until none is left: every notification must go to
// exactly one worker, and each worker must hold the leases it was told it got.
func requireClaimedOnce(t *testing.T, stores []payhook.Store) {
	t.Helper()
	ctx := t.Context()
	notes := addPending(t, stores[0], 240, func(i int) time.Time { return base.Add(-time.Duration(i%17) * time.Second) })
	var mu sync.Mutex
	owner := map[string]int{}
	got := make([]int, racers)
	errs := concurrently(racers, func(i int) error {
		for {
			list, err := pick(stores, i).ClaimDue(ctx, base, lease(fmt.Sprintf("worker-%d", i), time.Hour), 7)
			if err != nil || len(list) == 0 {
				return err
			}
			mu.Lock()
			for _, n := range list {
				if j, dup := owner[n.ID]; dup {
					mu.Unlock()
					return fmt.Errorf("notification %s handed to worker-%d and worker-%d", n.ID, j, i)
				}
				owner[n.ID] = i
			}
			got[i] += len(list)
			mu.Unlock()
		}
	})
	for _, err := range errs {
		require.NoError(t, err)
	}
	require.Len(t, owner, len(notes), "every due notification claimed")
	for i := range racers {
		held, err := stores[0].RenewLeases(ctx, fmt.Sprintf("worker-%d", i), base.Add(2*time.Hour))
		require.NoError(t, err)
		require.Equal(t, got[i], held, "worker-%d holds the leases it was handed", i)
	}
}

func testRecordAttempt(t *testing.T, h Harness) {
	t.Run("StoresTheAttemptOfTheLeaseOwner", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		n := addPending(t, s, 1, dueAt(base))[0]
		l := lease("worker-a", time.Minute)
		_, err := s.ClaimDue(ctx, base, l, 1)
		require.NoError(t, err)
		a := newAttempt(base, 500)
		renewed := lease("worker-a", 2*time.Minute)
		require.NoError(t, s.RecordAttempt(ctx, n.ID, a, payhook.StatusPending, base.Add(10*time.Second), renewed))

		got, err := s.Notification(ctx, n.ID)
		require.NoError(t, err)
		require.Equal(t, payhook.StatusPending, got.Status)
		require.Equal(t, 1, got.RoundAttempts)
		requireSameTime(t, base.Add(10*time.Second), got.NextAttemptAt, "due again at next")
		requireSameAttempts(t, []payhook.Attempt{a}, got.Attempts)

		claimed, err := s.ClaimDue(ctx, base.Add(90*time.Second), lease("worker-b", 5*time.Minute), 10)
		require.NoError(t, err)
		require.Empty(t, claimed, "still leased until lease.Until")
		claimed, err = s.ClaimDue(ctx, base.Add(3*time.Minute), lease("worker-b", 5*time.Minute), 10)
		require.NoError(t, err)
		require.Equal(t, []string{n.ID}, ids(claimed))
	})

	t.Run("FinalStatusEndsTheLease", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		for _, st := range []payhook.Status{payhook.StatusDelivered, payhook.StatusFailed} {
			n := addPending(t, s, 1, dueAt(base))[0]
			l := lease("worker-a", time.Minute)
			_, err := s.ClaimDue(ctx, base, l, 1)
			require.NoError(t, err)
			require.NoError(t, s.RecordAttempt(ctx, n.ID, newAttempt(base, 410), st, time.Time{}, l))

			got, err := s.Notification(ctx, n.ID)
			require.NoError(t, err)
			require.Equal(t, st, got.Status)
			held, err := s.RenewLeases(ctx, "worker-a", base.Add(time.Hour))
			require.NoError(t, err)
			require.Zero(t, held, "a finished notification is not leased")
			claimed, err := s.ClaimDue(ctx, base.Add(time.Hour), lease("worker-b", time.Hour), 10)
			require.NoError(t, err)
			require.Empty(t, claimed)

			require.ErrorIs(t, s.RecordAttempt(ctx, n.ID, newAttempt(base, 200), payhook.StatusDelivered, time.Time{}, l), payhook.ErrLeaseLost,
				"no attempt after the final one")
			got, err = s.Notification(ctx, n.ID)
			require.NoError(t, err)
			require.Len(t, got.Attempts, 1)
			require.Equal(t, st, got.Status)
		}
	})

	t.Run("LeaseLostToAnotherOwnerStoresNothing", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		n := addPending(t, s, 1, dueAt(base))[0]
		a := lease("worker-a", time.Minute)
		_, err := s.ClaimDue(ctx, base, a, 1)
		require.NoError(t, err)
		b := lease("worker-b", 5*time.Minute)
		claimed, err := s.ClaimDue(ctx, base.Add(2*time.Minute), b, 1)
		require.NoError(t, err)
		require.Len(t, claimed, 1, "worker-a stalled past its lease: worker-b takes it")

		err = s.RecordAttempt(ctx, n.ID, newAttempt(base.Add(3*time.Minute), 200), payhook.StatusDelivered, time.Time{}, a)
		require.ErrorIs(t, err, payhook.ErrLeaseLost)
		got, err := s.Notification(ctx, n.ID)
		require.NoError(t, err)
		require.Equal(t, payhook.StatusPending, got.Status)
		require.Empty(t, got.Attempts, "the lost attempt is not recorded")
		require.Zero(t, got.RoundAttempts)

		require.NoError(t, s.RecordAttempt(ctx, n.ID, newAttempt(base.Add(3*time.Minute), 200), payhook.StatusDelivered, time.Time{}, b))
	})

	t.Run("ReleasedLeaseIsLost", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		n := addPending(t, s, 1, dueAt(base))[0]
		l := lease("worker-a", time.Minute)
		_, err := s.ClaimDue(ctx, base, l, 1)
		require.NoError(t, err)
		require.NoError(t, s.ReleaseLease(ctx, n.ID, "worker-a"))
		require.ErrorIs(t, s.RecordAttempt(ctx, n.ID, newAttempt(base, 200), payhook.StatusDelivered, time.Time{}, l), payhook.ErrLeaseLost)
	})

	t.Run("NeverLeasedIsLost", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		n := addPending(t, s, 1, dueAt(base))[0]
		err := s.RecordAttempt(t.Context(), n.ID, newAttempt(base, 200), payhook.StatusDelivered, time.Time{}, lease("worker-a", time.Minute))
		require.ErrorIs(t, err, payhook.ErrLeaseLost)
	})
}

func testRenewLeases(t *testing.T, h Harness) {
	t.Run("ExtendsEveryLeaseOfTheOwnerOnly", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		addPending(t, s, 5, dueAt(base))
		a, b := lease("worker-a", time.Minute), lease("worker-b", time.Minute)
		ofA, err := s.ClaimDue(ctx, base, a, 3)
		require.NoError(t, err)
		ofB, err := s.ClaimDue(ctx, base, b, 3)
		require.NoError(t, err)
		require.Len(t, ofB, 2)
		require.NoError(t, s.RecordAttempt(ctx, ofA[0].ID, newAttempt(base, 200), payhook.StatusDelivered, time.Time{}, a))

		held, err := s.RenewLeases(ctx, "worker-a", base.Add(10*time.Minute))
		require.NoError(t, err)
		require.Equal(t, 2, held, "the pending ones worker-a holds")
		claimed, err := s.ClaimDue(ctx, base.Add(5*time.Minute), lease("worker-c", time.Hour), 10)
		require.NoError(t, err)
		require.ElementsMatch(t, ids(ofB), ids(claimed), "worker-b's leases expired, worker-a's were renewed")

		held, err = s.RenewLeases(ctx, "worker-nobody", base.Add(time.Hour))
		require.NoError(t, err)
		require.Zero(t, held)
	})
}

func testReleaseLease(t *testing.T, h Harness) {
	t.Run("GivesBackTheOwnersLease", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		n := addPending(t, s, 1, dueAt(base))[0]
		_, err := s.ClaimDue(ctx, base, lease("worker-a", time.Hour), 1)
		require.NoError(t, err)
		require.NoError(t, s.ReleaseLease(ctx, n.ID, "worker-a"))
		got, err := s.ClaimDue(ctx, base, lease("worker-b", time.Hour), 10)
		require.NoError(t, err)
		require.Equal(t, []string{n.ID}, ids(got), "due again for anyone")
		held, err := s.RenewLeases(ctx, "worker-a", base.Add(2*time.Hour))
		require.NoError(t, err)
		require.Zero(t, held)
	})

	t.Run("LeavesAnotherOwnersLeaseAlone", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		n := addPending(t, s, 1, dueAt(base))[0]
		l := lease("worker-a", time.Hour)
		_, err := s.ClaimDue(ctx, base, l, 1)
		require.NoError(t, err)
		require.NoError(t, s.ReleaseLease(ctx, n.ID, "worker-b"))
		got, err := s.ClaimDue(ctx, base, lease("worker-c", time.Hour), 10)
		require.NoError(t, err)
		require.Empty(t, got, "worker-a still holds it")
		require.NoError(t, s.RecordAttempt(ctx, n.ID, newAttempt(base, 200), payhook.StatusDelivered, time.Time{}, l))
	})

	t.Run("LeavesAFinishedNotificationAlone", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		n := addPending(t, s, 1, dueAt(base))[0]
		l := lease("worker-a", time.Hour)
		_, err := s.ClaimDue(ctx, base, l, 1)
		require.NoError(t, err)
		require.NoError(t, s.RecordAttempt(ctx, n.ID, newAttempt(base, 200), payhook.StatusDelivered, time.Time{}, l))
		require.NoError(t, s.ReleaseLease(ctx, n.ID, "worker-a"))
		got, err := s.Notification(ctx, n.ID)
		require.NoError(t, err)
		require.Equal(t, payhook.StatusDelivered, got.Status)
	})
}

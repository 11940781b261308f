package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook"
)

// requireUnchanged requires that a refused change stored nothing: the transaction is
// still want (and has no children) and its session has no notifications.
func requireUnchanged(t *testing.T, s payhook.Store, want *payhook.Transaction) {
	t.Helper()
	got, err := s.Transaction(t.Context(), want.SessionID)
	require.NoError(t, err)
	requireSameTransaction(t, want, got)
	require.Empty(t, got.Children, "a refused change stored its child")
	_, n, err := s.ListNotifications(t.Context(), payhook.NotificationFilter{SessionID: want.SessionID})
	require.NoError(t, err)
	require.Zero(t, n, "a refused change stored its notifications")
}

func testApplyChange(t *testing.T, h Harness) {
	t.Run("StoresTheTransactionAndItsNotifications", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		txn := createTransaction(t, s, payhook.StateCreated)
		ch := paidChange(txn, "worker-a", base.Add(time.Minute))
		notSent := finished(noteOf(ch.Transaction, "", ch.Transaction.UpdatedAt), payhook.StatusNotSent)
		ch.Notifications = append(ch.Notifications, notSent)
		require.NoError(t, s.ApplyChange(ctx, ch))

		got, err := s.Transaction(ctx, txn.SessionID)
		require.NoError(t, err)
		requireSameTransaction(t, ch.Transaction, got)
		for _, n := range ch.Notifications {
			stored, err := s.Notification(ctx, n.ID)
			require.NoError(t, err)
			requireSameNotification(t, n, stored)
		}
	})

	t.Run("AppliesFromAnyOfTheFromStates", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		txn := createTransaction(t, s, payhook.StatePending)
		ch := paidChange(txn, "worker-a", base.Add(time.Minute))
		ch.From = []payhook.State{payhook.StateCreated, payhook.StatePending, payhook.StateAttempted}
		require.NoError(t, s.ApplyChange(t.Context(), ch))
	})

	t.Run("RefusesWhenTheStateLeftFromAndStoresNothing", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		txn := createTransaction(t, s, payhook.StatePaid)
		ch := refundChange(txn, 1000, base.Add(time.Minute))
		ch.From, ch.Unchanged = []payhook.State{payhook.StateAuthorized}, time.Time{}
		ch.Tracking = answered(newTracking("key-from", txn.SessionID), `{}`)
		requireChanged(t, s.ApplyChange(t.Context(), ch))
		requireUnchanged(t, s, txn)
		_, err := s.Tracking(t.Context(), "key-from")
		requireCode(t, payhook.ENOTFOUND, err)
	})

	t.Run("RefusesAChangeOverAnUnseenOne", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		txn := createTransaction(t, s, payhook.StatePaid)
		first := refundChange(txn, 1000, base.Add(time.Minute))
		require.NoError(t, s.ApplyChange(ctx, first))
		second := refundChange(txn, 2000, base.Add(2*time.Minute)) // made from the same read
		requireChanged(t, s.ApplyChange(ctx, second))

		got, err := s.Transaction(ctx, txn.SessionID)
		require.NoError(t, err)
		requireSameTransaction(t, first.Transaction, got)
		require.Len(t, got.Children, 1, "only the first change's child")
		_, n, err := s.ListNotifications(ctx, payhook.NotificationFilter{SessionID: txn.SessionID})
		require.NoError(t, err)
		require.Equal(t, 1, n, "only the first change's notification")
	})

	t.Run("OneOfConcurrentChangesFromOneReadWins", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		txn := createTransaction(t, s, payhook.StatePaid)
		stores := processes(t, h, s)
		changes := make([]payhook.Change, racers)
		for i := range changes {
			changes[i] = refundChange(txn, payhook.Amount(100*(i+1)), base.Add(time.Duration(i+1)*time.Millisecond))
		}
		errs := concurrently(racers, func(i int) error { return pick(stores, i).ApplyChange(ctx, changes[i]) })
		w := requireOneWinner(t, errs, isChanged)

		got, err := s.Transaction(ctx, txn.SessionID)
		require.NoError(t, err)
		requireSameTransaction(t, changes[w].Transaction, got)
		require.Len(t, got.Children, 1)
		require.Equal(t, changes[w].Child.SessionID, got.Children[0].SessionID)
		list, n, err := s.ListNotifications(ctx, payhook.NotificationFilter{SessionID: txn.SessionID})
		require.NoError(t, err)
		require.Equal(t, 1, n)
		require.Equal(t, changes[w].Notifications[0].ID, list[0].ID)
	})

	t.Run("LeasesPendingNotificationsToTheCaller", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		txn := createTransaction(t, s, payhook.StateCreated)
		ch := paidChange(txn, "worker-a", base) // leased until base+1m
		second := noteOf(ch.Transaction, "https://merchant.example/second", base)
		notSent := finished(noteOf(ch.Transaction, "", base), payhook.StatusNotSent)
		ch.Notifications = append(ch.Notifications, second, notSent)
		require.NoError(t, s.ApplyChange(ctx, ch))

		got, err := s.ClaimDue(ctx, base.Add(30*time.Second), lease("worker-b", 5*time.Minute), 10)
		require.NoError(t, err)
		require.Empty(t, got, "the caller's lease holds the pending notifications")
		require.NoError(t, s.RecordAttempt(ctx, ch.Notifications[0].ID, newAttempt(base, 200), payhook.StatusDelivered, time.Time{}, ch.Lease),
			"the caller attempts what its change leased to it")

		got, err = s.ClaimDue(ctx, base.Add(2*time.Minute), lease("worker-b", 5*time.Minute), 10)
		require.NoError(t, err)
		require.Equal(t, []string{second.ID}, ids(got), "once the lease expired, the pending one is due; never the one not sent")
	})

	t.Run("DeleteRemovesTheTransactionAndKeepsItsNotifications", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		txn := createTransaction(t, s, payhook.StateCreated)
		paid := paidChange(txn, "worker-a", base.Add(time.Minute))
		require.NoError(t, s.ApplyChange(ctx, paid))
		del := payhook.Change{Transaction: paid.Transaction, From: []payhook.State{payhook.StatePaid},
			Unchanged: paid.Transaction.UpdatedAt, Delete: true}
		require.NoError(t, s.ApplyChange(ctx, del))

		_, err := s.Transaction(ctx, txn.SessionID)
		requireCode(t, payhook.ENOTFOUND, err)
		_, err = s.TransactionHead(ctx, txn.SessionID)
		requireCode(t, payhook.ENOTFOUND, err)
		list, err := s.TransactionsByOrderNo(ctx, txn.OrderNo)
		require.NoError(t, err)
		require.Empty(t, list)
		_, n, err := s.ListNotifications(ctx, payhook.NotificationFilter{SessionID: txn.SessionID})
		require.NoError(t, err)
		require.Equal(t, 1, n, "the deleted transaction's notifications stay in the log")
	})

	t.Run("DeleteRefusedWhenTheStateLeftFrom", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		txn := createTransaction(t, s, payhook.StatePaid)
		del := payhook.Change{Transaction: txn, From: []payhook.State{payhook.StateCreated}, Delete: true}
		requireChanged(t, s.ApplyChange(t.Context(), del))
		requireUnchanged(t, s, txn)
	})

	t.Run("StoresChildrenOnlyAsRows", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		txn := createTransaction(t, s, payhook.StatePaid)
		first := refundChange(txn, 1000, base.Add(time.Minute))
		require.NoError(t, s.ApplyChange(ctx, first))

		// A caller that read the transaction with its children changes it again.
		read, err := s.Transaction(ctx, txn.SessionID)
		require.NoError(t, err)
		require.Len(t, read.Children, 1)
		next := *read
		next.RefundedAmount, next.UpdatedAt = next.RefundedAmount+2000, base.Add(2*time.Minute)
		second := newChild(2000, next.UpdatedAt)
		require.NoError(t, s.ApplyChange(ctx, payhook.Change{Transaction: &next, From: []payhook.State{payhook.StatePaid},
			Unchanged: read.UpdatedAt, Child: second}))

		got, err := s.Transaction(ctx, txn.SessionID)
		require.NoError(t, err)
		require.Equal(t, []payhook.Child{comparableChild(*first.Child), comparableChild(*second)}, comparableTransaction(got).Children,
			"Transaction returns each child once, oldest first (store.go): the store also kept the Children of Change.Transaction")
		head, err := s.TransactionHead(ctx, txn.SessionID)
		require.NoError(t, err)
		require.Nil(t, head.Children, "TransactionHead returns Children nil (store.go): the store kept the Children of Change.Transaction")
	})

	t.Run("TrackingWithoutClaimIsDoneAndUsedOnce", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		txn := createTransaction(t, s, payhook.StatePaid)
		first := refundChange(txn, 1000, base.Add(time.Minute))
		first.Tracking = answered(newTracking("key-1", txn.SessionID), `{"result":"success"}`)
		require.NoError(t, s.ApplyChange(ctx, first))

		tr, err := s.Tracking(ctx, "key-1")
		require.NoError(t, err)
		requireSameTracking(t, first.Tracking, tr)

		second := refundChange(first.Transaction, 2000, base.Add(2*time.Minute))
		second.Tracking = answered(newTracking("key-1", txn.SessionID), `{"result":"other"}`)
		require.ErrorIs(t, s.ApplyChange(ctx, second), payhook.ErrTrackingKeyUsed)
		got, err := s.Transaction(ctx, txn.SessionID)
		require.NoError(t, err)
		requireSameTransaction(t, first.Transaction, got)
		require.Len(t, got.Children, 1, "the refused change stored no child")
		_, n, err := s.ListNotifications(ctx, payhook.NotificationFilter{SessionID: txn.SessionID})
		require.NoError(t, err)
		require.Equal(t, 1, n, "the refused change stored no notification")
		tr, err = s.Tracking(ctx, "key-1")
		require.NoError(t, err)
		requireSameTracking(t, first.Tracking, tr)
	})

	t.Run("OneOfConcurrentChangesWithOneTrackingKeyWins", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		txn := createTransaction(t, s, payhook.StatePaid)
		stores := processes(t, h, s)
		changes := make([]payhook.Change, racers)
		for i := range changes {
			changes[i] = refundChange(txn, payhook.Amount(100*(i+1)), base.Add(time.Duration(i+1)*time.Millisecond))
			changes[i].Unchanged = time.Time{} // only the key keeps them apart
			changes[i].Tracking = answered(newTracking("key-race", txn.SessionID), fmt.Sprintf(`{"caller":%d}`, i))
		}
		errs := concurrently(racers, func(i int) error { return pick(stores, i).ApplyChange(ctx, changes[i]) })
		w := requireOneWinner(t, errs, is(payhook.ErrTrackingKeyUsed))

		got, err := s.Transaction(ctx, txn.SessionID)
		require.NoError(t, err)
		requireSameTransaction(t, changes[w].Transaction, got)
		tr, err := s.Tracking(ctx, "key-race")
		require.NoError(t, err)
		requireSameTracking(t, changes[w].Tracking, tr)
	})

	t.Run("WithItsClaimEndsTheClaim", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		txn := createTransaction(t, s, payhook.StatePaid)
		c := newRefundClaim(txn, "worker-a", base.Add(time.Minute), "key-claimed")
		require.NoError(t, s.Claim(ctx, c))
		tr, err := s.Tracking(ctx, "key-claimed")
		require.NoError(t, err)
		require.False(t, tr.Done, "in progress while the claim holds")
		require.Equal(t, c.ID, tr.ClaimID)

		ch := refundDone(txn, c, "worker-a", base.Add(10*time.Second))
		require.NoError(t, s.ApplyChange(ctx, ch))

		_, err = s.ClaimByID(ctx, c.ID)
		requireCode(t, payhook.ENOTFOUND, err)
		got, err := s.Transaction(ctx, txn.SessionID)
		require.NoError(t, err)
		requireSameTransaction(t, ch.Transaction, got)
		require.Equal(t, []payhook.Child{comparableChild(*ch.Child)}, comparableTransaction(got).Children)
		tr, err = s.Tracking(ctx, "key-claimed")
		require.NoError(t, err)
		requireSameTracking(t, ch.Tracking, tr)
		stale, err := s.StaleClaims(ctx, base.Add(time.Hour), 10)
		require.NoError(t, err)
		require.Empty(t, stale)

		// The transaction is free again.
		require.NoError(t, s.Claim(ctx, newPaymentClaim(ch.Transaction, "worker-b", base.Add(time.Hour))))
	})

	t.Run("ClaimTakenOverIsLostAndStoresNothing", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		txn := createTransaction(t, s, payhook.StatePaid)
		c := newRefundClaim(txn, "worker-a", base.Add(time.Minute), "key-lost")
		require.NoError(t, s.Claim(ctx, c))
		_, err := s.TakeOverClaim(ctx, c.ID, "worker-b", base.Add(10*time.Minute), base.Add(2*time.Minute))
		require.NoError(t, err)

		late := refundDone(txn, c, "worker-a", base.Add(3*time.Minute))
		require.ErrorIs(t, s.ApplyChange(ctx, late), payhook.ErrClaimLost)
		requireUnchanged(t, s, txn)
		tr, err := s.Tracking(ctx, "key-lost")
		require.NoError(t, err)
		require.False(t, tr.Done, "the Tracking-Key stays in progress for the new owner")
		held, err := s.ClaimByID(ctx, c.ID)
		require.NoError(t, err)
		require.Equal(t, "worker-b", held.Owner)

		require.NoError(t, s.ApplyChange(ctx, refundDone(txn, c, "worker-b", base.Add(4*time.Minute))), "the new owner records it")
	})

	t.Run("ClaimOfAnotherOwnerIsLost", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		txn := createTransaction(t, s, payhook.StatePaid)
		c := newRefundClaim(txn, "worker-a", base.Add(time.Minute), "")
		require.NoError(t, s.Claim(ctx, c))
		require.ErrorIs(t, s.ApplyChange(ctx, refundDone(txn, c, "worker-b", base.Add(time.Second))), payhook.ErrClaimLost)
		requireUnchanged(t, s, txn)
		held, err := s.ClaimByID(ctx, c.ID)
		require.NoError(t, err)
		require.Equal(t, "worker-a", held.Owner)
	})

	t.Run("EndedClaimIsLost", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		txn := createTransaction(t, s, payhook.StatePaid)
		c := newRefundClaim(txn, "worker-a", base.Add(time.Minute), "")
		require.NoError(t, s.Claim(ctx, c))
		require.NoError(t, s.ReleaseClaim(ctx, c.ID, "worker-a"))
		require.ErrorIs(t, s.ApplyChange(ctx, refundDone(txn, c, "worker-a", base.Add(time.Second))), payhook.ErrClaimLost)
		requireUnchanged(t, s, txn)
	})

	t.Run("WithoutClaimWhileClaimedIsClaimed", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		txn := createTransaction(t, s, payhook.StatePaid)
		require.NoError(t, s.Claim(ctx, newRefundClaim(txn, "worker-a", base.Add(time.Minute), "")))

		require.ErrorIs(t, s.ApplyChange(ctx, refundChange(txn, 1000, base.Add(time.Second))), payhook.ErrClaimed)
		del := payhook.Change{Transaction: txn, From: []payhook.State{payhook.StatePaid}, Unchanged: txn.UpdatedAt, Delete: true}
		require.ErrorIs(t, s.ApplyChange(ctx, del), payhook.ErrClaimed)
		requireUnchanged(t, s, txn)
	})
}

// requireSameTracking requires got to be the recorded want.
func requireSameTracking(t *testing.T, want, got *payhook.Tracking) {
	t.Helper()
	require.NotNil(t, got)
	w, g := *want, *got
	w.CreatedAt, g.CreatedAt = utc(w.CreatedAt), utc(g.CreatedAt)
	if len(w.Answer) == 0 && len(g.Answer) == 0 {
		w.Answer, g.Answer = nil, nil
	}
	require.Equal(t, w, g)
}

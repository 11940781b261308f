package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook"
)

// requireSameClaim requires got to be the claim want as taken: who holds it until when,
// and the intent it records.
func requireSameClaim(t *testing.T, want, got *payhook.Claim) {
	t.Helper()
	require.NotNil(t, got)
	require.Equal(t, want.ID, got.ID)
	require.Equal(t, want.SessionID, got.SessionID)
	require.Equal(t, want.Kind, got.Kind)
	require.Equal(t, want.Owner, got.Owner)
	requireSameTime(t, want.Until, got.Until, "Until")
	requireSameTime(t, want.CreatedAt, got.CreatedAt, "CreatedAt")
	require.Equal(t, want.PGCode, got.PGCode)
	require.Equal(t, want.Card, got.Card)
	if want.Child == nil {
		require.Nil(t, got.Child)
	} else {
		require.NotNil(t, got.Child, "the planned child")
		require.Equal(t, comparableChild(*want.Child), comparableChild(*got.Child))
	}
	if want.Tracking == nil {
		require.Nil(t, got.Tracking)
	} else {
		require.NotNil(t, got.Tracking, "the claim's Tracking-Key")
		require.Equal(t, want.Tracking.Key, got.Tracking.Key)
	}
}

// requireFree requires that no claim holds txn: a change without a claim applies.
func requireFree(t *testing.T, s payhook.Store, txn *payhook.Transaction) {
	t.Helper()
	ch := payhook.Change{Transaction: changed(txn, txn.State, txn.UpdatedAt.Add(time.Hour)), From: []payhook.State{txn.State},
		Unchanged: txn.UpdatedAt}
	require.NoError(t, s.ApplyChange(t.Context(), ch), "the transaction should be free of claims")
}

// requireHeld requires that a claim holds txn: a change without a claim is ErrClaimed.
func requireHeld(t *testing.T, s payhook.Store, txn *payhook.Transaction) {
	t.Helper()
	ch := payhook.Change{Transaction: changed(txn, txn.State, txn.UpdatedAt.Add(time.Hour)), From: []payhook.State{txn.State},
		Unchanged: txn.UpdatedAt}
	require.ErrorIs(t, s.ApplyChange(t.Context(), ch), payhook.ErrClaimed, "the transaction should still be claimed")
}

func testClaim(t *testing.T, h Harness) {
	t.Run("StoresThePaymentIntent", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		txn := createTransaction(t, s, payhook.StateCreated)
		c := newPaymentClaim(txn, "worker-a", base.Add(time.Minute))
		require.NoError(t, s.Claim(t.Context(), c))
		got, err := s.ClaimByID(t.Context(), c.ID)
		require.NoError(t, err)
		requireSameClaim(t, c, got)
		requireHeld(t, s, txn)
	})

	t.Run("StoresTheOperationIntentWithItsTrackingKeyInProgress", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		txn := createTransaction(t, s, payhook.StatePaid)
		c := newRefundClaim(txn, "worker-a", base.Add(time.Minute), "key-op")
		require.NoError(t, s.Claim(ctx, c))
		got, err := s.ClaimByID(ctx, c.ID)
		require.NoError(t, err)
		requireSameClaim(t, c, got)

		tr, err := s.Tracking(ctx, "key-op")
		require.NoError(t, err)
		want := *c.Tracking
		want.ClaimID = c.ID
		requireSameTracking(t, &want, tr)
	})

	t.Run("NotFoundWithoutTheTransaction", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		c := newPaymentClaim(newTransaction(), "worker-a", base.Add(time.Minute))
		requireCode(t, payhook.ENOTFOUND, s.Claim(t.Context(), c))
		_, err := s.ClaimByID(t.Context(), c.ID)
		requireCode(t, payhook.ENOTFOUND, err)
	})

	t.Run("ConflictWhenTheStateLeftFrom", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		txn := createTransaction(t, s, payhook.StatePaid)
		c := newPaymentClaim(txn, "worker-a", base.Add(time.Minute))
		c.From = []payhook.State{payhook.StateCreated, payhook.StatePending}
		requireChanged(t, s.Claim(ctx, c))
		_, err := s.ClaimByID(ctx, c.ID)
		requireCode(t, payhook.ENOTFOUND, err)
		requireFree(t, s, txn)
	})

	t.Run("ConflictWhenChangedSinceUnchanged", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		txn := createTransaction(t, s, payhook.StatePaid)
		c := newRefundClaim(txn, "worker-a", base.Add(time.Minute), "key-unseen")
		c.Unchanged = txn.UpdatedAt.Add(-time.Second)
		requireChanged(t, s.Claim(ctx, c))
		_, err := s.Tracking(ctx, "key-unseen")
		requireCode(t, payhook.ENOTFOUND, err)
		requireFree(t, s, txn)
	})

	t.Run("ClaimedWhileAnotherClaimHolds", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		txn := createTransaction(t, s, payhook.StatePaid)
		first := newRefundClaim(txn, "worker-a", base.Add(time.Minute), "")
		require.NoError(t, s.Claim(ctx, first))

		other := newRefundClaim(txn, "worker-b", base.Add(time.Minute), "key-other")
		require.ErrorIs(t, s.Claim(ctx, other), payhook.ErrClaimed)
		same := newPaymentClaim(txn, "worker-a", base.Add(time.Minute))
		require.ErrorIs(t, s.Claim(ctx, same), payhook.ErrClaimed, "the owner's own second claim too")

		_, err := s.ClaimByID(ctx, other.ID)
		requireCode(t, payhook.ENOTFOUND, err)
		_, err = s.Tracking(ctx, "key-other")
		requireCode(t, payhook.ENOTFOUND, err, "the refused claim recorded no Tracking-Key")
		got, err := s.ClaimByID(ctx, first.ID)
		require.NoError(t, err)
		requireSameClaim(t, first, got)
	})

	t.Run("TrackingKeyUsedClaimsNothing", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		inProgress := createTransaction(t, s, payhook.StatePaid)
		require.NoError(t, s.Claim(ctx, newRefundClaim(inProgress, "worker-a", base.Add(time.Minute), "key-busy")))
		done := createTransaction(t, s, payhook.StatePaid)
		ch := refundChange(done, 1000, base.Add(time.Second))
		ch.Tracking = answered(newTracking("key-done", done.SessionID), `{}`)
		require.NoError(t, s.ApplyChange(ctx, ch))

		for _, key := range []string{"key-busy", "key-done"} {
			txn := createTransaction(t, s, payhook.StatePaid)
			c := newRefundClaim(txn, "worker-b", base.Add(time.Minute), key)
			require.ErrorIs(t, s.Claim(ctx, c), payhook.ErrTrackingKeyUsed, key)
			_, err := s.ClaimByID(ctx, c.ID)
			requireCode(t, payhook.ENOTFOUND, err)
			requireFree(t, s, txn)
		}
		tr, err := s.Tracking(ctx, "key-busy")
		require.NoError(t, err)
		require.Equal(t, inProgress.SessionID, tr.SessionID, "the recorded key is left as it was")
	})

	t.Run("OneOfConcurrentClaimersWins", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		txn := createTransaction(t, s, payhook.StatePaid)
		stores := processes(t, h, s)
		claims := make([]*payhook.Claim, racers)
		for i := range claims {
			claims[i] = newRefundClaim(txn, fmt.Sprintf("worker-%d", i), base.Add(time.Minute), "")
		}
		errs := concurrently(racers, func(i int) error { return pick(stores, i).Claim(ctx, claims[i]) })
		w := requireOneWinner(t, errs, is(payhook.ErrClaimed))
		got, err := s.ClaimByID(ctx, claims[w].ID)
		require.NoError(t, err)
		requireSameClaim(t, claims[w], got)
		for i, c := range claims {
			if i != w {
				_, err := s.ClaimByID(ctx, c.ID)
				requireCode(t, payhook.ENOTFOUND, err)
			}
		}
	})

	t.Run("OneOfConcurrentClaimersWithOneTrackingKeyWins", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		stores := processes(t, h, s)
		claims := make([]*payhook.Claim, racers)
		txns := make([]*payhook.Transaction, racers)
		for i := range claims {
			txns[i] = createTransaction(t, s, payhook.StatePaid)
			claims[i] = newRefundClaim(txns[i], fmt.Sprintf("worker-%d", i), base.Add(time.Minute), "key-shared")
		}
		errs := concurrently(racers, func(i int) error { return pick(stores, i).Claim(ctx, claims[i]) })
		w := requireOneWinner(t, errs, is(payhook.ErrTrackingKeyUsed))
		tr, err := s.Tracking(ctx, "key-shared")
		require.NoError(t, err)
		require.Equal(t, claims[w].ID, tr.ClaimID)
		for i, txn := range txns {
			if i != w {
				requireFree(t, s, txn)
			}
		}
	})
}

func testReleaseClaim(t *testing.T, h Harness) {
	t.Run("FreesTheTransaction", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		txn := createTransaction(t, s, payhook.StateCreated)
		c := newPaymentClaim(txn, "worker-a", base.Add(time.Minute))
		require.NoError(t, s.Claim(ctx, c))
		require.NoError(t, s.ReleaseClaim(ctx, c.ID, "worker-a"))
		_, err := s.ClaimByID(ctx, c.ID)
		requireCode(t, payhook.ENOTFOUND, err)
		require.NoError(t, s.Claim(ctx, newPaymentClaim(txn, "worker-b", base.Add(time.Minute))), "the customer may pay again")
	})

	t.Run("ForgetsTheInProgressTrackingKey", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		txn := createTransaction(t, s, payhook.StatePaid)
		c := newRefundClaim(txn, "worker-a", base.Add(time.Minute), "key-retry")
		require.NoError(t, s.Claim(ctx, c))
		require.NoError(t, s.ReleaseClaim(ctx, c.ID, "worker-a"))
		_, err := s.Tracking(ctx, "key-retry")
		requireCode(t, payhook.ENOTFOUND, err)
		require.NoError(t, s.Claim(ctx, newRefundClaim(txn, "worker-a", base.Add(time.Minute), "key-retry")), "a retry runs anew")
	})

	t.Run("ClaimLostForAnotherOwner", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		txn := createTransaction(t, s, payhook.StatePaid)
		c := newRefundClaim(txn, "worker-a", base.Add(time.Minute), "key-kept")
		require.NoError(t, s.Claim(ctx, c))
		require.ErrorIs(t, s.ReleaseClaim(ctx, c.ID, "worker-b"), payhook.ErrClaimLost)
		got, err := s.ClaimByID(ctx, c.ID)
		require.NoError(t, err)
		requireSameClaim(t, c, got)
		tr, err := s.Tracking(ctx, "key-kept")
		require.NoError(t, err)
		require.False(t, tr.Done)
		requireHeld(t, s, txn)
	})

	t.Run("ClaimLostOnceEnded", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		txn := createTransaction(t, s, payhook.StatePaid)
		c := newRefundClaim(txn, "worker-a", base.Add(time.Minute), "key-ended")
		require.NoError(t, s.Claim(ctx, c))
		ch := refundDone(txn, c, "worker-a", base.Add(time.Second))
		require.NoError(t, s.ApplyChange(ctx, ch))
		require.ErrorIs(t, s.ReleaseClaim(ctx, c.ID, "worker-a"), payhook.ErrClaimLost)
		tr, err := s.Tracking(ctx, "key-ended")
		require.NoError(t, err)
		requireSameTracking(t, ch.Tracking, tr)
		require.ErrorIs(t, s.ReleaseClaim(ctx, "op_NOSUCHCLAIM", "worker-a"), payhook.ErrClaimLost)
	})
}

func testStaleClaims(t *testing.T, h Harness) {
	t.Run("ReturnsExpiredOldestFirstUpToLimit", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		var want []string
		for i := range 3 {
			txn := createTransaction(t, s, payhook.StatePaid)
			c := newRefundClaim(txn, "worker-a", base.Add(time.Duration(i+1)*time.Minute), "")
			c.CreatedAt = base.Add(time.Duration(i) * time.Second)
			require.NoError(t, s.Claim(ctx, c))
			want = append(want, c.ID)
		}
		fresh := newPaymentClaim(createTransaction(t, s, payhook.StateCreated), "worker-a", base.Add(time.Hour))
		require.NoError(t, s.Claim(ctx, fresh))
		now := base.Add(10 * time.Minute)

		list, err := s.StaleClaims(ctx, now, 10)
		require.NoError(t, err)
		require.Equal(t, want, claimIDs(list))
		list, err = s.StaleClaims(ctx, now, 2)
		require.NoError(t, err)
		require.Equal(t, want[:2], claimIDs(list))
		list, err = s.StaleClaims(ctx, base, 10)
		require.NoError(t, err)
		require.Empty(t, list, "nothing is stale before its Until")
	})

	t.Run("LeavesEndedClaimsOut", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		released := newPaymentClaim(createTransaction(t, s, payhook.StateCreated), "worker-a", base.Add(time.Minute))
		require.NoError(t, s.Claim(ctx, released))
		require.NoError(t, s.ReleaseClaim(ctx, released.ID, "worker-a"))
		txn := createTransaction(t, s, payhook.StatePaid)
		done := newRefundClaim(txn, "worker-a", base.Add(time.Minute), "")
		require.NoError(t, s.Claim(ctx, done))
		require.NoError(t, s.ApplyChange(ctx, refundDone(txn, done, "worker-a", base.Add(time.Second))))

		list, err := s.StaleClaims(ctx, base.Add(time.Hour), 10)
		require.NoError(t, err)
		require.Empty(t, list)
	})
}

func claimIDs(list []*payhook.Claim) []string {
	out := make([]string, len(list))
	for i, c := range list {
		out[i] = c.ID
	}
	return out
}

func testTakeOverClaim(t *testing.T, h Harness) {
	t.Run("TakesOverAStaleClaim", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		txn := createTransaction(t, s, payhook.StatePaid)
		c := newRefundClaim(txn, "worker-a", base.Add(time.Minute), "key-taken")
		require.NoError(t, s.Claim(ctx, c))
		now := base.Add(2 * time.Minute)

		got, err := s.TakeOverClaim(ctx, c.ID, "worker-b", now.Add(time.Minute), now)
		require.NoError(t, err)
		want := *c
		want.Owner, want.Until = "worker-b", now.Add(time.Minute)
		requireSameClaim(t, &want, got)
		stored, err := s.ClaimByID(ctx, c.ID)
		require.NoError(t, err)
		requireSameClaim(t, &want, stored)
		list, err := s.StaleClaims(ctx, now, 10)
		require.NoError(t, err)
		require.Empty(t, list, "taken over, the claim is not stale any more")

		require.ErrorIs(t, s.ReleaseClaim(ctx, c.ID, "worker-a"), payhook.ErrClaimLost, "the former owner lost it")
		requireHeld(t, s, txn)
		require.NoError(t, s.ReleaseClaim(ctx, c.ID, "worker-b"))
	})

	t.Run("TakenOverAgainOnceStaleAgain", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		c := newPaymentClaim(createTransaction(t, s, payhook.StateCreated), "worker-a", base.Add(time.Minute))
		require.NoError(t, s.Claim(ctx, c))
		_, err := s.TakeOverClaim(ctx, c.ID, "worker-b", base.Add(3*time.Minute), base.Add(2*time.Minute))
		require.NoError(t, err)
		got, err := s.TakeOverClaim(ctx, c.ID, "worker-c", base.Add(5*time.Minute), base.Add(4*time.Minute))
		require.NoError(t, err)
		require.Equal(t, "worker-c", got.Owner)
	})

	t.Run("ClaimLostWhenNotStale", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		c := newPaymentClaim(createTransaction(t, s, payhook.StateCreated), "worker-a", base.Add(time.Minute))
		require.NoError(t, s.Claim(ctx, c))
		_, err := s.TakeOverClaim(ctx, c.ID, "worker-b", base.Add(5*time.Minute), base.Add(30*time.Second))
		require.ErrorIs(t, err, payhook.ErrClaimLost)
		got, err := s.ClaimByID(ctx, c.ID)
		require.NoError(t, err)
		requireSameClaim(t, c, got)
	})

	t.Run("ClaimLostWhenGone", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		c := newPaymentClaim(createTransaction(t, s, payhook.StateCreated), "worker-a", base.Add(time.Minute))
		require.NoError(t, s.Claim(ctx, c))
		require.NoError(t, s.ReleaseClaim(ctx, c.ID, "worker-a"))
		_, err := s.TakeOverClaim(ctx, c.ID, "worker-b", base.Add(5*time.Minute), base.Add(2*time.Minute))
		require.ErrorIs(t, err, payhook.ErrClaimLost)
		_, err = s.TakeOverClaim(ctx, "pay_NOSUCHCLAIM", "worker-b", base.Add(5*time.Minute), base.Add(2*time.Minute))
		require.ErrorIs(t, err, payhook.ErrClaimLost)
	})

	t.Run("OneOfConcurrentTakersWins", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		c := newPaymentClaim(createTransaction(t, s, payhook.StateCreated), "worker-a", base.Add(time.Minute))
		require.NoError(t, s.Claim(ctx, c))
		stores := processes(t, h, s)
		now := base.Add(2 * time.Minute)
		errs := concurrently(racers, func(i int) error {
			_, err := pick(stores, i).TakeOverClaim(ctx, c.ID, fmt.Sprintf("worker-%d", i), now.Add(time.Minute), now)
			return err
		})
		w := requireOneWinner(t, errs, is(payhook.ErrClaimLost))
		got, err := s.ClaimByID(ctx, c.ID)
		require.NoError(t, err)
		require.Equal(t, fmt.Sprintf("worker-%d", w), got.Owner)
	})
}

func testClaimByID(t *testing.T, h Harness) {
	t.Run("NotFound", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		_, err := s.ClaimByID(t.Context(), "pay_NOSUCHCLAIM")
		requireCode(t, payhook.ENOTFOUND, err)
	})
}

func testTracking(t *testing.T, h Harness) {
	t.Run("NotFoundWhenNone", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		_, err := s.Tracking(t.Context(), "key-none")
		requireCode(t, payhook.ENOTFOUND, err)
	})
}

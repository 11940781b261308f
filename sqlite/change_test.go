package sqlite_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook"
)

// Two processes that read the same paid transaction and both refund part of it: the
// second change must not apply over the first (optimistic concurrency on updated_at).
func TestApplyChange_RefusesAChangeOverAnUnseenOne(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	ctx := context.Background()
	txn := newTxn()
	txn.State = payhook.StatePaid
	require.NoError(t, s.CreateTransaction(ctx, txn))
	read := txn.UpdatedAt

	first := *txn
	first.RefundedAmount, first.UpdatedAt = 1000, read.Add(time.Millisecond)
	require.NoError(t, s.ApplyChange(ctx, payhook.Change{Transaction: &first, From: []payhook.State{payhook.StatePaid}, Unchanged: read}))

	second := *txn
	second.RefundedAmount, second.UpdatedAt = 2000, read.Add(2*time.Millisecond)
	err := s.ApplyChange(ctx, payhook.Change{Transaction: &second, From: []payhook.State{payhook.StatePaid}, Unchanged: read,
		Notifications: []*payhook.Notification{newNote(&second, "https://merchant.example/hook")}})
	require.Equal(t, payhook.ECONFLICT, payhook.ErrorCode(err))

	got, err := s.Transaction(ctx, txn.SessionID)
	require.NoError(t, err)
	require.Equal(t, payhook.Amount(1000), got.RefundedAmount, "the first change stands")
	_, n, err := s.ListNotifications(ctx, payhook.NotificationFilter{SessionID: txn.SessionID})
	require.NoError(t, err)
	require.Zero(t, n, "the refused change stored no notification")
}

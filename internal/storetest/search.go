package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook"
)

// testFindTransactions covers what the dashboard's search finds: part of an order_no or
// of an email, a child's reference or session id (its parent), a creation-time range and
// the outcome of the latest notification.
func testFindTransactions(t *testing.T, h Harness) {
	// find runs f and requires want (newest first) and their count.
	find := func(t *testing.T, s payhook.Store, name string, f payhook.TransactionFilter, want ...*payhook.Transaction) []*payhook.Transaction {
		t.Helper()
		f.Limit = 10
		list, n, err := s.ListTransactions(t.Context(), f)
		require.NoError(t, err, name)
		require.Equal(t, sessionIDs(want), sessionIDs(list), name)
		require.Equal(t, len(want), n, name)
		return list
	}

	t.Run("SearchesPartOfOrderNoAndEmailIgnoringCase", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		var all []*payhook.Transaction
		for i, c := range []struct{ order, email string }{
			{"INV-2026-0001", "Jane.Doe@Shop.example"},
			{"inv-2026-0002", "omar@mail.example"},
			{"", "sara_k@shop.example"},
			{"X%Y", ""},
		} {
			all = append(all, createdAt(t, s, payhook.StateCreated, base.Add(time.Duration(i)*time.Minute), func(txn *payhook.Transaction) {
				txn.OrderNo, txn.Customer.Email = c.order, c.email
			}))
		}
		find(t, s, "part of order_no, any case", payhook.TransactionFilter{Query: "Inv-2026"}, all[1], all[0])
		find(t, s, "end of order_no", payhook.TransactionFilter{Query: "0002"}, all[1])
		find(t, s, "part of email, any case", payhook.TransactionFilter{Query: "SHOP.EXAMPLE"}, all[2], all[0])
		find(t, s, "email's local part", payhook.TransactionFilter{Query: "jane.doe@"}, all[0])
		find(t, s, "% is a character, not a wildcard", payhook.TransactionFilter{Query: "%"}, all[3])
		find(t, s, "_ is a character, not a wildcard", payhook.TransactionFilter{Query: "a_k"}, all[2])
		find(t, s, "_ matches no other character", payhook.TransactionFilter{Query: "e_d"})
		find(t, s, "with the state", payhook.TransactionFilter{Query: "inv", State: payhook.StatePaid})
	})

	t.Run("FindsTheParentOfAChildByReferenceOrSessionID", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		other := createdAt(t, s, payhook.StatePaid, base, nil)
		parent := createdAt(t, s, payhook.StatePaid, base.Add(time.Minute), nil)
		ch := refundChange(parent, 1000, base.Add(2*time.Minute))
		require.NoError(t, s.ApplyChange(ctx, ch))
		second := refundChange(changed(parent, payhook.StatePaid, base.Add(2*time.Minute)), 500, base.Add(3*time.Minute))
		second.Transaction.RefundedAmount = 1500
		require.NoError(t, s.ApplyChange(ctx, second))

		find(t, s, "child's reference", payhook.TransactionFilter{Query: ch.Child.ReferenceNumber}, parent)
		find(t, s, "second child's session id", payhook.TransactionFilter{Query: second.Child.SessionID}, parent)
		find(t, s, "parent's own reference", payhook.TransactionFilter{Query: parent.ReferenceNumber}, parent)
		find(t, s, "other's session id", payhook.TransactionFilter{Query: other.SessionID}, other)
		find(t, s, "part of a child's reference", payhook.TransactionFilter{Query: ch.Child.ReferenceNumber[:len(ch.Child.ReferenceNumber)-2]})
	})

	t.Run("FiltersByCreationTime", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		var all []*payhook.Transaction
		for i := range 4 {
			all = append(all, createdAt(t, s, payhook.StateCreated, base.Add(time.Duration(i)*time.Hour), nil))
		}
		find(t, s, "from, inclusive", payhook.TransactionFilter{CreatedFrom: base.Add(2 * time.Hour)}, all[3], all[2])
		find(t, s, "until, exclusive", payhook.TransactionFilter{CreatedUntil: base.Add(2 * time.Hour)}, all[1], all[0])
		find(t, s, "from and until", payhook.TransactionFilter{CreatedFrom: base.Add(time.Second), CreatedUntil: base.Add(3 * time.Hour)}, all[2], all[1])
		find(t, s, "empty range", payhook.TransactionFilter{CreatedFrom: base.Add(time.Hour), CreatedUntil: base.Add(time.Hour)})
	})

	t.Run("FiltersByLatestNotificationAndReportsIt", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		var all []*payhook.Transaction
		for i := range 6 {
			all = append(all, createdAt(t, s, payhook.StatePaid, base.Add(time.Duration(i)*time.Minute), func(txn *payhook.Transaction) {
				txn.OrderNo = fmt.Sprintf("WH-%d", i)
			}))
		}
		// note stores a notification of all[i] to url in status st, created at minute m.
		note := func(i int, url string, st payhook.Status, m int) {
			n := noteOf(all[i], url, base.Add(time.Hour+time.Duration(m)*time.Minute))
			if st != payhook.StatusPending {
				finished(n, st)
			}
			require.NoError(t, s.AddNotifications(ctx, []*payhook.Notification{n}, payhook.Lease{}))
		}
		// all[0]: none. all[1]: failed, then delivered. all[2]: delivered, then failed.
		// all[3]: pending. all[4]: delivered and not sent at once (two URLs). all[5]:
		// delivered.
		note(1, "https://merchant.example/a", payhook.StatusFailed, 0)
		note(1, "https://merchant.example/a", payhook.StatusDelivered, 1)
		note(2, "https://merchant.example/a", payhook.StatusDelivered, 0)
		note(2, "https://merchant.example/a", payhook.StatusFailed, 1)
		note(3, "https://merchant.example/a", payhook.StatusPending, 0)
		note(4, "https://merchant.example/a", payhook.StatusDelivered, 2)
		note(4, "", payhook.StatusNotSent, 2)
		note(5, "https://merchant.example/b", payhook.StatusDelivered, 3)

		list := find(t, s, "every one", payhook.TransactionFilter{}, all[5], all[4], all[3], all[2], all[1], all[0])
		var got []payhook.Status
		for _, txn := range list {
			got = append(got, txn.LastNotification)
		}
		require.Equal(t, []payhook.Status{payhook.StatusDelivered, payhook.StatusNotSent, payhook.StatusPending,
			payhook.StatusFailed, payhook.StatusDelivered, ""}, got, "the latest notification's status; of those created at once, the least delivered")
		requireSameTransaction(t, all[5], list[0])

		find(t, s, "delivered", payhook.TransactionFilter{Webhook: payhook.StatusDelivered}, all[5], all[1])
		find(t, s, "failed: the latest one, not any", payhook.TransactionFilter{Webhook: payhook.StatusFailed}, all[2])
		find(t, s, "pending", payhook.TransactionFilter{Webhook: payhook.StatusPending}, all[3])
		find(t, s, "not sent", payhook.TransactionFilter{Webhook: payhook.StatusNotSent}, all[4])
		find(t, s, "none", payhook.TransactionFilter{Webhook: payhook.NoNotification}, all[0])
		find(t, s, "with a search", payhook.TransactionFilter{Webhook: payhook.StatusDelivered, Query: "wh-1"}, all[1])
		find(t, s, "with a time range", payhook.TransactionFilter{Webhook: payhook.StatusDelivered, CreatedFrom: base.Add(2 * time.Minute)}, all[5])

		// Re-sent, the failed one is pending again: the filter follows.
		n, err := s.ResendMatching(ctx, payhook.NotificationFilter{SessionID: all[2].SessionID, Status: payhook.StatusFailed}, base.Add(2*time.Hour))
		require.NoError(t, err)
		require.Equal(t, 1, n)
		find(t, s, "failed after the re-send", payhook.TransactionFilter{Webhook: payhook.StatusFailed})
		find(t, s, "pending after the re-send", payhook.TransactionFilter{Webhook: payhook.StatusPending}, all[3], all[2])
	})
}

package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook"
)

// sessionIDs returns the session ids of transactions.
func sessionIDs(list []*payhook.Transaction) []string {
	out := make([]string, len(list))
	for i, t := range list {
		out[i] = t.SessionID
	}
	return out
}

func testCreateTransaction(t *testing.T, h Harness) {
	t.Run("StoresEveryField", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		txn := inState(newTransaction(), payhook.StatePaid)
		txn.Origin = payhook.OriginDashboard
		txn.Initiator = &payhook.Initiator{ID: 7, Email: "admin@merchant.example", Username: "admin", FirstName: "Ada"}
		txn.RefundedAmount, txn.VoidedAmount = 1000, 0
		txn.UpdatedAt = base.Add(90 * time.Second)
		require.NoError(t, s.CreateTransaction(ctx, txn))

		got, err := s.Transaction(ctx, txn.SessionID)
		require.NoError(t, err)
		requireSameTransaction(t, txn, got)
		require.Empty(t, got.Children)

		head, err := s.TransactionHead(ctx, txn.SessionID)
		require.NoError(t, err)
		requireSameTransaction(t, txn, head)
	})

	t.Run("DoesNotStoreChildren", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		txn := inState(newTransaction(), payhook.StatePaid)
		txn.Children = []payhook.Child{*newChild(1000, base)}
		require.NoError(t, s.CreateTransaction(ctx, txn))

		got, err := s.Transaction(ctx, txn.SessionID)
		require.NoError(t, err)
		require.Empty(t, got.Children, "CreateTransaction stores a new transaction, its Children not stored (store.go): "+
			"Transaction returned the children passed to CreateTransaction")
		head, err := s.TransactionHead(ctx, txn.SessionID)
		require.NoError(t, err)
		require.Nil(t, head.Children, "TransactionHead returns a transaction with Children nil (store.go): "+
			"it returned the children passed to CreateTransaction")
	})
}

func testTransaction(t *testing.T, h Harness) {
	t.Run("NotFound", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		_, err := s.Transaction(t.Context(), payhook.NewSessionID())
		requireCode(t, payhook.ENOTFOUND, err)
		_, err = s.TransactionHead(t.Context(), payhook.NewSessionID())
		requireCode(t, payhook.ENOTFOUND, err)
	})

	t.Run("KeepsTriesThroughChanges", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		txn := createTransaction(t, s, payhook.StateCreated)
		card := &payhook.Card{Masked: "400000******0002", Expiry: "12/39", Holder: "Jane"}
		declined := payhook.Try{Reference: "pay_try1", At: base.Add(time.Minute), PGCode: "credit-card", Card: card,
			Result: payhook.ResultFailed, Message: "Declined"}
		attempted := changed(txn, payhook.StateAttempted, base.Add(time.Minute))
		attempted.Result, attempted.Tries = payhook.ResultFailed, []payhook.Try{declined}
		require.NoError(t, s.ApplyChange(ctx, payhook.Change{Transaction: attempted, From: []payhook.State{payhook.StateCreated},
			Unchanged: txn.UpdatedAt}))
		got, err := s.TransactionHead(ctx, txn.SessionID)
		require.NoError(t, err)
		requireSameTransaction(t, attempted, got)

		authorized := changed(attempted, payhook.StateAuthorized, base.Add(2*time.Minute))
		authorized.Result, authorized.AuthorizedAmount = payhook.ResultSuccess, authorized.Amount
		authorized.Tries = append(append([]payhook.Try(nil), attempted.Tries...), payhook.Try{Reference: "pay_try2",
			At: base.Add(2 * time.Minute), PGCode: "credit-card-auth", Card: &payhook.Card{Masked: "411111******1111", Expiry: "12/39"},
			Result: payhook.ResultSuccess, Message: "Authorized"})
		require.NoError(t, s.ApplyChange(ctx, payhook.Change{Transaction: authorized, From: []payhook.State{payhook.StateAttempted},
			Unchanged: attempted.UpdatedAt}))
		got, err = s.Transaction(ctx, txn.SessionID)
		require.NoError(t, err)
		requireSameTransaction(t, authorized, got)
		require.Len(t, got.Tries, 2, "every try, oldest first")
		require.Equal(t, "pay_try1", got.Tries[0].Reference)
	})

	t.Run("ReturnsChildrenOldestFirstAndHeadWithout", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		txn := createTransaction(t, s, payhook.StatePaid)
		var children []payhook.Child
		read := txn
		for i := range 3 {
			c := newChild(payhook.Amount(1000*(i+1)), base.Add(time.Duration(i+1)*time.Minute))
			next := changed(read, payhook.StatePaid, c.CreatedAt)
			next.RefundedAmount += c.Amount
			require.NoError(t, s.ApplyChange(ctx, payhook.Change{Transaction: next, From: []payhook.State{payhook.StatePaid},
				Unchanged: read.UpdatedAt, Child: c}))
			children = append(children, comparableChild(*c))
			read = next
		}

		got, err := s.Transaction(ctx, txn.SessionID)
		require.NoError(t, err)
		requireSameTransaction(t, read, got)
		require.Equal(t, children, comparableTransaction(got).Children, "every child, oldest first")

		head, err := s.TransactionHead(ctx, txn.SessionID)
		require.NoError(t, err)
		requireSameTransaction(t, read, head)
		require.Nil(t, head.Children, "TransactionHead leaves the children out")
	})
}

func testTransactionsByOrderNo(t *testing.T, h Harness) {
	t.Run("NewestFirst", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		var want []string
		for i := range 3 {
			txn := createdAt(t, s, payhook.StateCreated, base.Add(time.Duration(i)*time.Minute), func(txn *payhook.Transaction) { txn.OrderNo = "A-1" })
			want = append([]string{txn.SessionID}, want...)
		}
		createdAt(t, s, payhook.StateCreated, base, func(txn *payhook.Transaction) { txn.OrderNo = "B-2" })

		list, err := s.TransactionsByOrderNo(t.Context(), "A-1")
		require.NoError(t, err)
		require.Equal(t, want, sessionIDs(list))
	})

	t.Run("NoneForAnUnknownOrderNo", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		createTransaction(t, s, payhook.StateCreated)
		list, err := s.TransactionsByOrderNo(t.Context(), "NO-SUCH-ORDER")
		require.NoError(t, err)
		require.Empty(t, list)
	})

	t.Run("ReturnsEveryMatch", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		const n = 25
		for i := range n {
			createdAt(t, s, payhook.StateCreated, base.Add(time.Duration(i)*time.Second), func(txn *payhook.Transaction) { txn.OrderNo = "MANY" })
		}
		list, err := s.TransactionsByOrderNo(t.Context(), "MANY")
		require.NoError(t, err)
		require.Equal(t, n, len(list), "TransactionsByOrderNo returns the transactions with that order_no (store.go), "+
			"not only some of them: the store cut the list short")
	})
}

func testExpiredTransactions(t *testing.T, h Harness) {
	t.Run("PayableAndPastExpirationUpToLimit", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		expiring := func(st payhook.State, expires time.Duration) *payhook.Transaction {
			return createdAt(t, s, st, base, func(txn *payhook.Transaction) { txn.ExpiresAt = base.Add(expires) })
		}
		want := []string{
			expiring(payhook.StateCreated, time.Hour).SessionID,
			expiring(payhook.StatePending, 2*time.Hour).SessionID,
			expiring(payhook.StateAttempted, 3*time.Hour).SessionID,
		}
		expiring(payhook.StatePaid, time.Hour)
		expiring(payhook.StateCanceled, time.Hour)
		expiring(payhook.StateExpired, time.Hour)
		expiring(payhook.StateCreated, 5*time.Hour) // not yet
		now := base.Add(4 * time.Hour)

		list, err := s.ExpiredTransactions(ctx, now, 10)
		require.NoError(t, err)
		require.ElementsMatch(t, want, sessionIDs(list))

		list, err = s.ExpiredTransactions(ctx, now, 2)
		require.NoError(t, err)
		require.Len(t, list, 2)
		require.Subset(t, want, sessionIDs(list))

		list, err = s.ExpiredTransactions(ctx, base, 10)
		require.NoError(t, err)
		require.Empty(t, list, "nothing expired yet at base")
	})
}

func testListTransactions(t *testing.T, h Harness) {
	// setup stores five transactions, one a minute from base: states created, paid,
	// paid, created, failed; the last two payment requests; order numbers ORDER-0 to -4.
	setup := func(t *testing.T) (payhook.Store, []*payhook.Transaction) {
		s := h.Open(t)
		states := []payhook.State{payhook.StateCreated, payhook.StatePaid, payhook.StatePaid, payhook.StateCreated, payhook.StateFailed}
		var list []*payhook.Transaction
		for i, st := range states {
			list = append(list, createdAt(t, s, st, base.Add(time.Duration(i)*time.Minute), func(txn *payhook.Transaction) {
				txn.OrderNo = fmt.Sprintf("ORDER-%d", i)
				if i >= 3 {
					txn.Type = payhook.PluginPaymentRequest
				}
			}))
		}
		return s, list
	}

	t.Run("NewestFirstWithCount", func(t *testing.T) {
		t.Parallel()
		s, all := setup(t)
		list, n, err := s.ListTransactions(t.Context(), payhook.TransactionFilter{Limit: 10})
		require.NoError(t, err)
		require.Equal(t, 5, n)
		require.Equal(t, []string{all[4].SessionID, all[3].SessionID, all[2].SessionID, all[1].SessionID, all[0].SessionID}, sessionIDs(list))
		requireSameTransaction(t, all[4], list[0])
	})

	t.Run("FiltersByStatePluginAndQuery", func(t *testing.T) {
		t.Parallel()
		s, all := setup(t)
		for _, c := range []struct {
			name string
			f    payhook.TransactionFilter
			want []*payhook.Transaction
		}{
			{"state", payhook.TransactionFilter{State: payhook.StatePaid}, []*payhook.Transaction{all[2], all[1]}},
			{"plugin", payhook.TransactionFilter{Plugin: payhook.PluginPaymentRequest}, []*payhook.Transaction{all[4], all[3]}},
			{"state and plugin", payhook.TransactionFilter{State: payhook.StateCreated, Plugin: payhook.PluginECommerce}, []*payhook.Transaction{all[0]}},
			{"order_no", payhook.TransactionFilter{Query: "ORDER-2"}, []*payhook.Transaction{all[2]}},
			{"session_id", payhook.TransactionFilter{Query: all[3].SessionID}, []*payhook.Transaction{all[3]}},
			{"reference_number", payhook.TransactionFilter{Query: all[1].ReferenceNumber}, []*payhook.Transaction{all[1]}},
			{"session_id matches exactly", payhook.TransactionFilter{Query: all[3].SessionID[:10]}, nil},
		} {
			c.f.Limit = 10
			list, n, err := s.ListTransactions(t.Context(), c.f)
			require.NoError(t, err, c.name)
			require.Equal(t, sessionIDs(c.want), sessionIDs(list), c.name)
			require.Equal(t, len(c.want), n, c.name)
		}
	})

	t.Run("PagesWithLimitAndOffset", func(t *testing.T) {
		t.Parallel()
		s, all := setup(t)
		list, n, err := s.ListTransactions(t.Context(), payhook.TransactionFilter{Limit: 2, Offset: 1})
		require.NoError(t, err)
		require.Equal(t, 5, n, "the count is of every match, not of the page")
		require.Equal(t, []string{all[3].SessionID, all[2].SessionID}, sessionIDs(list))

		list, n, err = s.ListTransactions(t.Context(), payhook.TransactionFilter{Limit: 2, Offset: 4})
		require.NoError(t, err)
		require.Equal(t, 5, n)
		require.Equal(t, []string{all[0].SessionID}, sessionIDs(list))
	})

	testFindTransactions(t, h)
}

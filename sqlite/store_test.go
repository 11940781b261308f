package sqlite_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook"
	"github.com/payhook/payhook/sqlite"
)

// setup opens a store on a fresh file and closes it when the test ends.
func setup(t testing.TB) (*sqlite.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "payhook.db")
	s, err := sqlite.Open(context.Background(), path)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s, path
}

// base is a fixed instant (no monotonic reading, UTC) so that stored times compare equal.
var base = time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)

func newTxn() *payhook.Transaction {
	return &payhook.Transaction{
		SessionID:       payhook.NewSessionID(),
		ReferenceNumber: payhook.NewReferenceNumber(),
		OrderNo:         "ORDER-1001",
		Type:            payhook.PluginECommerce,
		Origin:          payhook.OriginAPI,
		State:           payhook.StateCreated,
		Amount:          86000,
		Currency:        "KWD",
		PGCodes:         []string{"credit-card"},
		WebhookURL:      "https://merchant.example/webhook",
		RedirectURL:     "https://merchant.example/back",
		Customer:        payhook.Customer{Email: "jane@example.com", FirstName: "Jane", Address: &payhook.Address{City: "Kuwait City"}},
		Extra:           json.RawMessage(`{"cart":"42"}`),
		ExpiresAt:       base.Add(24 * time.Hour),
		CreatedAt:       base,
		UpdatedAt:       base,
	}
}

// newNote makes a notification of t to url, pending and due at base unless changed.
func newNote(t *payhook.Transaction, url string) *payhook.Notification {
	return &payhook.Notification{
		ID: payhook.NewNotificationID(), Kind: payhook.KindPayment, SessionID: t.SessionID,
		ReferenceNumber: t.ReferenceNumber, URL: url, Status: payhook.StatusPending, RedirectDecider: true,
		CreatedAt: base, UpdatedAt: base, Body: []byte(`{"state":"paid"}`), ContentType: "application/json",
		NextAttemptAt: base,
	}
}

// stored creates a transaction and moves it to paid with the given notifications.
func stored(t *testing.T, s *sqlite.Store, lease payhook.Lease, notes ...func(*payhook.Transaction) *payhook.Notification) (*payhook.Transaction, []*payhook.Notification) {
	t.Helper()
	ctx := context.Background()
	txn := newTxn()
	require.NoError(t, s.CreateTransaction(ctx, txn))
	var ns []*payhook.Notification
	for _, mk := range notes {
		ns = append(ns, mk(txn))
	}
	txn.State = payhook.StatePaid
	require.NoError(t, s.UpdateTransaction(ctx, txn, []payhook.State{payhook.StateCreated}, ns, lease))
	return txn, ns
}

func pendingTo(url string) func(*payhook.Transaction) *payhook.Notification {
	return func(t *payhook.Transaction) *payhook.Notification { return newNote(t, url) }
}

func TestStore_TransactionRoundTrip(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	ctx := context.Background()
	txn := newTxn()
	txn.Initiator = &payhook.Initiator{ID: 7, Email: "admin@merchant.example", Username: "admin"}
	txn.Card = &payhook.Card{Masked: "411111******1111", Expiry: "12/39", Holder: "Jane Doe"}
	txn.GatewayResponse = json.RawMessage(`{"result":"CAPTURED"}`)
	require.NoError(t, s.CreateTransaction(ctx, txn))

	got, err := s.Transaction(ctx, txn.SessionID)
	require.NoError(t, err)
	require.Equal(t, txn, got)

	_, err = s.Transaction(ctx, "no-such-session")
	require.Equal(t, payhook.ENOTFOUND, payhook.ErrorCode(err))

	// A session id or reference number is stored once.
	dup := newTxn()
	dup.SessionID = txn.SessionID
	require.Error(t, s.CreateTransaction(ctx, dup))
	dup = newTxn()
	dup.ReferenceNumber = txn.ReferenceNumber
	require.Error(t, s.CreateTransaction(ctx, dup))
}

func TestStore_UpdateTransactionIsConditional(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	ctx := context.Background()
	txn := newTxn()
	require.NoError(t, s.CreateTransaction(ctx, txn))

	// Wrong from-state: a conflict, and neither the state nor the notifications are stored.
	paid := *txn
	paid.State, paid.UpdatedAt = payhook.StatePaid, base.Add(time.Minute)
	n1 := newNote(txn, "https://merchant.example/a")
	err := s.UpdateTransaction(ctx, &paid, []payhook.State{payhook.StatePending, payhook.StateAttempted}, []*payhook.Notification{n1}, payhook.Lease{})
	require.Equal(t, payhook.ECONFLICT, payhook.ErrorCode(err), "%v", err)
	_, err = s.Notification(ctx, n1.ID)
	require.Equal(t, payhook.ENOTFOUND, payhook.ErrorCode(err))
	got, err := s.Transaction(ctx, txn.SessionID)
	require.NoError(t, err)
	require.Equal(t, payhook.StateCreated, got.State)

	// Right from-state: both are stored.
	require.NoError(t, s.UpdateTransaction(ctx, &paid, []payhook.State{payhook.StateCreated, payhook.StatePending}, []*payhook.Notification{n1}, payhook.Lease{}))
	got, err = s.Transaction(ctx, txn.SessionID)
	require.NoError(t, err)
	require.Equal(t, payhook.StatePaid, got.State)
	require.Equal(t, base.Add(time.Minute), got.UpdatedAt)
	n, err := s.Notification(ctx, n1.ID)
	require.NoError(t, err)
	require.Equal(t, payhook.StatusPending, n.Status)
	require.Equal(t, n1.Body, n.Body)
	require.Empty(t, n.Attempts)

	// The same change again: the state moved on, so it conflicts.
	n2 := newNote(txn, "https://merchant.example/b")
	err = s.UpdateTransaction(ctx, &paid, []payhook.State{payhook.StateCreated}, []*payhook.Notification{n2}, payhook.Lease{})
	require.Equal(t, payhook.ECONFLICT, payhook.ErrorCode(err))
	_, err = s.Notification(ctx, n2.ID)
	require.Equal(t, payhook.ENOTFOUND, payhook.ErrorCode(err))

	// A notification that cannot be stored (its id is taken) undoes the state change too.
	refunded := paid
	refunded.State = payhook.StateRefunded
	n3 := newNote(txn, "https://merchant.example/c")
	n3.ID = n1.ID
	require.Error(t, s.UpdateTransaction(ctx, &refunded, []payhook.State{payhook.StatePaid}, []*payhook.Notification{newNote(txn, "https://x.example/"), n3}, payhook.Lease{}))
	got, err = s.Transaction(ctx, txn.SessionID)
	require.NoError(t, err)
	require.Equal(t, payhook.StatePaid, got.State, "never the state without its notifications")
	_, total, err := s.ListNotifications(ctx, payhook.NotificationFilter{SessionID: txn.SessionID})
	require.NoError(t, err)
	require.Equal(t, 1, total)

	// An unknown transaction is a conflict too (nothing to update).
	ghost := newTxn()
	err = s.UpdateTransaction(ctx, ghost, []payhook.State{payhook.StateCreated}, []*payhook.Notification{newNote(ghost, "https://merchant.example/")}, payhook.Lease{})
	require.Equal(t, payhook.ECONFLICT, payhook.ErrorCode(err))
}

// TestStore_UpdateTransactionRace: many writers try the same state change at once; one
// wins, and only its notification exists.
func TestStore_UpdateTransactionRace(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	ctx := context.Background()
	txn := newTxn()
	require.NoError(t, s.CreateTransaction(ctx, txn))
	const n = 40
	var wins atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := *txn
			mine.State = payhook.StatePaid
			note := newNote(txn, fmt.Sprintf("https://merchant.example/%d", i))
			<-start
			err := s.UpdateTransaction(ctx, &mine, []payhook.State{payhook.StateCreated}, []*payhook.Notification{note}, payhook.Lease{})
			switch payhook.ErrorCode(err) {
			case "":
				wins.Add(1)
			case payhook.ECONFLICT:
			default:
				t.Errorf("update: %v", err)
			}
		}()
	}
	close(start)
	wg.Wait()
	require.EqualValues(t, 1, wins.Load())
	_, total, err := s.ListNotifications(ctx, payhook.NotificationFilter{SessionID: txn.SessionID})
	require.NoError(t, err)
	require.Equal(t, 1, total)
}

func TestStore_NotSentNotificationsAreNeverDue(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	ctx := context.Background()
	_, ns := stored(t, s, payhook.Lease{}, func(t *payhook.Transaction) *payhook.Notification {
		n := newNote(t, "")
		n.Status, n.Reason = payhook.StatusNotSent, payhook.ReasonNoURL
		return n
	})
	got, err := s.Notification(ctx, ns[0].ID)
	require.NoError(t, err)
	require.Equal(t, payhook.StatusNotSent, got.Status)
	require.Equal(t, payhook.ReasonNoURL, got.Reason)
	require.Empty(t, got.URL)
	claimed, err := s.ClaimDue(ctx, base.Add(time.Hour), payhook.Lease{Owner: "a", Until: base.Add(2 * time.Hour)}, 10)
	require.NoError(t, err)
	require.Empty(t, claimed)
}

func TestStore_RecordAttempt(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	ctx := context.Background()
	lease := payhook.Lease{Owner: "w1", Until: base.Add(time.Hour)}
	_, ns := stored(t, s, lease, pendingTo("https://merchant.example/hook"))
	id := ns[0].ID

	a1 := payhook.Attempt{StartedAt: base.Add(time.Second), Duration: 300 * time.Millisecond, Error: "timeout after 0.3s"}
	require.NoError(t, s.RecordAttempt(ctx, id, a1, payhook.StatusPending, base.Add(2*time.Second), lease))
	n, err := s.Notification(ctx, id)
	require.NoError(t, err)
	require.Equal(t, payhook.StatusPending, n.Status)
	require.Equal(t, 1, n.RoundAttempts)
	require.Equal(t, base.Add(2*time.Second), n.NextAttemptAt)
	require.Equal(t, base.Add(time.Second+300*time.Millisecond), n.UpdatedAt)

	// Still leased by w1 while it waits: nobody else claims it.
	claimed, err := s.ClaimDue(ctx, base.Add(3*time.Second), payhook.Lease{Owner: "w2", Until: base.Add(time.Hour)}, 10)
	require.NoError(t, err)
	require.Empty(t, claimed)

	a2 := payhook.Attempt{StartedAt: base.Add(2 * time.Second), Duration: 1500 * time.Microsecond, StatusCode: 500, ResponseExcerpt: "oops"}
	require.NoError(t, s.RecordAttempt(ctx, id, a2, payhook.StatusFailed, time.Time{}, payhook.Lease{}))
	n, err = s.Notification(ctx, id)
	require.NoError(t, err)
	require.Equal(t, payhook.StatusFailed, n.Status)
	require.Equal(t, 2, n.RoundAttempts)
	a1.Number, a2.Number = 1, 2
	require.Equal(t, []payhook.Attempt{a1, a2}, n.Attempts)

	// A re-send starts a new round; attempt numbers go on.
	_, ok, err := s.Resend(ctx, id, base.Add(time.Minute), lease)
	require.NoError(t, err)
	require.True(t, ok)
	a3 := payhook.Attempt{StartedAt: base.Add(time.Minute), Duration: time.Millisecond, StatusCode: 200, ResponseExcerpt: "ok"}
	require.NoError(t, s.RecordAttempt(ctx, id, a3, payhook.StatusDelivered, time.Time{}, payhook.Lease{}))
	n, err = s.Notification(ctx, id)
	require.NoError(t, err)
	require.Equal(t, payhook.StatusDelivered, n.Status)
	require.Equal(t, 1, n.RoundAttempts)
	require.Len(t, n.Attempts, 3)
	require.Equal(t, 3, n.Attempts[2].Number)
	require.Equal(t, 200, n.Attempts[2].StatusCode)

	require.Error(t, s.RecordAttempt(ctx, "msg_nosuchnotification", a3, payhook.StatusDelivered, time.Time{}, payhook.Lease{}))
}

func TestStore_ClaimDue(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	ctx := context.Background()
	now := base.Add(time.Minute)
	// due: pending, due, not leased.
	_, due := stored(t, s, payhook.Lease{}, pendingTo("https://merchant.example/due"))
	// later: pending, due only in an hour.
	_, later := stored(t, s, payhook.Lease{}, func(t *payhook.Transaction) *payhook.Notification {
		n := newNote(t, "https://merchant.example/later")
		n.NextAttemptAt = base.Add(time.Hour)
		return n
	})
	// leased: pending and due, but another worker holds it for 10 minutes.
	_, leased := stored(t, s, payhook.Lease{Owner: "other", Until: base.Add(10 * time.Minute)}, pendingTo("https://merchant.example/leased"))
	// finished: delivered and failed are never claimed.
	_, done := stored(t, s, payhook.Lease{}, pendingTo("https://merchant.example/done"))
	require.NoError(t, s.RecordAttempt(ctx, done[0].ID, payhook.Attempt{StartedAt: base, StatusCode: 200}, payhook.StatusDelivered, time.Time{}, payhook.Lease{}))
	_, failed := stored(t, s, payhook.Lease{}, pendingTo("https://merchant.example/failed"))
	require.NoError(t, s.RecordAttempt(ctx, failed[0].ID, payhook.Attempt{StartedAt: base, StatusCode: 500}, payhook.StatusFailed, time.Time{}, payhook.Lease{}))

	mine := payhook.Lease{Owner: "me", Until: now.Add(5 * time.Minute)}
	claimed, err := s.ClaimDue(ctx, now, mine, 10)
	require.NoError(t, err)
	require.Equal(t, []string{due[0].ID}, ids(claimed))
	require.Equal(t, due[0].Body, claimed[0].Body)
	require.Equal(t, "https://merchant.example/due", claimed[0].URL)

	// A second claim finds it leased.
	claimed, err = s.ClaimDue(ctx, now, payhook.Lease{Owner: "you", Until: now.Add(5 * time.Minute)}, 10)
	require.NoError(t, err)
	require.Empty(t, claimed)

	// Released, it is due again.
	require.NoError(t, s.ReleaseLease(ctx, due[0].ID))
	claimed, err = s.ClaimDue(ctx, now, mine, 10)
	require.NoError(t, err)
	require.Equal(t, []string{due[0].ID}, ids(claimed))

	// Once the leases run out and the retry is due, the others come too, up to the limit,
	// the longest due first.
	late := payhook.Lease{Owner: "late", Until: base.Add(3 * time.Hour)}
	claimed, err = s.ClaimDue(ctx, base.Add(2*time.Hour), late, 2)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{due[0].ID, leased[0].ID}, ids(claimed))
	claimed, err = s.ClaimDue(ctx, base.Add(2*time.Hour), late, 2)
	require.NoError(t, err)
	require.Equal(t, []string{later[0].ID}, ids(claimed))
	claimed, err = s.ClaimDue(ctx, base.Add(2*time.Hour), late, 2)
	require.NoError(t, err)
	require.Empty(t, claimed)
}

func ids(ns []*payhook.Notification) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.ID
	}
	return out
}

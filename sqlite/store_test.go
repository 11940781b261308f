package sqlite_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook"
	"github.com/payhook/payhook/payload"
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
	require.NoError(t, s.ApplyChange(ctx, payhook.Change{Transaction: txn, From: []payhook.State{payhook.StateCreated}, Notifications: ns, Lease: lease}))
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
	err := s.ApplyChange(ctx, payhook.Change{Transaction: &paid, From: []payhook.State{payhook.StatePending, payhook.StateAttempted}, Notifications: []*payhook.Notification{n1}, Lease: payhook.Lease{}})
	require.Equal(t, payhook.ECONFLICT, payhook.ErrorCode(err), "%v", err)
	_, err = s.Notification(ctx, n1.ID)
	require.Equal(t, payhook.ENOTFOUND, payhook.ErrorCode(err))
	got, err := s.Transaction(ctx, txn.SessionID)
	require.NoError(t, err)
	require.Equal(t, payhook.StateCreated, got.State)

	// Right from-state: both are stored.
	require.NoError(t, s.ApplyChange(ctx, payhook.Change{Transaction: &paid, From: []payhook.State{payhook.StateCreated, payhook.StatePending}, Notifications: []*payhook.Notification{n1}, Lease: payhook.Lease{}}))
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
	err = s.ApplyChange(ctx, payhook.Change{Transaction: &paid, From: []payhook.State{payhook.StateCreated}, Notifications: []*payhook.Notification{n2}, Lease: payhook.Lease{}})
	require.Equal(t, payhook.ECONFLICT, payhook.ErrorCode(err))
	_, err = s.Notification(ctx, n2.ID)
	require.Equal(t, payhook.ENOTFOUND, payhook.ErrorCode(err))

	// A notification that cannot be stored (its id is taken) undoes the state change too.
	refunded := paid
	refunded.State = payhook.StateRefunded
	n3 := newNote(txn, "https://merchant.example/c")
	n3.ID = n1.ID
	require.Error(t, s.ApplyChange(ctx, payhook.Change{Transaction: &refunded, From: []payhook.State{payhook.StatePaid}, Notifications: []*payhook.Notification{newNote(txn, "https://x.example/"), n3}, Lease: payhook.Lease{}}))
	got, err = s.Transaction(ctx, txn.SessionID)
	require.NoError(t, err)
	require.Equal(t, payhook.StatePaid, got.State, "never the state without its notifications")
	_, total, err := s.ListNotifications(ctx, payhook.NotificationFilter{SessionID: txn.SessionID})
	require.NoError(t, err)
	require.Equal(t, 1, total)

	// An unknown transaction is a conflict too (nothing to update).
	ghost := newTxn()
	err = s.ApplyChange(ctx, payhook.Change{Transaction: ghost, From: []payhook.State{payhook.StateCreated}, Notifications: []*payhook.Notification{newNote(ghost, "https://merchant.example/")}, Lease: payhook.Lease{}})
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
			err := s.ApplyChange(ctx, payhook.Change{Transaction: &mine, From: []payhook.State{payhook.StateCreated}, Notifications: []*payhook.Notification{note}, Lease: payhook.Lease{}})
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
	require.ErrorIs(t, s.RecordAttempt(ctx, id, a2, payhook.StatusFailed, time.Time{}, payhook.Lease{Owner: "w2"}), payhook.ErrLeaseLost,
		"only the lease's owner records an attempt (fencing)")
	require.NoError(t, s.RecordAttempt(ctx, id, a2, payhook.StatusFailed, time.Time{}, lease))
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
	require.NoError(t, s.RecordAttempt(ctx, id, a3, payhook.StatusDelivered, time.Time{}, lease))
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
	require.NoError(t, s.ReleaseLease(ctx, due[0].ID, mine.Owner))
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

func TestStore_Resend(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	ctx := context.Background()
	lease := payhook.Lease{Owner: "w", Until: base.Add(time.Hour)}
	_, ns := stored(t, s, payhook.Lease{}, pendingTo("https://merchant.example/hook"), func(t *payhook.Transaction) *payhook.Notification {
		n := newNote(t, "")
		n.Status, n.Reason = payhook.StatusNotSent, payhook.ReasonDisabled
		return n
	})
	id, notSent := ns[0].ID, ns[1].ID

	// Pending: not queued twice.
	n, ok, err := s.Resend(ctx, id, base.Add(time.Minute), lease)
	require.NoError(t, err)
	require.False(t, ok)
	require.Equal(t, payhook.StatusPending, n.Status)

	// Failed: pending again, same id and body, a new round, leased to the caller.
	require.NoError(t, s.RecordAttempt(ctx, id, payhook.Attempt{StartedAt: base, StatusCode: 500}, payhook.StatusFailed, time.Time{}, payhook.Lease{}))
	n, ok, err = s.Resend(ctx, id, base.Add(time.Minute), lease)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, id, n.ID)
	require.Equal(t, payhook.StatusPending, n.Status)
	require.Equal(t, 0, n.RoundAttempts)
	require.Equal(t, ns[0].Body, n.Body)
	require.Equal(t, base.Add(time.Minute), n.NextAttemptAt)
	claimed, err := s.ClaimDue(ctx, base.Add(2*time.Minute), payhook.Lease{Owner: "other", Until: base.Add(3 * time.Minute)}, 10)
	require.NoError(t, err)
	require.Empty(t, claimed, "a re-sent notification is leased to whoever re-sent it")

	// And again while it is pending: not queued twice.
	_, ok, err = s.Resend(ctx, id, base.Add(time.Minute), lease)
	require.NoError(t, err)
	require.False(t, ok)

	// Delivered: re-sendable too.
	require.NoError(t, s.RecordAttempt(ctx, id, payhook.Attempt{StartedAt: base.Add(time.Minute), StatusCode: 200}, payhook.StatusDelivered, time.Time{}, lease))
	_, ok, err = s.Resend(ctx, id, base.Add(2*time.Minute), lease)
	require.NoError(t, err)
	require.True(t, ok)

	// Not sent: there is nothing to re-send.
	_, ok, err = s.Resend(ctx, notSent, base.Add(time.Minute), lease)
	require.Equal(t, payhook.ECONFLICT, payhook.ErrorCode(err), "%v", err)
	require.False(t, ok)
	n, err = s.Notification(ctx, notSent)
	require.NoError(t, err)
	require.Equal(t, payhook.StatusNotSent, n.Status)

	_, _, err = s.Resend(ctx, "msg_nosuchnotification", base, lease)
	require.Equal(t, payhook.ENOTFOUND, payhook.ErrorCode(err))
}

func TestStore_ListNotifications(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	ctx := context.Background()
	// Ten notifications, one a minute; every third an operation to another URL; two
	// sessions.
	var all []*payhook.Notification
	var sessions [2]string
	for i := range 10 {
		_, ns := stored(t, s, payhook.Lease{}, func(txn *payhook.Transaction) *payhook.Notification {
			n := newNote(txn, "https://merchant.example/a")
			n.CreatedAt = base.Add(time.Duration(i) * time.Minute)
			if i%3 == 0 {
				n.Kind, n.URL = payhook.KindOperation, "https://merchant.example/ops"
			}
			return n
		})
		sessions[i%2] = ns[0].SessionID
		all = append(all, ns[0])
	}
	require.NoError(t, s.RecordAttempt(ctx, all[4].ID, payhook.Attempt{StartedAt: base, StatusCode: 200, ResponseExcerpt: "ok"}, payhook.StatusDelivered, time.Time{}, payhook.Lease{}))
	newestFirst := func(idx ...int) []string {
		out := make([]string, len(idx))
		for i, j := range idx {
			out[i] = all[j].ID
		}
		return out
	}

	tests := []struct {
		name  string
		f     payhook.NotificationFilter
		want  []string
		total int
	}{
		{"all, newest first", payhook.NotificationFilter{}, newestFirst(9, 8, 7, 6, 5, 4, 3, 2, 1, 0), 10},
		{"first page", payhook.NotificationFilter{Limit: 3}, newestFirst(9, 8, 7), 10},
		{"second page", payhook.NotificationFilter{Limit: 3, Offset: 3}, newestFirst(6, 5, 4), 10},
		{"last page", payhook.NotificationFilter{Limit: 3, Offset: 9}, newestFirst(0), 10},
		{"past the end", payhook.NotificationFilter{Limit: 3, Offset: 10}, []string{}, 10},
		{"kind", payhook.NotificationFilter{Kind: payhook.KindOperation}, newestFirst(9, 6, 3, 0), 4},
		{"url", payhook.NotificationFilter{URL: "https://merchant.example/a"}, newestFirst(8, 7, 5, 4, 2, 1), 6},
		{"status", payhook.NotificationFilter{Status: payhook.StatusDelivered}, newestFirst(4), 1},
		{"status pending", payhook.NotificationFilter{Status: payhook.StatusPending, Limit: 2}, newestFirst(9, 8), 9},
		{"since is inclusive", payhook.NotificationFilter{Since: base.Add(7 * time.Minute)}, newestFirst(9, 8, 7), 3},
		{"until is exclusive", payhook.NotificationFilter{Until: base.Add(2 * time.Minute)}, newestFirst(1, 0), 2},
		{"since and until", payhook.NotificationFilter{Since: base.Add(3 * time.Minute), Until: base.Add(5 * time.Minute)}, newestFirst(4, 3), 2},
		{"session", payhook.NotificationFilter{SessionID: all[3].SessionID}, newestFirst(3), 1},
		{"combined", payhook.NotificationFilter{Kind: payhook.KindPayment, Status: payhook.StatusPending, Since: base.Add(4 * time.Minute)}, newestFirst(8, 7, 5), 3},
		{"no match", payhook.NotificationFilter{URL: "https://nowhere.example/"}, []string{}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, total, err := s.ListNotifications(ctx, tt.f)
			require.NoError(t, err)
			require.Equal(t, tt.total, total)
			require.Equal(t, tt.want, ids(got))
		})
	}

	got, _, err := s.ListNotifications(ctx, payhook.NotificationFilter{Status: payhook.StatusDelivered})
	require.NoError(t, err)
	require.Len(t, got[0].Attempts, 1, "the list carries the attempts")
	require.Equal(t, "ok", got[0].Attempts[0].ResponseExcerpt)
	got, _, err = s.ListNotifications(ctx, payhook.NotificationFilter{Limit: 1})
	require.NoError(t, err)
	require.NotNil(t, got[0].Attempts)
	require.Empty(t, got[0].Attempts)
}

// TestStore_GroupCommitUnderConcurrency: 200 writers at once all succeed and every row is
// there.
func TestStore_GroupCommitUnderConcurrency(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	ctx := context.Background()
	const n = 200
	txns := make([]*payhook.Transaction, n)
	notes := make([]*payhook.Notification, n)
	for i := range txns {
		txns[i] = newTxn()
		notes[i] = newNote(txns[i], fmt.Sprintf("https://merchant.example/%d", i))
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if errs[i] = s.CreateTransaction(ctx, txns[i]); errs[i] != nil {
				return
			}
			paid := *txns[i]
			paid.State = payhook.StatePaid
			errs[i] = s.ApplyChange(ctx, payhook.Change{Transaction: &paid, From: []payhook.State{payhook.StateCreated}, Notifications: []*payhook.Notification{notes[i]}, Lease: payhook.Lease{}})
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "writer %d", i)
	}
	for _, txn := range txns {
		got, err := s.Transaction(ctx, txn.SessionID)
		require.NoError(t, err)
		require.Equal(t, payhook.StatePaid, got.State)
	}
	_, total, err := s.ListNotifications(ctx, payhook.NotificationFilter{})
	require.NoError(t, err)
	require.Equal(t, n, total)
}

// TestStore_FailingOpDoesNotFailItsBatch: writers commit together; the one whose insert
// breaks a constraint fails alone.
func TestStore_FailingOpDoesNotFailItsBatch(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	ctx := context.Background()
	taken := newTxn()
	require.NoError(t, s.CreateTransaction(ctx, taken))
	for round := range 5 {
		const n = 50
		txns := make([]*payhook.Transaction, n)
		for i := range txns {
			txns[i] = newTxn()
		}
		bad := (round * 7) % n
		txns[bad].ReferenceNumber = taken.ReferenceNumber
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				errs[i] = s.CreateTransaction(ctx, txns[i])
			}()
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			_, rerr := s.Transaction(ctx, txns[i].SessionID)
			if i == bad {
				require.ErrorContains(t, err, "UNIQUE", "round %d: the duplicate fails", round)
				require.Equal(t, payhook.ENOTFOUND, payhook.ErrorCode(rerr))
				continue
			}
			require.NoError(t, err, "round %d: writer %d beside the duplicate", round, i)
			require.NoError(t, rerr, "round %d: writer %d's row", round, i)
		}
	}
}

// TestStore_FailingUpdateInABatchLeavesNoHalf: among concurrent state changes, the one
// whose notification cannot be stored fails whole (its state change is undone with it);
// its neighbours in the same commit are stored whole.
func TestStore_FailingUpdateInABatchLeavesNoHalf(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	ctx := context.Background()
	_, existing := stored(t, s, payhook.Lease{}, pendingTo("https://merchant.example/first"))
	const n = 50
	txns := make([]*payhook.Transaction, n)
	notes := make([]*payhook.Notification, n)
	for i := range txns {
		txns[i] = newTxn()
		require.NoError(t, s.CreateTransaction(ctx, txns[i]))
		notes[i] = newNote(txns[i], "https://merchant.example/")
	}
	const bad = 17
	notes[bad].ID = existing[0].ID
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			paid := *txns[i]
			paid.State = payhook.StatePaid
			<-start
			errs[i] = s.ApplyChange(ctx, payhook.Change{Transaction: &paid, From: []payhook.State{payhook.StateCreated}, Notifications: []*payhook.Notification{notes[i]}, Lease: payhook.Lease{}})
		}()
	}
	close(start)
	wg.Wait()
	for i := range n {
		got, err := s.Transaction(ctx, txns[i].SessionID)
		require.NoError(t, err)
		if i == bad {
			require.Error(t, errs[i])
			require.Equal(t, payhook.StateCreated, got.State, "no state change without its notification")
			continue
		}
		require.NoError(t, errs[i], "writer %d", i)
		require.Equal(t, payhook.StatePaid, got.State)
		_, err = s.Notification(ctx, notes[i].ID)
		require.NoError(t, err)
	}
	first, err := s.Notification(ctx, existing[0].ID)
	require.NoError(t, err)
	require.Equal(t, "https://merchant.example/first", first.URL, "the existing notification is untouched")
}

// TestStore_ReopenClearsLeasesKeepsData: a restart frees what the previous process had
// leased (that is how a crash mid-attempt is resumed) and keeps everything else.
func TestStore_ReopenClearsLeasesKeepsData(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "payhook.db")
	s, err := sqlite.Open(ctx, path)
	require.NoError(t, err)
	far := payhook.Lease{Owner: "crashed", Until: time.Now().Add(24 * time.Hour)}
	txn, ns := stored(t, s, far, pendingTo("https://merchant.example/hook"))
	_, done := stored(t, s, payhook.Lease{}, pendingTo("https://merchant.example/done"))
	require.NoError(t, s.RecordAttempt(ctx, done[0].ID, payhook.Attempt{StartedAt: base, StatusCode: 200}, payhook.StatusDelivered, time.Time{}, payhook.Lease{}))
	claimed, err := s.ClaimDue(ctx, time.Now(), payhook.Lease{Owner: "x", Until: time.Now().Add(time.Minute)}, 10)
	require.NoError(t, err)
	require.Empty(t, claimed, "leased by the first process")
	require.NoError(t, s.Close())

	s, err = sqlite.Open(ctx, path)
	require.NoError(t, err)
	defer s.Close()
	got, err := s.Transaction(ctx, txn.SessionID)
	require.NoError(t, err)
	require.Equal(t, payhook.StatePaid, got.State)
	claimed, err = s.ClaimDue(ctx, time.Now(), payhook.Lease{Owner: "restarted", Until: time.Now().Add(time.Minute)}, 10)
	require.NoError(t, err)
	require.Equal(t, []string{ns[0].ID}, ids(claimed))
	n, err := s.Notification(ctx, done[0].ID)
	require.NoError(t, err)
	require.Equal(t, payhook.StatusDelivered, n.Status)
	require.Len(t, n.Attempts, 1)
}

// TestStore_CloseFinishesQueuedWrites: writers racing with Close either commit (and the
// row is there after a reopen) or are told the store is closed (and it is not); none
// hangs, none is told it failed when it committed.
func TestStore_CloseFinishesQueuedWrites(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for round := range 5 {
		path := filepath.Join(t.TempDir(), fmt.Sprintf("payhook-%d.db", round))
		s, err := sqlite.Open(ctx, path)
		require.NoError(t, err)
		const n = 100
		txns := make([]*payhook.Transaction, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		var started sync.WaitGroup
		for i := range n {
			txns[i] = newTxn()
			wg.Add(1)
			started.Add(1)
			go func() {
				defer wg.Done()
				started.Done()
				errs[i] = s.CreateTransaction(ctx, txns[i])
			}()
		}
		started.Wait()
		require.NoError(t, s.Close())
		finished := make(chan struct{})
		go func() { wg.Wait(); close(finished) }()
		select {
		case <-finished:
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: writers still waiting 10s after Close returned", round)
		}

		s, err = sqlite.Open(ctx, path)
		require.NoError(t, err)
		committed := 0
		for i, txn := range txns {
			_, rerr := s.Transaction(ctx, txn.SessionID)
			if errs[i] == nil {
				require.NoError(t, rerr, "round %d: writer %d was told it committed", round, i)
				committed++
			} else {
				require.Equal(t, payhook.ENOTFOUND, payhook.ErrorCode(rerr), "round %d: writer %d was told %v", round, i, errs[i])
			}
		}
		require.NoError(t, s.Close())
		t.Logf("round %d: %d of %d writes committed before Close", round, committed, n)
	}

	// Queued writes that Close finds are finished, not dropped.
	path := filepath.Join(t.TempDir(), "queued.db")
	s, err := sqlite.Open(ctx, path)
	require.NoError(t, err)
	txn := newTxn()
	require.NoError(t, s.CreateTransaction(ctx, txn))
	require.NoError(t, s.Close())
	require.Error(t, s.CreateTransaction(ctx, newTxn()), "a closed store refuses writes")
	s, err = sqlite.Open(ctx, path)
	require.NoError(t, err)
	defer s.Close()
	_, err = s.Transaction(ctx, txn.SessionID)
	require.NoError(t, err)
}

func TestStore_SettingsAndPlugins(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	ctx := context.Background()
	_, ok, err := s.Settings(ctx)
	require.NoError(t, err)
	require.False(t, ok)
	st := payhook.DefaultSettings("pu9MpX3yPR")
	st.Enabled, st.Timeout, st.Emails = true, 0.5, []string{"ops@merchant.example"}
	require.NoError(t, s.SaveSettings(ctx, &st))
	got, ok, err := s.Settings(ctx)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, st, got)

	ps := payhook.PluginSettings{Plugin: payhook.PluginECommerce, WebhookURL: "https://merchant.example/p", StateFilterEnabled: true, States: []payhook.State{payhook.StatePaid}}
	require.NoError(t, s.PutPluginSettings(ctx, ps))
	gotPS, ok, err := s.PluginSettings(ctx, payhook.PluginECommerce)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, ps, gotPS)
	list, err := s.ListPluginSettings(ctx)
	require.NoError(t, err)
	require.Equal(t, []payhook.PluginSettings{ps}, list)
	require.NoError(t, s.DeletePluginSettings(ctx, payhook.PluginECommerce))
	require.Equal(t, payhook.ENOTFOUND, payhook.ErrorCode(s.DeletePluginSettings(ctx, payhook.PluginECommerce)))
	_, ok, err = s.PluginSettings(ctx, payhook.PluginECommerce)
	require.NoError(t, err)
	require.False(t, ok)
}

func TestMigrate_Idempotent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "payhook.db")
	files, err := filepath.Glob("migration/*.sql")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	n, err := sqlite.Migrate(ctx, path)
	require.NoError(t, err)
	require.Equal(t, len(files)+1, n, "every embedded migration runs on a fresh file, and the one in Go")
	n, err = sqlite.Migrate(ctx, path)
	require.NoError(t, err)
	require.Equal(t, 0, n)
	s, err := sqlite.Open(ctx, path)
	require.NoError(t, err)
	require.NoError(t, s.Ping(ctx))
	require.NoError(t, s.Close())
}

// BenchmarkStore_CreateTransactionParallel shows group commit: with many writers at once
// one fsync carries many rows, so the rate is far above the ~2,600 commits/s that one
// synchronous=FULL commit per row allows on this box (compare with the serial benchmark).
func BenchmarkStore_CreateTransactionParallel(b *testing.B) {
	s, _ := setup(b)
	ctx := context.Background()
	b.SetParallelism(32)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := s.CreateTransaction(ctx, newTxn()); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkStore_CreateTransactionSerial is one writer, one commit per row: the baseline.
func BenchmarkStore_CreateTransactionSerial(b *testing.B) {
	s, _ := setup(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := s.CreateTransaction(ctx, newTxn()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// Children kept inside a transaction's document by an older payhook move to rows of their
// own when the database is migrated.
func TestMigrate_MovesChildrenFromDocumentsToRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "payhook.db")
	s, err := sqlite.Open(ctx, path)
	require.NoError(t, err)
	now := time.Now().UTC().Truncate(time.Microsecond)
	txn := &payhook.Transaction{SessionID: "legacy-1", ReferenceNumber: "PHLEGACY1", Type: payhook.PluginECommerce, Origin: payhook.OriginAPI,
		State: payhook.StatePaid, Amount: 86000, PaidAmount: 86000, RefundedAmount: 2000, Currency: "KWD", CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(time.Hour)}
	require.NoError(t, s.CreateTransaction(ctx, txn))
	require.NoError(t, s.Close())
	// As an older payhook left it: the children inside the document, the Go migration not run.
	txn.Children = []payhook.Child{{SessionID: "c1", ReferenceNumber: "R1", Operation: payhook.OpRefund, Amount: 1000, State: payhook.ChildRefunded, Success: true, CreatedAt: now},
		{SessionID: "c2", ReferenceNumber: "R2", Operation: payhook.OpRefund, Amount: 1000, State: payhook.ChildRefunded, Success: true, CreatedAt: now}}
	doc, err := json.Marshal(txn)
	require.NoError(t, err)
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	_, err = db.Exec(`UPDATE transactions SET doc = ? WHERE session_id = 'legacy-1'`, string(doc))
	require.NoError(t, err)
	_, err = db.Exec(`DELETE FROM schema_migrations WHERE name LIKE 'go/%'`)
	require.NoError(t, err)
	require.NoError(t, db.Close())

	s, err = sqlite.Open(ctx, path)
	require.NoError(t, err)
	defer s.Close()
	head, err := s.TransactionHead(ctx, "legacy-1")
	require.NoError(t, err)
	require.Nil(t, head.Children, "the document no longer carries them")
	full, err := s.Transaction(ctx, "legacy-1")
	require.NoError(t, err)
	require.Equal(t, txn.Children, full.Children, "they are rows now, in their order")
}

// TestMigrate_0009OperationNotificationsGetTheirPayloadsReference: operation
// notifications stored with the parent's reference_number (before 0009) show the one in
// their payload, the operation's own, JSON and XML alike; payment notifications keep theirs.
func TestMigrate_0009OperationNotificationsGetTheirPayloadsReference(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, path := setup(t)
	txn := newTxn()
	require.NoError(t, s.CreateTransaction(ctx, txn))
	child := &payhook.Child{SessionID: payhook.NewSessionID(), ReferenceNumber: "PHCHILD00001", Operation: payhook.OpRefund,
		Amount: 1000, State: payhook.ChildRefunded, Success: true, CreatedAt: base,
		GatewayResponse: json.RawMessage(`{"reference_number":"GW-OWN-REF"}`)}
	st := payhook.DefaultSettings("k-0123456789")
	note := func(kind payhook.Kind, tree map[string]any, format string) *payhook.Notification {
		st.Format = format
		body, ct, err := payload.Encode(tree, st)
		require.NoError(t, err)
		return &payhook.Notification{ID: payhook.NewNotificationID(), Kind: kind, SessionID: txn.SessionID,
			ReferenceNumber: txn.ReferenceNumber, URL: "https://merchant.example/hook", Status: payhook.StatusDelivered,
			CreatedAt: base, UpdatedAt: base, Body: body, ContentType: ct, NextAttemptAt: base}
	}
	opJSON := note(payhook.KindOperation, payload.Operation(txn, child, base), payhook.FormatJSON)
	opXML := note(payhook.KindOperation, payload.Operation(txn, child, base), payhook.FormatXML)
	pay := note(payhook.KindPayment, payload.Payment(txn, base), payhook.FormatJSON)
	require.NoError(t, s.AddNotifications(ctx, []*payhook.Notification{opJSON, opXML, pay}, payhook.Lease{}))
	require.NoError(t, s.Close())
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, `DELETE FROM schema_migrations WHERE name = 'migration/0009_operation_notification_reference.sql'`)
	require.NoError(t, err)
	require.NoError(t, db.Close())

	n, err := sqlite.Migrate(ctx, path)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	s2, err := sqlite.Open(ctx, path)
	require.NoError(t, err)
	defer s2.Close()
	for _, c := range []struct {
		n    *payhook.Notification
		want string
	}{{opJSON, "PHCHILD00001"}, {opXML, "PHCHILD00001"}, {pay, txn.ReferenceNumber}} {
		got, err := s2.Notification(ctx, c.n.ID)
		require.NoError(t, err)
		require.Equal(t, c.want, got.ReferenceNumber, "%s %s", c.n.Kind, c.n.ContentType)
	}
}

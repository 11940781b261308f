package delivery_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook"
	"github.com/payhook/payhook/delivery"
	"github.com/payhook/payhook/sqlite"
)

// outageStore is the real SQLite store whose lease releases fail while down is set, as
// they do when the database is unreachable.
type outageStore struct {
	*sqlite.Store
	down *atomic.Bool
}

func (s outageStore) ReleaseLease(ctx context.Context, id, owner string) error {
	if s.down.Load() {
		return &payhook.Error{Code: payhook.EUNAVAILABLE, Message: "database down"}
	}
	return s.Store.ReleaseLease(ctx, id, owner)
}

// A database outage while a notification waits for its retry (settings unreadable, the
// lease not given back) must not leave it leased forever by a process that forgot it:
// once the database answers again, it is delivered without a restart.
func TestEngine_DatabaseOutageDuringARetryDoesNotStrandTheNotification(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "payhook.db"))
	require.NoError(t, err)
	var down atomic.Bool
	var delivered atomic.Int32
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		delivered.Add(1)
		w.WriteHeader(http.StatusOK)
	}))
	defer rc.Close()
	st := testSettings()
	engine := delivery.New(delivery.Config{
		Store: outageStore{Store: store, down: &down},
		Settings: func(context.Context) (payhook.Settings, error) {
			if down.Load() {
				return payhook.Settings{}, errors.New("database down")
			}
			return st, nil
		},
		Sender: delivery.NewSender(true, nil), Owner: "outage-test", SweepInterval: 50 * time.Millisecond,
		LeaseTTL: 600 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	engine.Start()
	defer func() {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		engine.Shutdown(sctx)
		store.Close()
	}()

	down.Store(true) // the database goes away before the attempt
	now := time.Now().UTC()
	txn := &payhook.Transaction{SessionID: payhook.NewSessionID(), ReferenceNumber: payhook.NewReferenceNumber(),
		Type: payhook.PluginECommerce, Origin: payhook.OriginAPI, State: payhook.StateCreated, Amount: 86000,
		Currency: "KWD", CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(time.Hour)}
	require.NoError(t, store.CreateTransaction(ctx, txn))
	n := &payhook.Notification{ID: payhook.NewNotificationID(), Kind: payhook.KindPayment, SessionID: txn.SessionID,
		ReferenceNumber: txn.ReferenceNumber, URL: rc.URL, Status: payhook.StatusPending, CreatedAt: now, UpdatedAt: now,
		Body: []byte(`{}`), ContentType: "application/json", NextAttemptAt: now}
	txn.State = payhook.StatePaid
	require.NoError(t, store.ApplyChange(ctx, payhook.Change{Transaction: txn, From: []payhook.State{payhook.StateCreated},
		Notifications: []*payhook.Notification{n}, Lease: engine.Lease(st)}))
	engine.Enqueue(n)
	time.Sleep(1500 * time.Millisecond) // several renewals while the database is "down"
	require.Zero(t, delivered.Load())
	down.Store(false)
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := store.Notification(ctx, n.ID)
		require.NoError(t, err)
		if got.Status == payhook.StatusDelivered {
			break
		}
		require.True(t, time.Now().Before(deadline), "still %s after the database came back", got.Status)
		time.Sleep(20 * time.Millisecond)
	}
	require.EqualValues(t, 1, delivered.Load())
}

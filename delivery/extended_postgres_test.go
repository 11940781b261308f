package delivery_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook"
	"github.com/payhook/payhook/delivery"
	"github.com/payhook/payhook/internal/pgtest"
	"github.com/payhook/payhook/postgres"
)

// The outage on PostgreSQL, with two processes sharing the database: each transaction's
// payment notification is handed to one engine and its operations to the other. The
// operations wait for the payment's round across processes (the store is the truth), all
// move to extended redelivery while the merchant is down, and once it is back every one
// is delivered, once, in the order of the events.
func TestEngine_ExtendedRedelivery_OutageAcrossProcessesOnPostgres(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.URL(t)
	ctx := context.Background()
	st := testSettings()
	extendedSettings(0.2, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3)(&st)
	rc := newOutageReceiver(t)
	rc.down.Store(true)

	var stores [2]*postgres.Store
	var engines [2]*delivery.Engine
	for i, owner := range []string{"process-a", "process-b"} {
		s, err := postgres.Open(ctx, dbURL)
		require.NoError(t, err)
		stores[i] = s
		engines[i] = delivery.New(delivery.Config{Store: s, Owner: owner, SweepInterval: 50 * time.Millisecond,
			Settings: func(context.Context) (payhook.Settings, error) { return st, nil },
			Sender:   delivery.NewSender(true, nil), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		engines[i].Start()
	}
	t.Cleanup(func() {
		for i := range engines {
			sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			engines[i].Shutdown(sctx)
			cancel()
			stores[i].Close()
		}
	})

	const sessions, ops = 3, 2
	var all []*payhook.Notification
	for range sessions {
		now := time.Now().UTC()
		txn := &payhook.Transaction{SessionID: payhook.NewSessionID(), ReferenceNumber: payhook.NewReferenceNumber(),
			Type: payhook.PluginECommerce, Origin: payhook.OriginAPI, State: payhook.StatePaid, Amount: 86000,
			Currency: "KWD", PGCodes: []string{"credit-card"}, CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(time.Hour)}
		require.NoError(t, stores[0].CreateTransaction(ctx, txn))
		for i := 0; i <= ops; i++ {
			at := now.Add(time.Duration(i) * time.Millisecond)
			id := payhook.NewNotificationID()
			body, err := json.Marshal(sentBody{Note: id, Session: txn.SessionID, Seq: i})
			require.NoError(t, err)
			n := &payhook.Notification{ID: id, Kind: payhook.KindOperation, SessionID: txn.SessionID,
				ReferenceNumber: txn.ReferenceNumber, URL: rc.url, Status: payhook.StatusPending, CreatedAt: at, UpdatedAt: at,
				Body: body, ContentType: "application/json", NextAttemptAt: at, Extended: true, RedirectDecider: i == 0}
			e := engines[min(i, 1)] // the payment to process a, the operations to process b
			require.NoError(t, stores[min(i, 1)].AddNotifications(ctx, []*payhook.Notification{n}, e.Lease(st)))
			all = append(all, n)
		}
	}
	for i := len(all) - 1; i >= 0; i-- {
		engines[min(i%(ops+1), 1)].Enqueue(all[i])
	}
	load := func(id string) *payhook.Notification {
		n, err := stores[0].Notification(ctx, id)
		require.NoError(t, err)
		return n
	}
	for _, n := range all {
		eventually(t, 10*time.Second, func() bool { return load(n.ID).Redelivery != nil }, "in extended redelivery")
	}
	rc.down.Store(false)
	for _, n := range all {
		eventually(t, 10*time.Second, func() bool { return load(n.ID).Status == payhook.StatusDelivered }, "delivered")
	}
	log := rc.acceptedLog()
	require.Len(t, log, len(all), "each once")
	last := map[string]int{}
	for _, b := range log {
		if prev, seen := last[b.Session]; seen {
			require.Greater(t, b.Seq, prev, "in the order of the events")
		} else {
			require.Zero(t, b.Seq, "the payment first")
		}
		last[b.Session] = b.Seq
	}
	// During the outage, no operation was tried before its payment's round had ended (a
	// 503 ends Ottu's round at its first attempt).
	for k := 0; k < len(all); k += ops + 1 {
		pay := load(all[k].ID).Attempts[0]
		for _, op := range all[k+1 : k+ops+1] {
			first := load(op.ID).Attempts[0]
			require.False(t, first.StartedAt.Before(pay.StartedAt.Add(pay.Duration)),
				"operation tried at %s, before the payment's round ended at %s", first.StartedAt, pay.StartedAt.Add(pay.Duration))
		}
	}
}

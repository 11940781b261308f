package main

import (
	"net/http"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestServe_ExtendedRedeliverySurvivesSIGKILL: payhook is killed while a notification is
// in extended redelivery (the merchant answered 503 to Ottu's round and to an extended
// attempt); the restarted process resumes the schedule from the store and delivers it,
// with the same webhook-id, once the merchant is back.
func TestServe_ExtendedRedeliverySurvivesSIGKILL(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "payhook.db")
	var down atomic.Bool
	down.Store(true)
	m := newMerchant(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		if down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	schedule := make([]float64, 20)
	for i := range schedule {
		schedule[i] = 0.5
	}
	first := startServe(t, db)
	first.configure(map[string]any{"extended_redelivery": true, "extended_schedule": schedule})
	session, checkoutURL := first.checkout(m.URL)
	require.NoError(t, <-pay(checkoutURL, 30*time.Second), "the customer is redirected when Ottu's round ends")
	m.waitRequest(t, 1, 10*time.Second) // Ottu's round (a 503 ends it) and the first extended attempt
	deadline := time.Now().Add(10 * time.Second)
	for {
		list := first.notifications(session)
		require.Len(t, list, 1)
		if r, ok := list[0]["redelivery"].(map[string]any); ok && r["attempts_made"].(float64) >= 1 {
			require.Equal(t, "failed", list[0]["status"])
			break
		}
		require.True(t, time.Now().Before(deadline), "no extended attempt recorded: %v", list)
		time.Sleep(50 * time.Millisecond)
	}
	require.NoError(t, first.cmd.Process.Signal(syscall.SIGKILL))
	<-first.done

	down.Store(false)
	second := startServe(t, db)
	n := second.waitDelivered(session, 15*time.Second)
	require.Nil(t, n["redelivery"], "the schedule stopped with the success")
	ids := m.webhookIDs()
	require.GreaterOrEqual(t, len(ids), 3)
	for _, id := range ids {
		require.Equal(t, n["id"], id, "the same webhook-id on every attempt")
	}
}

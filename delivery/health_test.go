package delivery_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook"
	"github.com/payhook/payhook/delivery"
	"github.com/payhook/payhook/sqlite"
)

// Health writes an outcome to the store only when it may change something there: a
// healthy URL's successes cost one write, not one each; a streak's failures cost a
// write when it starts and when it crosses a span; each change is told once.
func TestHealth_WritesOnlyWhatMayChangeAndTellsEachChangeOnce(t *testing.T) {
	t.Parallel()
	store, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "payhook.db"))
	require.NoError(t, err)
	t.Cleanup(func() { store.Close() })
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	st := payhook.DefaultSettings("pu9MpX3yPR")
	st.EndpointFailingAfter, st.EndpointDisableAfter = 1, 2
	var mu sync.Mutex
	var changes []payhook.EndpointChange
	h := delivery.NewHealth(delivery.HealthConfig{Store: store, Refresh: time.Hour, Touch: time.Hour,
		Settings: func(context.Context) (payhook.Settings, error) { return st, nil },
		Clock:    func() time.Time { return t0 },
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		OnChange: func(_ payhook.EndpointHealth, c payhook.EndpointChange) {
			mu.Lock()
			changes = append(changes, c)
			mu.Unlock()
		}})
	h.Start()
	const u = "https://shop.example/webhook"
	for i := range 500 {
		h.Observe(u, false, t0.Add(time.Duration(i)*time.Millisecond))
	}
	eventually := func(cond func(payhook.EndpointHealth) bool, msg string) payhook.EndpointHealth {
		t.Helper()
		var got payhook.EndpointHealth
		require.Eventually(t, func() bool {
			var err error
			got, err = store.EndpointHealth(context.Background(), u)
			return err == nil && cond(got)
		}, 5*time.Second, 5*time.Millisecond, msg)
		return got
	}
	// Successes to a URL that never failed change nothing: none is written (outcomes are
	// applied in order, so once the failure below is stored, the 500 were seen).
	h.Observe(u, true, t0.Add(time.Second))
	got := eventually(func(e payhook.EndpointHealth) bool { return !e.FirstFailureAt.IsZero() }, "the first failure is written")
	require.True(t, got.LastSuccessAt.IsZero(), "the 500 successes before it were not written")
	require.Equal(t, t0.Add(time.Second), got.FirstFailureAt.UTC())

	h.Observe(u, true, t0.Add(time.Second))
	h.Observe(u, true, t0.Add(1500*time.Millisecond))
	h.Observe(u, true, t0.Add(1700*time.Millisecond))
	h.Observe(u, true, t0.Add(2*time.Second))
	got = eventually(func(e payhook.EndpointHealth) bool { return e.State == payhook.EndpointFailing }, "failing after a second")
	require.Equal(t, t0.Add(2*time.Second), got.LastFailureAt.UTC())
	require.False(t, h.Disabled(u))
	h.Observe(u, true, t0.Add(3*time.Second+time.Millisecond))
	got = eventually(func(e payhook.EndpointHealth) bool { return e.State == payhook.EndpointDisabled }, "disabled after two seconds")
	require.Equal(t, t0.Add(time.Second), got.FirstFailureAt.UTC())
	require.Equal(t, t0.Add(3*time.Second+time.Millisecond), got.LastFailureAt.UTC())
	require.Eventually(t, func() bool { return h.Disabled(u) }, time.Second, time.Millisecond)

	h.Resumed(u)
	require.False(t, h.Disabled(u), "a resume applies here at once")
	h.Observe(u, false, t0.Add(4*time.Second))
	eventually(func(e payhook.EndpointHealth) bool { return e.State == payhook.EndpointHealthy }, "a success clears it")
	h.Close()
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []payhook.EndpointChange{payhook.EndpointBecameFailing, payhook.EndpointBecameDisabled, payhook.EndpointRecovered}, changes)
}

// A notification whose URL is disabled between two of its attempts is held before the
// next one: its attempts so far stay recorded, nothing more is sent, and the caller's
// result says held.
func TestEngine_DisabledBetweenAttemptsHoldsTheRest(t *testing.T) {
	t.Parallel()
	store, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "payhook.db"))
	require.NoError(t, err)
	t.Cleanup(func() { store.Close() })
	st := payhook.DefaultSettings("pu9MpX3yPR")
	st.Enabled, st.Timeout, st.Retries, st.BackoffFactor = true, 1, 3, 0.3
	settings := func(context.Context) (payhook.Settings, error) { return st, nil }
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	health := delivery.NewHealth(delivery.HealthConfig{Store: store, Settings: settings, Refresh: 20 * time.Millisecond, Logger: log})
	engine := delivery.New(delivery.Config{Store: store, Settings: settings, Sender: delivery.NewSender(true, nil),
		Owner: "engine-test", Health: health, Logger: log})
	health.Start()
	engine.Start()
	t.Cleanup(func() {
		engine.Shutdown(context.Background())
		health.Close()
	})

	dead := httptest.NewServer(http.NotFoundHandler())
	url := dead.URL + "/webhook"
	dead.Close() // connection refused: retried after the backoff
	now := time.Now().UTC()
	n := &payhook.Notification{ID: payhook.NewNotificationID(), Kind: payhook.KindPayment, SessionID: "s", URL: url,
		Status: payhook.StatusPending, CreatedAt: now, UpdatedAt: now, NextAttemptAt: now, Body: []byte(`{}`),
		ContentType: "application/json"}
	require.NoError(t, store.AddNotifications(context.Background(), []*payhook.Notification{n}, engine.Lease(st)))
	done := engine.Deliver(n)
	require.Eventually(t, func() bool {
		got, err := store.Notification(context.Background(), n.ID)
		return err == nil && len(got.Attempts) == 1
	}, 2*time.Second, 5*time.Millisecond, "the first attempt")
	// Another process disables the URL meanwhile.
	// (This engine's own tracker records the first failure concurrently: whichever comes
	// first starts the streak, and a failure an hour later disables it.)
	p := payhook.EndpointPolicy{FailingAfter: time.Second, DisableAfter: time.Minute}
	for i := 1; ; i++ {
		h, _, err := store.ObserveEndpoint(context.Background(), url, true, now.Add(time.Duration(i)*time.Hour), p)
		require.NoError(t, err)
		if h.State == payhook.EndpointDisabled {
			break
		}
		require.Less(t, i, 5)
	}

	res := <-done
	require.Equal(t, payhook.StatusHeld, res.Status)
	got, err := store.Notification(context.Background(), n.ID)
	require.NoError(t, err)
	require.Equal(t, payhook.StatusHeld, got.Status)
	require.Len(t, got.Attempts, 1, "nothing attempted once the URL was disabled")
}

package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook"
	"github.com/payhook/payhook/app"
	"github.com/payhook/payhook/internal/merchant"
	"github.com/payhook/payhook/internal/pgtest"
)

// Two processes on one PostgreSQL database share each URL's health: failures seen by
// either disable it, both hold its new notifications, and a resume through one of them
// sends the backlog once, oldest first, from the process holding the resume role.
func TestApp_EndpointHealthAcrossProcessesOnPostgreSQL(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.URL(t)
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var apps []*app.App
	for i := range 2 {
		a, err := app.Open(ctx, app.Config{Database: dbURL, BaseURL: "http://127.0.0.1:1", APIKey: "shared-key-0123456789",
			AllowPrivate: true, Owner: fmt.Sprintf("process-%d", i), SweepInterval: 50 * time.Millisecond,
			HealthRefresh: 50 * time.Millisecond, ResumeInterval: 50 * time.Millisecond, LeaseTTL: 3 * time.Second, Logger: log})
		require.NoError(t, err)
		a.Start()
		t.Cleanup(func() {
			sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			a.Shutdown(sctx)
		})
		apps = append(apps, a)
	}
	patch := payhook.SettingsPatch{}
	for k, v := range map[string]any{"enabled": true, "timeout": 1, "retries": 1, "endpoint_failing_after": 0.2,
		"endpoint_disable_after": 0.5, "endpoint_resume_rate": 1000} {
		patch[k], _ = json.Marshal(v)
	}
	_, _, err := apps[0].Service.UpdateSettings(ctx, patch)
	require.NoError(t, err)
	time.Sleep(1100 * time.Millisecond) // the other process's settings cache (one second)

	rc := merchant.NewReceiver(t)
	var up atomic.Bool
	rc.Respond = func(_ int, w http.ResponseWriter, _ *http.Request) {
		if up.Load() {
			w.WriteHeader(http.StatusOK)
			return
		}
		w.WriteHeader(http.StatusInternalServerError)
	}
	add := func(from, n int) {
		now := time.Now().UTC()
		notes := make([]*payhook.Notification, n)
		for i := range notes {
			at := now.Add(time.Duration(i) * time.Microsecond)
			// A session each: ordering per transaction (docs/delivery.md) would otherwise send
			// them one after another, which is not what this test is about.
			notes[i] = &payhook.Notification{ID: payhook.NewNotificationID(), Kind: payhook.KindOperation, SessionID: fmt.Sprintf("s-%d", from+i),
				URL: rc.URL, Status: payhook.StatusPending, CreatedAt: at, UpdatedAt: at, NextAttemptAt: at,
				Body: fmt.Appendf(nil, `{"seq":%d}`, from+i), ContentType: "application/json"}
		}
		require.NoError(t, apps[0].Store.AddNotifications(ctx, notes, payhook.Lease{}))
		for _, a := range apps {
			a.Engine.Kick()
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; ; i++ {
		require.True(t, time.Now().Before(deadline), "the URL was not disabled")
		add(i, 2)
		time.Sleep(50 * time.Millisecond)
		if h, err := apps[1].Store.EndpointHealth(ctx, rc.URL); err == nil && h.State == payhook.EndpointDisabled {
			break
		}
	}
	require.Eventually(t, func() bool { return apps[0].Engine.Inflight()+apps[1].Engine.Inflight() == 0 }, 5*time.Second, 10*time.Millisecond)
	before := len(rc.Requests())

	const backlog = 200
	add(1000, backlog)
	require.Eventually(t, func() bool {
		h, err := apps[0].Store.EndpointHealth(ctx, rc.URL)
		return err == nil && h.Held == backlog
	}, 10*time.Second, 20*time.Millisecond, "both processes hold the new notifications")
	require.Len(t, rc.Requests(), before)

	up.Store(true)
	_, err = apps[1].Service.ResumeEndpoint(ctx, rc.URL)
	require.NoError(t, err)
	reqs := rc.Wait(t, before+backlog, 20*time.Second)
	time.Sleep(300 * time.Millisecond) // a duplicate would arrive now
	reqs = rc.Requests()
	require.Len(t, reqs, before+backlog, "each held notification sent once")
	for i, r := range reqs[before:] {
		var b struct{ Seq int }
		require.NoError(t, json.Unmarshal(r.Body, &b))
		require.Equal(t, 1000+i, b.Seq, "oldest first")
	}
	require.Eventually(t, func() bool {
		h, err := apps[0].Store.EndpointHealth(ctx, rc.URL)
		return err == nil && h.Held == 0 && h.Delivered == backlog && h.State == payhook.EndpointHealthy
	}, 5*time.Second, 20*time.Millisecond)
}

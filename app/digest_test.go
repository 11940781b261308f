package app_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook"
	"github.com/payhook/payhook/app"
	"github.com/payhook/payhook/internal/merchant"
	"github.com/payhook/payhook/internal/pgtest"
	"github.com/payhook/payhook/signature"
)

// Two processes on one PostgreSQL database, both running the digest loop every few
// milliseconds: each URL gets the day's digest once, signed, matching what it accepted.
func TestApp_DigestOncePerDayPerURLAcrossTwoProcessesOnPostgreSQL(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.URL(t)
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	open := func(owner string) *app.App {
		a, err := app.Open(ctx, app.Config{Database: dbURL, BaseURL: "http://127.0.0.1:1", AllowPrivate: true,
			Owner: owner, DigestInterval: 5 * time.Millisecond, Logger: log})
		require.NoError(t, err)
		t.Cleanup(func() {
			sctx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			a.Shutdown(sctx)
		})
		return a
	}
	a, b := open("process-a"), open("process-b")

	const key = "digest-test-hmac-key"
	st, ok, err := a.Store.Settings(ctx)
	require.NoError(t, err)
	require.True(t, ok)
	st.Enabled, st.DigestNotifications, st.HMACKey = true, true, key
	require.NoError(t, a.Store.SaveSettings(ctx, &st))

	// Yesterday (UTC), notifications were delivered to two merchants; one also failed.
	yesterday := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -1)
	shop, other := merchant.NewReceiver(t), merchant.NewReceiver(t)
	delivered := map[string][]string{}
	l := payhook.Lease{Owner: "fixture", Until: time.Now().Add(time.Hour)}
	for i, u := range []string{shop.URL, shop.URL, other.URL, shop.URL} {
		at := yesterday.Add(time.Duration(i+1) * time.Hour)
		n := &payhook.Notification{ID: payhook.NewNotificationID(), Kind: payhook.KindPayment, SessionID: payhook.NewSessionID(),
			URL: u, Status: payhook.StatusPending, CreatedAt: at, UpdatedAt: at, Body: []byte(`{}`), ContentType: "application/json", NextAttemptAt: at}
		require.NoError(t, a.Store.AddNotifications(ctx, []*payhook.Notification{n}, l))
		code, status := 200, payhook.StatusDelivered
		if i == 3 {
			code, status = 500, payhook.StatusFailed
		} else {
			delivered[u] = append(delivered[u], n.ID)
		}
		require.NoError(t, a.Store.RecordAttempt(ctx, n.ID, payhook.Attempt{Number: 1, StartedAt: at, Duration: time.Millisecond, StatusCode: code}, status, time.Time{}, l))
	}

	a.Start()
	b.Start()
	for _, rc := range []*merchant.Receiver{shop, other} {
		reqs := rc.Wait(t, 1, 10*time.Second)
		var d signature.Digest
		require.NoError(t, json.Unmarshal(reqs[0].Body, &d), "%s", reqs[0].Body)
		require.Equal(t, yesterday.Format(time.DateOnly), d.Date)
		require.True(t, strings.HasPrefix(reqs[0].Header.Get("webhook-id"), "digest_"))
		require.NoError(t, signature.VerifyDigest(key, d, delivered[rc.URL]))
	}
	// Many more rounds of both loops: still one digest each.
	time.Sleep(100 * time.Millisecond)
	require.Len(t, shop.Requests(), 1)
	require.Len(t, other.Requests(), 1)
	list, total, err := b.Store.ListNotifications(ctx, payhook.NotificationFilter{Kind: payhook.KindDigest})
	require.NoError(t, err)
	require.Equal(t, 2, total, "%v", list)
}

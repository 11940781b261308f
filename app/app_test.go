package app_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook/app"
	"github.com/payhook/payhook/internal/pgtest"
	"github.com/payhook/payhook/mail"
)

// The one assembly serves /metrics with the delivery queue, the leases, the attempts in
// flight and the error emails, and its Shutdown releases the SQLite file (a new process
// can open it at once).
func TestApp_MetricsAndShutdownReleaseTheDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "payhook.db")
	smtp, err := mail.ParseSMTPURL("smtp://127.0.0.1:9") // nobody listens: emails wait in the store
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := app.Config{Database: db, BaseURL: "http://" + ln.Addr().String(), SMTP: &smtp, APIKey: "app-test-key-0123456789",
		LeaseTTL: time.Second, Logger: log}
	a, err := app.Open(ctx, cfg)
	require.NoError(t, err)
	a.Start()
	go a.Serve(ln)

	_, err = app.Open(ctx, cfg)
	require.ErrorContains(t, err, "in use by another payhook process", "one SQLite file, one process")

	resp, err := http.Get("http://" + ln.Addr().String() + "/metrics")
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	for _, name := range []string{"payhook_notifications_pending", "payhook_notifications_oldest_pending_age_seconds",
		"payhook_notifications_leased", "payhook_attempts_in_flight", "payhook_leases_held",
		"payhook_error_emails_sent_total", "payhook_error_emails_held_back", "payhook_error_emails_queued"} {
		require.True(t, strings.Contains(string(b), "\n"+name+" "), "metric %s in /metrics", name)
	}

	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	require.NoError(t, a.Shutdown(sctx))
	cfg.SMTP = nil
	again, err := app.Open(ctx, cfg)
	require.NoError(t, err, "after Shutdown the file is free")
	require.NoError(t, again.Shutdown(ctx))
}

// Two processes starting at once on one empty PostgreSQL database: one HMAC key, one API
// key created (printed by one of them only), one admin user, and both start.
func TestApp_TwoFirstStartsAtOnceOnPostgreSQL(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.URL(t)
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	open := func(apiKey string) (*app.App, error) {
		return app.Open(ctx, app.Config{Database: dbURL, BaseURL: "http://127.0.0.1:1", APIKey: apiKey,
			AdminEmail: "admin@example.com", AdminPassword: "correct horse", Logger: log})
	}
	for _, apiKey := range []string{"", "shared-key-0123456789"} {
		if apiKey != "" {
			dbURL = pgtest.URL(t)
		}
		var apps [4]*app.App
		var errs [4]error
		var wg sync.WaitGroup
		for i := range apps {
			wg.Add(1)
			go func() { defer wg.Done(); apps[i], errs[i] = open(apiKey) }()
		}
		wg.Wait()
		printed := 0
		for i, a := range apps {
			require.NoError(t, errs[i])
			if a.NewAPIKey != "" {
				printed++
			}
			defer a.Shutdown(ctx)
		}
		keys, err := apps[0].Store.ListAPIKeys(ctx)
		require.NoError(t, err)
		require.Len(t, keys, 1, "one API key")
		if apiKey == "" {
			require.Equal(t, 1, printed, "one process created (and printed) the key")
		}
		var hmac string
		for _, a := range apps {
			st, err := a.Service.Settings(ctx)
			require.NoError(t, err)
			if hmac == "" {
				hmac = st.HMACKey
			}
			require.Equal(t, hmac, st.HMACKey, "one HMAC key for every process")
		}
		_, err = apps[0].Store.UserByEmail(ctx, "admin@example.com")
		require.NoError(t, err)
	}
}

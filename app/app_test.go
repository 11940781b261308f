package app_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook/app"
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

package mail_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook"
	"github.com/payhook/payhook/mail"
)

var update = flag.Bool("update", false, "rewrite golden files")

// golden compares got with testdata/name, or rewrites it when the tests run with -update
// (go test ./mail/ -update). Review the diff of testdata/ before committing it.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "missing golden file; run go test ./mail/ -update to create it")
	require.Equal(t, string(want), got, "output differs from %s; if the change is intended, run go test ./mail/ -update", path)
}

// failedNotification is a payment notification that failed after three attempts: two
// without an answer, then a 500.
func failedNotification() (*payhook.Notification, *payhook.Transaction) {
	t0 := time.Date(2026, 5, 4, 9, 30, 0, 0, time.UTC)
	n := &payhook.Notification{
		ID: "msg_01hz6d3k8w2q4r5t6y7u8i9o0p", Kind: payhook.KindPayment,
		SessionID: "8b9f6a1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f70", ReferenceNumber: "PH7K2M9QX4TB",
		URL: "https://shop.example/payhook/webhook", Status: payhook.StatusFailed, RoundAttempts: 3,
		Attempts: []payhook.Attempt{
			{Number: 1, StartedAt: t0, Duration: 2 * time.Second, Error: "timeout after 2s"},
			{Number: 2, StartedAt: t0.Add(7 * time.Second), Duration: 2*time.Second + 3*time.Millisecond, Error: "timeout after 2s"},
			{Number: 3, StartedAt: t0.Add(14 * time.Second), Duration: 41 * time.Millisecond, StatusCode: 500,
				ResponseExcerpt: "<html><body>Internal Server Error\r\nTraceback …</body></html>"},
		},
	}
	txn := &payhook.Transaction{SessionID: n.SessionID, ReferenceNumber: n.ReferenceNumber, OrderNo: "ORDER-1001",
		State: payhook.StatePaid}
	return n, txn
}

func TestFailureEmail_Golden(t *testing.T) {
	t.Parallel()
	n, txn := failedNotification()
	base := mail.FailureEmail{Notification: n, Transaction: txn, Interval: 10 * time.Minute,
		BaseURL: "https://pay.shop.example/"}
	held := base
	held.Held, held.HeldSince = 37, time.Date(2026, 5, 4, 9, 12, 5, 0, time.UTC)
	summary := held
	summary.Summary = true
	deleted := base
	deleted.Transaction = nil
	tests := []struct {
		name        string
		email       mail.FailureEmail
		wantSubject string
	}{
		{"failure", base, "[payhook] Payment notification failed: shop.example (order ORDER-1001)"},
		{"failure_held", held, "[payhook] Payment notification failed: shop.example (order ORDER-1001) and 37 more failures"},
		{"summary", summary, "[payhook] Notifications still failing: shop.example (37 more failures, latest order ORDER-1001)"},
		{"transaction_deleted", deleted, "[payhook] Payment notification failed: shop.example (reference PH7K2M9QX4TB)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := tt.email.Render()
			require.NoError(t, err)
			require.Equal(t, tt.wantSubject, l.Subject)
			require.Equal(t, tt.wantSubject, tt.email.Subject())
			golden(t, tt.name+".txt.golden", l.Text)
			if tt.name == "failure" {
				golden(t, tt.name+".html.golden", l.HTML)
			}
		})
	}
}

func TestFailureEmail_MerchantDataCannotBreakOut(t *testing.T) {
	t.Parallel()
	n, txn := failedNotification()
	txn.OrderNo = "A-1\r\nBcc: everyone@example.com"
	n.Attempts[2].ResponseExcerpt = `<script>alert("x")</script>`
	l, err := mail.FailureEmail{Notification: n, Transaction: txn, Interval: time.Hour}.Render()
	require.NoError(t, err)
	require.NotContains(t, l.Subject, "\n")
	require.NotContains(t, l.Subject, "\r")
	require.Contains(t, l.Subject, "(order A-1  Bcc: everyone@example.com)")
	require.NotContains(t, l.HTML, "<script>")
	require.Contains(t, l.HTML, "&lt;script&gt;")
	require.True(t, strings.Contains(l.Text, "every 1 hour"))
}

func TestFailureEmail_OperationNamesItsKind(t *testing.T) {
	t.Parallel()
	n, txn := failedNotification()
	n.Kind, n.ContentType = payhook.KindOperation, "application/json"
	n.Body = []byte(`{"operation":"refund","reference_number":"PHREFUND0001"}`)
	n.ReferenceNumber = "PHREFUND0001"
	l, err := mail.FailureEmail{Notification: n, Transaction: txn, Interval: time.Minute}.Render()
	require.NoError(t, err)
	require.Equal(t, "[payhook] Refund operation notification failed: shop.example (order ORDER-1001)", l.Subject)
	require.Contains(t, l.Text, "operation's reference_number: PHREFUND0001")
	require.Contains(t, l.Text, "reference_number:  PH7K2M9QX4TB")
}

package main

import (
	"net/http"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook/gateway/sandbox"
)

// TestServe_ApprovedPaymentSurvivesSIGKILLDuringTheGatewayCall: payhook is killed after
// the gateway approved the payment and before payhook recorded it (the sandbox's slow
// card approves at once and answers late). The restarted process asks the gateway what
// became of the claimed payment and records it: the transaction is paid, the merchant is
// notified, and paying again moves no money.
func TestServe_ApprovedPaymentSurvivesSIGKILLDuringTheGatewayCall(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "payhook.db")
	m := newMerchant(t, func(n int, w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })

	first := startServe(t, db)
	first.configure(nil)
	session, checkoutURL := first.checkout(m.URL)
	paid := payWith(checkoutURL, sandbox.CardSlow, 30*time.Second)
	time.Sleep(sandbox.SlowAnswer / 4) // approved and recorded by the gateway, not yet by payhook
	require.NoError(t, first.cmd.Process.Signal(syscall.SIGKILL))
	<-first.done
	require.Error(t, <-paid, "the customer's request died with the process")
	require.Empty(t, m.webhookIDs(), "nothing was notified before the kill")

	second := startServe(t, db)
	n := second.waitDelivered(session, 10*time.Second)
	require.Equal(t, m.URL, n["url"])
	got := second.api("GET", "/b/checkout/v1/pymt-txn/"+session+"/", nil, http.StatusOK)
	require.Equal(t, "paid", got["state"], "the approved payment is recorded after the restart")
	require.Len(t, m.webhookIDs(), 1)

	// Paying again is refused: no second approval.
	require.Error(t, <-payWith(checkoutURL, sandbox.CardSuccess, 10*time.Second))
}

// TestServe_SQLiteRefusesASecondProcess: one SQLite file serves one process; a second
// "payhook serve" on it says so and exits.
func TestServe_SQLiteRefusesASecondProcess(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "payhook.db")
	startServe(t, db)
	bin := payhookBinary(t)
	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--database", db)
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	out, err := cmd.CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), "in use by another payhook process")
}

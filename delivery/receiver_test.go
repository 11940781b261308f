package delivery_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/payhook/payhook/internal/merchant"
)

// newReceiver starts a merchant receiver on loopback, closed when the test ends; respond
// may be nil (200 "ok").
func newReceiver(t testing.TB, respond func(n int, w http.ResponseWriter, r *http.Request)) *merchant.Receiver {
	t.Helper()
	rc := merchant.NewReceiver(t)
	rc.Respond = respond
	return rc
}

// eventually polls cond every 10ms until it is true or timeout passes.
func eventually(t testing.TB, timeout time.Duration, cond func() bool, msg string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v: %s", timeout, msg)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

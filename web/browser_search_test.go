package web_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook/internal/phtest"
)

// TestBrowserSearch finds a transaction by part of its order number and re-sends the
// failed notifications of one URL through the confirmation page, in Chromium.
func TestBrowserSearch(t *testing.T) {
	t.Parallel()
	browser := startChromium(t)
	env := setupWebhooks(t, nil)
	ok, failing := phtest.NewReceiver(t), phtest.NewReceiver(t)
	failing.Respond = respondWith(http.StatusServiceUnavailable)
	paidCheckout(t, env, ok, map[string]any{"order_no": "SHOP-1001"})
	paidCheckout(t, env, failing, map[string]any{"order_no": "SHOP-1002", "customer_email": "omar@mail.example"})
	paidCheckout(t, env, failing, map[string]any{"order_no": "SHOP-1003"})
	before := len(failing.Requests())
	tb := newTab(t, browser, env)
	tb.signIn()

	tb.typeInto("q", "shop-1002")
	tb.pressID("filter")
	require.Equal(t, "/dashboard/transactions?state=&plugin=&webhook=&from=&to=&q=shop-1002", tb.path())
	require.Equal(t, 1, tb.count(`main tbody tr`))
	require.Equal(t, "Failed (failed)", tb.textAt(`main tbody td.webhook`))
	require.Equal(t, "omar@mail.example", tb.textAt(`main tbody td:nth-child(4)`))
	tb.screenshot("transactions-search")

	prefix := strings.TrimSuffix(failing.URL, "webhook")
	tb.openOK("/dashboard/notifications")
	tb.typeInto("url_prefix", prefix)
	tb.pressID("filter")
	require.Equal(t, 2, tb.count(`main tbody tr`))
	require.Equal(t, "Resend all failed (2)…", tb.text("resend-failed"))
	tb.pressID("resend-failed")
	require.True(t, strings.HasPrefix(tb.path(), "/dashboard/notifications/resend?"), tb.path())
	require.Equal(t, "Resend 2 failed notifications matching: url starts with "+prefix+"?", tb.text("confirm-h"))
	tb.screenshot("resend-failed")
	require.Len(t, failing.Requests(), before, "nothing sent before the confirmation")

	resp := tb.pressID("confirm-resend")
	require.EqualValues(t, http.StatusOK, resp.Status)
	require.Equal(t, "2 queued: the failed notifications matching the filter are sent again, each with the same webhook-id and body.",
		tb.textAt(`.flash`))
	failing.Wait(t, before+2, 5*time.Second)
}

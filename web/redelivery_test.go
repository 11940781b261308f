package web_test

import (
	"encoding/json"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook/internal/phtest"
)

// redeliverySchedule is a scaled-down extended schedule, long enough in steps for a loaded
// machine: 0.2 s, then 0.3 s steps.
func redeliverySchedule() []float64 {
	s := []float64{0.2}
	for len(s) < 20 {
		s = append(s, 0.3)
	}
	return s
}

// A merchant down for longer than Ottu's attempts, through the real service: a payment
// and two refunds, each failing its round while the merchant answers 503. With extended
// redelivery on, the delivery log shows each failed with the next attempt and the
// schedule's end; once the merchant is back, every notification arrives, once, in the
// order of the events (paid before its refunded operations), and ends delivered.
func TestExtendedRedelivery_MerchantBackAfterAnOutage(t *testing.T) {
	t.Parallel()
	env := phtest.New(t, phtest.Options{SweepInterval: 50 * time.Millisecond})
	env.Configure(map[string]any{"enabled": true, "api_transactions_enabled": true, "hmac_key": merchantKey,
		"timeout": 1, "retries": 2, "backoff_factor": 0.05,
		"extended_redelivery": true, "extended_schedule": redeliverySchedule()})
	var down atomic.Bool
	down.Store(true)
	rc := phtest.NewReceiver(t)
	var accepted atomic.Pointer[[]map[string]any]
	accepted.Store(&[]map[string]any{})
	rc.Respond = func(i int, w http.ResponseWriter, _ *http.Request) {
		if down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		var body map[string]any
		_ = json.Unmarshal(rc.Requests()[i].Body, &body)
		list := append(*accepted.Load(), body)
		accepted.Store(&list)
		w.WriteHeader(http.StatusOK)
	}

	sid := paidCheckout(t, env, rc, nil)
	operateOK(t, env, map[string]any{"operation": "refund", "session_id": sid, "amount": "10"})
	operateOK(t, env, map[string]any{"operation": "refund", "session_id": sid, "amount": "20"})

	notes := func() []map[string]any {
		page := env.JSON("GET", "/b/webhook/v1/notifications/?session_id="+sid, nil, http.StatusOK)
		out := []map[string]any{}
		for _, r := range page["results"].([]any) {
			out = append(out, r.(map[string]any))
		}
		return out
	}
	phtest.Eventually(t, 5*time.Second, func() bool {
		list := notes()
		if len(list) != 3 {
			return false
		}
		for _, n := range list {
			if n["status"] != "failed" || n["redelivery"] == nil {
				return false
			}
		}
		return true
	}, "each notification failed its round and is in extended redelivery")
	for _, n := range notes() {
		require.Equal(t, true, n["extended_redelivery"])
		r := n["redelivery"].(map[string]any)
		next, err := time.Parse(time.RFC3339Nano, r["next_attempt_at"].(string))
		require.NoError(t, err)
		end, err := time.Parse(time.RFC3339Nano, r["ends_at"].(string))
		require.NoError(t, err)
		require.False(t, end.Before(next), "the schedule ends after the next attempt")
	}
	b := signIn(t, env)
	require.Contains(t, b.getOK("/dashboard/notifications"), "Still trying: next", "the delivery log shows the next attempt and the end")
	require.Contains(t, b.getOK("/dashboard/notifications/"+notes()[0]["id"].(string)), "the schedule ends", "and the notification's page")

	down.Store(false)
	phtest.Eventually(t, 10*time.Second, func() bool {
		for _, n := range notes() {
			if n["status"] != "delivered" || n["redelivery"] != nil {
				return false
			}
		}
		return true
	}, "every notification delivered once the merchant is back")
	got := *accepted.Load()
	require.Len(t, got, 3, "each once")
	require.Equal(t, "paid", got[0]["state"], "the payment first")
	for _, b := range got[1:] {
		require.Equal(t, "refund", b["operation"], "then the refunds")
	}
	require.Equal(t, "10.000", got[1]["amount"], "in the order of the events")
	require.Equal(t, "20.000", got[2]["amount"])
}

// The settings: the config API and the Webhook Config page set the global switch, the
// schedule and the operations URL's override; a plugin config overrides the switch; a bad
// schedule is refused naming the field, and changes nothing.
func TestExtendedRedelivery_Settings(t *testing.T) {
	t.Parallel()
	env := phtest.New(t)
	got := env.Configure(map[string]any{"extended_redelivery": true, "extended_schedule": []float64{30, 90.5},
		"operations_extended_redelivery": false})
	require.Equal(t, true, got["extended_redelivery"])
	require.Equal(t, []any{30.0, 90.5}, got["extended_schedule"])
	require.Equal(t, false, got["operations_extended_redelivery"])

	for _, bad := range []map[string]any{{"extended_schedule": []float64{0}}, {"extended_schedule": []float64{700000}},
		{"extended_schedule": "60"}, {"operations_extended_redelivery": "yes"}} {
		code, b := env.Do("PATCH", "/b/webhook/v1/config/", bad)
		require.Equal(t, http.StatusBadRequest, code, "%v", bad)
		for name := range bad {
			require.Contains(t, string(b), name)
		}
	}
	again := env.JSON("GET", "/b/webhook/v1/config/", nil, http.StatusOK)
	require.Equal(t, []any{30.0, 90.5}, again["extended_schedule"], "a refused change changes nothing")

	put := env.JSON("PUT", "/b/webhook/v1/plugins/e_commerce/", map[string]any{"webhook_url": "https://shop.example/hook",
		"extended_redelivery": false}, http.StatusOK)
	require.Equal(t, false, put["extended_redelivery"])
	code, b := env.Do("PUT", "/b/webhook/v1/plugins/e_commerce/", map[string]any{"extended_redelivery": "no"})
	require.Equal(t, http.StatusBadRequest, code)
	require.Contains(t, string(b), "extended_redelivery")

	// the dashboard's pages
	br := signIn(t, env)
	form := br.getOK("/dashboard/webhook/config")
	require.Contains(t, form, `id="extended_schedule"`)
	require.Contains(t, form, "30, 90.5")
	plugin := br.getOK("/dashboard/webhook/plugins/e_commerce")
	require.Contains(t, plugin, `<option value="false" selected>`)
}

package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook/gateway/sandbox"
	"github.com/payhook/payhook/internal/phtest"
	"github.com/payhook/payhook/signature"
)

func TestInquiry_AnswersWithThePaymentNotification(t *testing.T) {
	t.Parallel()
	env := setupWebhooks(t, nil)
	rc := phtest.NewReceiver(t)
	sid := paidCheckout(t, env, rc, map[string]any{"order_no": "ORD-INQ-1"})

	for i, body := range []map[string]any{{"session_id": sid}, {"order_no": "ORD-INQ-1"}} {
		code, b := inquire(t, env, body)
		require.Equal(t, http.StatusOK, code, "%s", b)
		if i == 0 {
			phtest.Validate(t, "inquiry-response", b)
		}
		requireSignedV1(t, b)
		m := decodeBody(t, b)
		require.Equal(t, sid, m["session_id"])
		require.Equal(t, "paid", m["state"])
		require.Equal(t, "success", m["result"])
		require.Equal(t, "86.000", m["amount"])
		require.Equal(t, "ORD-INQ-1", m["order_no"])
	}
	code, b := env.Do("POST", strings.TrimSuffix(inquiryPath, "/"), map[string]any{"session_id": sid})
	require.Equal(t, http.StatusOK, code, "%s", b)

	// Without notify_webhook_url nothing is sent.
	require.Len(t, sessionNotifications(t, env, sid), 1)
	time.Sleep(quietPeriod)
	require.Len(t, rc.Requests(), 1)
}

func TestInquiry_AnswersForAnUnpaidCheckoutToo(t *testing.T) {
	t.Parallel()
	env := setupWebhooks(t, nil)
	sid := strField(checkoutWith(env, nil, nil), "session_id")
	code, b := inquire(t, env, map[string]any{"session_id": sid})
	require.Equal(t, http.StatusOK, code, "%s", b)
	phtest.Validate(t, "inquiry-response", b)
	require.Equal(t, "created", decodeBody(t, b)["state"])
}

func TestInquiry_NotifySendsANewNotification(t *testing.T) {
	t.Parallel()
	env := setupWebhooks(t, nil)
	rc := phtest.NewReceiver(t)
	sid := paidCheckout(t, env, rc, nil)
	first := onlyNotification(t, env, sid)

	code, b := inquire(t, env, map[string]any{"session_id": sid, "notify_webhook_url": true})
	require.Equal(t, http.StatusOK, code, "%s", b)
	require.Equal(t, sid, decodeBody(t, b)["session_id"])

	list := sessionNotifications(t, env, sid)
	require.Len(t, list, 2, "a new notification in the log")
	again := list[0] // newest first
	require.NotEqual(t, first.ID, again.ID)
	require.Equal(t, "payment", again.Kind)
	require.Equal(t, rc.URL, *again.URL)
	require.False(t, again.RedirectDecider)

	got := rc.Wait(t, 2, 5*time.Second)
	require.Equal(t, again.ID, got[1].Header.Get("webhook-id"))
	requireSignedV1(t, got[1].Body)
	require.Equal(t, "paid", decodeBody(t, got[1].Body)["state"])
	phtest.Eventually(t, 5*time.Second, func() bool { return getNotification(t, env, again.ID).Status == "delivered" },
		"the new notification is delivered")
}

func TestInquiry_NotifyToTheGivenURLOnly(t *testing.T) {
	t.Parallel()
	env := setupWebhooks(t, nil)
	txn, plugin, other := phtest.NewReceiver(t), phtest.NewReceiver(t), phtest.NewReceiver(t)
	env.JSON("PUT", pluginsPath+"e_commerce/", map[string]any{"webhook_url": plugin.URL}, http.StatusOK)
	sid := paidCheckout(t, env, txn, nil)
	plugin.Wait(t, 1, 5*time.Second)

	code, b := inquire(t, env, map[string]any{"session_id": sid, "notify_webhook_url": true, "webhook_url": other.URL})
	require.Equal(t, http.StatusOK, code, "%s", b)
	got := other.Wait(t, 1, 5*time.Second)
	requireSignedV1(t, got[0].Body)
	require.Equal(t, sid, decodeBody(t, got[0].Body)["session_id"])
	require.Len(t, sessionNotifications(t, env, sid), 3)
	time.Sleep(quietPeriod)
	require.Len(t, txn.Requests(), 1)
	require.Len(t, plugin.Requests(), 1)
}

func TestInquiry_NotifyIgnoresTheStateFilter(t *testing.T) {
	t.Parallel()
	env := setupWebhooks(t, nil)
	txn, plugin := phtest.NewReceiver(t), phtest.NewReceiver(t)
	env.JSON("PUT", pluginsPath+"e_commerce/", map[string]any{"webhook_url": plugin.URL,
		"state_filter_enabled": true, "states": []string{"failed"}}, http.StatusOK)
	sid := paidCheckout(t, env, txn, nil)
	for _, n := range sessionNotifications(t, env, sid) {
		require.Equal(t, "state_filtered", *n.Reason, "the payment itself is filtered out")
	}

	code, b := inquire(t, env, map[string]any{"session_id": sid, "notify_webhook_url": true})
	require.Equal(t, http.StatusOK, code, "%s", b)
	txn.Wait(t, 1, 5*time.Second)
	plugin.Wait(t, 1, 5*time.Second)
	require.Equal(t, "paid", decodeBody(t, plugin.Requests()[0].Body)["state"])
}

func TestInquiry_NotifyWhileNotificationsOffIsNotSent(t *testing.T) {
	t.Parallel()
	env := setupWebhooks(t, nil)
	txn, other := phtest.NewReceiver(t), phtest.NewReceiver(t)
	sid, otherSID := paidCheckout(t, env, txn, nil), paidCheckout(t, env, txn, nil)
	env.Configure(map[string]any{"enabled": false})

	// Routed as usual, and to a given webhook_url: either way the master switch applies.
	code, b := inquire(t, env, map[string]any{"session_id": sid, "notify_webhook_url": true})
	require.Equal(t, http.StatusOK, code, "%s", b)
	code, b = inquire(t, env, map[string]any{"session_id": otherSID, "notify_webhook_url": true, "webhook_url": other.URL})
	require.Equal(t, http.StatusOK, code, "%s", b)
	for _, tt := range []struct{ sid, url string }{{sid, txn.URL}, {otherSID, other.URL}} {
		list := sessionNotifications(t, env, tt.sid)
		require.Len(t, list, 2)
		require.Equal(t, "not_sent", list[0].Status)
		require.Equal(t, "disabled", *list[0].Reason)
		require.Equal(t, tt.url, *list[0].URL)
	}
	time.Sleep(quietPeriod)
	require.Len(t, txn.Requests(), 2, "only the two payments' own")
	require.Empty(t, other.Requests())
}

func TestInquiry_NotifyIsRateLimitedPerTransaction(t *testing.T) {
	t.Parallel()
	env := setupWebhooks(t, nil)
	rc := phtest.NewReceiver(t)
	sid := paidCheckout(t, env, rc, nil)
	otherSID := paidCheckout(t, env, rc, nil)
	notify := func(sid string) (int, []byte) {
		return inquire(t, env, map[string]any{"session_id": sid, "notify_webhook_url": true})
	}

	code, b := notify(sid)
	require.Equal(t, http.StatusOK, code, "%s", b)
	code, b = notify(sid)
	require.Equal(t, http.StatusTooManyRequests, code, "%s", b)
	requireDetail(t, b)
	code, b = notify(otherSID)
	require.Equal(t, http.StatusOK, code, "another transaction has its own limit: %s", b)
	code, b = inquire(t, env, map[string]any{"session_id": sid})
	require.Equal(t, http.StatusOK, code, "an inquiry without notify is not limited: %s", b)
	require.Len(t, sessionNotifications(t, env, sid), 2, "the refused notify made none")

	time.Sleep(1050 * time.Millisecond) // one a second is allowed
	code, b = notify(sid)
	require.Equal(t, http.StatusOK, code, "%s", b)
	require.Len(t, sessionNotifications(t, env, sid), 3)
}

func TestInquiry_RefusesBadRequests(t *testing.T) {
	t.Parallel()
	env := setupWebhooks(t, nil)
	sid := paidCheckout(t, env, nil, nil)
	long := "https://merchant.example/" + strings.Repeat("w", 200)
	tests := []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"webhook_url over 200 characters", map[string]any{"session_id": sid, "notify_webhook_url": true, "webhook_url": long}, "webhook_url"},
		{"webhook_url not a URL", map[string]any{"session_id": sid, "notify_webhook_url": true, "webhook_url": "not a url"}, "webhook_url"},
		{"no session_id or order_no", map[string]any{"notify_webhook_url": true}, "session_id"},
		{"notify_webhook_url not a boolean", map[string]any{"session_id": sid, "notify_webhook_url": "yes"}, "notify_webhook_url"},
	}
	for _, tt := range tests {
		code, b := inquire(t, env, tt.body)
		require.Equal(t, http.StatusBadRequest, code, "%s: %s", tt.name, b)
		requireFieldErrors(t, b, tt.field)
	}
	code, b := inquire(t, env, map[string]any{"session_id": "no-such-session"})
	require.Equal(t, http.StatusNotFound, code, "%s", b)
	requireDetail(t, b)
	code, b = inquire(t, env, map[string]any{"order_no": "ORD-NOBODY"})
	require.Equal(t, http.StatusNotFound, code, "%s", b)
	require.Len(t, sessionNotifications(t, env, sid), 1, "no refused inquiry notified")
}

func TestExpiry_ExpiresDueCheckoutAndNotifies(t *testing.T) {
	t.Parallel()
	env := setupWebhooks(t, nil)
	rc := phtest.NewReceiver(t)
	c := checkoutWith(env, rc, map[string]any{"expiration_time": "0 00:00:01"})
	sid := strField(c, "session_id")
	keep := strField(checkoutWith(env, nil, nil), "session_id") // 24 hours

	n, err := env.Service.ExpireDue(context.Background())
	require.NoError(t, err)
	require.Zero(t, n, "nothing is due yet")
	time.Sleep(1100 * time.Millisecond)
	code, _ := env.Pay(strField(c, "checkout_url"), sandbox.CardSuccess)
	require.Equal(t, http.StatusConflict, code, "past its expiration, before the sweep, it cannot be paid")
	// The expiry sweep runs in the background every second (in the process holding the
	// "expiry" role); called now, it expires the checkout unless the sweep already did.
	n, err = env.Service.ExpireDue(context.Background())
	require.NoError(t, err)
	require.LessOrEqual(t, n, 1)
	phtest.Eventually(t, 3*time.Second, func() bool { return checkoutState(t, env, sid) == "expired" }, "the checkout expires")
	require.Equal(t, "created", checkoutState(t, env, keep))
	got := rc.Wait(t, 1, 5*time.Second)
	requireSignedV1(t, got[0].Body)
	body := decodeBody(t, got[0].Body)
	require.Equal(t, "expired", body["state"])
	require.Equal(t, sid, body["session_id"])
	require.Equal(t, "payment", onlyNotification(t, env, sid).Kind)

	code, _ = env.Pay(strField(c, "checkout_url"), sandbox.CardSuccess)
	require.Equal(t, http.StatusConflict, code)
	n, err = env.Service.ExpireDue(context.Background())
	require.NoError(t, err)
	require.Zero(t, n, "expired once")
	require.Len(t, rc.Requests(), 1)
}

// The SPEC's test vectors (§5), signed by the service with the configured key.
func TestSign_SignsWithTheConfiguredKeyAndVersion(t *testing.T) {
	t.Parallel()
	v1Body := `{"amount":"86.000","currency_code":"KWD","customer_first_name":"example-customer","customer_last_name":"","customer_email":"customer@example.com","gateway_name":"kpay","gateway_account":"knet","order_no":"ORDER-1001","reference_number":"ABC12","result":"success","session_id":"a12f71075a834a34d692736ac43a212fcebfb6ec","state":"paid"}`
	v2Body := `{"amount":"49.990","currency_code":"KWD","customer_email":"customer@example.com","customer_first_name":"Jane","customer_last_name":"","gateway_account":"credit-card","gateway_name":"mpgs","order_no":"ORD-1001","payment_type":"auto_pay","reference_number":"betabulkAQ5DJ","result":"success","session_id":"a12f71075a834a34d692736ac43a212fcebfb6ec","state":"paid","agreement":{"id":"AGR-abc123"},"extra":{"merchant_id":"merchant.ottu.net","autopay":{"subscription_id":"sub_abc123"}},"token":{"token":"9491500736137502","pg_code":"credit-card","customer_id":"cust_12345","brand":"MASTERCARD","number":"**** 0008"}}`
	tests := []struct {
		version, key, body, want string
	}{
		{"v1", "pu9MpX3yPR", v1Body, "29e70de083707b3a738e9d5f4df4e4481d082c4614db97a55f50d4b4583dc5f2"},
		{"v2", "pu9MpX3yPR", v2Body, "4ea44c61554e6b64feeb82e6bfc724dc1c46bf183596f5375f5cb12cca14b7ef"},
		{"v1", merchantKey, v2Body, ""},
		{"v2", merchantKey, v1Body, ""},
	}
	for _, tt := range tests {
		t.Run(tt.version+"/"+tt.key, func(t *testing.T) {
			t.Parallel()
			env := setupWebhooks(t, map[string]any{"hmac_key": tt.key, "version": tt.version})
			want := tt.want
			if want == "" {
				var err error
				want, err = signature.SignJSON(signature.Version(tt.version), tt.key, []byte(tt.body))
				require.NoError(t, err)
			}
			for _, path := range []string{"/b/pbl/v2/sign", "/b/pbl/v2/sign/"} {
				code, b := env.Do("POST", path, tt.body)
				require.Equal(t, http.StatusOK, code, "%s", b)
				var m map[string]string
				require.NoError(t, json.Unmarshal(b, &m), "%s", b)
				require.Equal(t, map[string]string{"signature": want}, m)
			}
		})
	}
}

func TestSign_RefusesWhatIsNotAnObject(t *testing.T) {
	t.Parallel()
	env := setupWebhooks(t, nil)
	for _, body := range []string{`[1,2]`, `{"amount":`, ``} {
		code, b := env.Do("POST", "/b/pbl/v2/sign", body)
		require.Equal(t, http.StatusBadRequest, code, "%q: %s", body, b)
		requireDetail(t, b)
	}
	code, _, _ := sendRaw(t, env, "POST", "/b/pbl/v2/sign", nil, []byte(`{}`))
	require.Equal(t, http.StatusUnauthorized, code)
}

// methodCodes lists the gateway codes of a payment-methods answer.
func methodCodes(t *testing.T, b []byte) []string {
	t.Helper()
	var m struct {
		PaymentMethods []struct {
			Code               string   `json:"code"`
			Operation          string   `json:"operation"`
			AcceptedCurrencies []string `json:"accepted_currencies"`
		} `json:"payment_methods"`
		CustomerPaymentMethods []any `json:"customer_payment_methods"`
	}
	require.NoError(t, json.Unmarshal(b, &m), "%s", b)
	require.NotNil(t, m.CustomerPaymentMethods, "%s", b)
	var codes []string
	for _, pm := range m.PaymentMethods {
		codes = append(codes, pm.Code)
		require.Contains(t, pm.AcceptedCurrencies, "KWD")
	}
	sort.Strings(codes)
	return codes
}

func TestPaymentMethods_ListsGatewaysForPluginAndCurrency(t *testing.T) {
	t.Parallel()
	env := setupWebhooks(t, nil)
	post := func(body map[string]any) (int, []byte) { return env.Do("POST", "/b/pbl/v2/payment-methods/", body) }
	get := func(q url.Values) (int, []byte) { return env.Do("GET", "/b/pbl/v2/payment-methods/?"+q.Encode(), nil) }

	code, b := post(map[string]any{"plugin": "e_commerce", "currencies": []string{"KWD"}})
	require.Equal(t, http.StatusOK, code, "%s", b)
	require.Equal(t, []string{"credit-card", "credit-card-auth"}, methodCodes(t, b))
	code, b = post(map[string]any{"plugin": "payment_request", "currencies": []string{"KWD"}, "operation": "authorize"})
	require.Equal(t, http.StatusOK, code, "%s", b)
	require.Equal(t, []string{"credit-card-auth"}, methodCodes(t, b))

	code, b = get(url.Values{"plugin": {"e_commerce"}, "currencies": {"KWD,USD"}})
	require.Equal(t, http.StatusOK, code, "%s", b)
	require.Equal(t, []string{"credit-card", "credit-card-auth"}, methodCodes(t, b))
	code, b = get(url.Values{"plugin": {"e_commerce"}, "currencies": {"KWD"}, "operation": {"authorize"}})
	require.Equal(t, http.StatusOK, code, "%s", b)
	require.Equal(t, []string{"credit-card-auth"}, methodCodes(t, b))
	code, b = env.Do("GET", "/b/pbl/v2/payment-methods?plugin=e_commerce&currencies=KWD&operation=purchase", nil)
	require.Equal(t, http.StatusOK, code, "%s", b)
	require.Equal(t, []string{"credit-card"}, methodCodes(t, b))

	for _, bad := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"plugin": "shop", "currencies": []string{"KWD"}}, "plugin"},
		{map[string]any{"plugin": 7, "currencies": []string{"KWD"}}, "plugin"},
		{map[string]any{"plugin": "e_commerce", "currencies": []string{"XYZ"}}, "currencies"},
		{map[string]any{"plugin": "e_commerce", "currencies": "KWD"}, "currencies"},
		{map[string]any{"plugin": "e_commerce", "operation": "refund"}, "operation"},
	} {
		code, b := post(bad.body)
		require.Equal(t, http.StatusBadRequest, code, "%v: %s", bad.body, b)
		requireFieldErrors(t, b, bad.field)
	}
	code, b = get(url.Values{"plugin": {"shop"}, "currencies": {"KWD"}})
	require.Equal(t, http.StatusBadRequest, code, "%s", b)
	requireFieldErrors(t, b, "plugin")
}

func TestNotifications_BulkResendAfterAnOutage(t *testing.T) {
	t.Parallel()
	env := setupWebhooks(t, nil)
	down, elsewhere := phtest.NewReceiver(t), phtest.NewReceiver(t)
	var outage atomic.Bool
	outage.Store(true)
	down.Respond = func(_ int, w http.ResponseWriter, _ *http.Request) {
		if outage.Load() {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	}
	elsewhere.Respond = respondWith(500)

	const n = 3
	failed := map[string]bool{}
	for i := 0; i < n; i++ {
		sid := paidCheckout(t, env, down, nil)
		f := onlyNotification(t, env, sid)
		require.Equal(t, "failed", f.Status)
		failed[f.ID] = true
	}
	otherFailed := onlyNotification(t, env, paidCheckout(t, env, elsewhere, nil))
	require.Equal(t, "failed", otherFailed.Status)
	require.Len(t, down.Requests(), n)

	// The merchant is back: re-send what failed to that URL, and only that.
	outage.Store(false)
	q := url.Values{"status": {"failed"}, "url": {down.URL}}
	code, b := env.Do("POST", notificationsPath+"resend/?"+q.Encode(), nil)
	require.Equal(t, http.StatusAccepted, code, "%s", b)
	require.JSONEq(t, `{"count": 3}`, string(b))
	code, b = env.Do("POST", notificationsPath+"resend?"+q.Encode(), nil)
	require.Equal(t, http.StatusAccepted, code, "%s", b)
	require.JSONEq(t, `{"count": 0}`, string(b), "the pending ones are not queued twice")

	got := down.Wait(t, 2*n, 5*time.Second)
	resent := map[string]int{}
	for _, r := range got[n:] {
		resent[r.Header.Get("webhook-id")]++
	}
	for id := range failed {
		require.Equal(t, 1, resent[id], "re-sent once with its original webhook-id %s", id)
	}
	for id := range failed {
		phtest.Eventually(t, 5*time.Second, func() bool { return getNotification(t, env, id).Status == "delivered" },
			"the re-sent notification is delivered")
		n := getNotification(t, env, id)
		require.Len(t, n.Attempts, 2)
		require.Equal(t, 500, *n.Attempts[0].StatusCode)
		require.Equal(t, 200, *n.Attempts[1].StatusCode)
	}
	code, b = env.Do("POST", notificationsPath+"resend/?"+q.Encode(), nil)
	require.Equal(t, http.StatusAccepted, code, "%s", b)
	require.JSONEq(t, `{"count": 0}`, string(b), "nothing failed any more")

	time.Sleep(quietPeriod)
	require.Len(t, down.Requests(), 2*n, "each id at most once more")
	require.Len(t, elsewhere.Requests(), 1, "the other URL's failure is not re-sent")
	require.Equal(t, "failed", getNotification(t, env, otherFailed.ID).Status)
}

func TestNotifications_BulkResendRefusesBadFilters(t *testing.T) {
	t.Parallel()
	env := setupWebhooks(t, nil)
	code, b := env.Do("POST", notificationsPath+"resend/?status=lost", nil)
	require.Equal(t, http.StatusBadRequest, code, "%s", b)
	requireFieldErrors(t, b, "status")
	code, b = env.Do("POST", notificationsPath+"resend/?since=yesterday", nil)
	require.Equal(t, http.StatusBadRequest, code, "%s", b)
	requireFieldErrors(t, b, "since")
}

// Ottu's filters of the payment methods: type, tokenizable, pg_names.
func TestPaymentMethods_Filters(t *testing.T) {
	t.Parallel()
	env := phtest.New(t)
	count := func(body map[string]any) int {
		got := env.JSON("POST", "/b/pbl/v2/payment-methods/", body, http.StatusOK)
		methods := got["payment_methods"].([]any)
		for _, m := range methods {
			require.Contains(t, m, "auto_debit_enabled")
			require.Contains(t, m, "tags")
		}
		return len(methods)
	}
	require.Equal(t, 2, count(map[string]any{"plugin": "e_commerce", "currencies": []string{"KWD"}}))
	require.Equal(t, 2, count(map[string]any{"plugin": "e_commerce", "type": "sandbox"}))
	require.Equal(t, 0, count(map[string]any{"plugin": "e_commerce", "type": "production"}))
	require.Equal(t, 0, count(map[string]any{"plugin": "e_commerce", "tokenizable": true}))
	require.Equal(t, 2, count(map[string]any{"plugin": "e_commerce", "pg_names": []string{"sandbox"}}))
	require.Equal(t, 0, count(map[string]any{"plugin": "e_commerce", "pg_names": []string{"kpay"}}))
	code, _ := env.Do("POST", "/b/pbl/v2/payment-methods/", map[string]any{"type": "live"})
	require.Equal(t, http.StatusBadRequest, code)
}

package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook/gateway/sandbox"
	"github.com/payhook/payhook/internal/phtest"
)

// A common merchant integration: the webhook handler captures an authorized payment
// before it answers. The payment's session must not stay locked while payhook waits for
// that answer, or the capture waits for the notification that waits for the capture, and
// the customer waits until every attempt has timed out.
func TestPayment_MerchantCapturingInsideItsWebhookHandler(t *testing.T) {
	t.Parallel()
	const timeout = time.Second // a deadlock would last retries × timeout
	env := setupWebhooks(t, map[string]any{"timeout": timeout.Seconds(), "retries": 2, "backoff_factor": 0.1})
	rc := phtest.NewReceiver(t)

	// What the merchant's handler saw; checked after the payment (no require off the
	// test's goroutine).
	var (
		mu          sync.Mutex
		captureCode int
		captureBody []byte
		captureErr  error
	)
	api := &http.Client{Timeout: 10 * time.Second}
	rc.Respond = func(i int, w http.ResponseWriter, r *http.Request) {
		body := rc.Requests()[i].Body
		var n map[string]any
		if isOperation(body) || json.Unmarshal(body, &n) != nil || n["state"] != "authorized" {
			w.WriteHeader(http.StatusOK)
			return
		}
		code, b, err := capture(r.Context(), api, env, n["session_id"])
		mu.Lock()
		captureCode, captureBody, captureErr = code, b, err
		mu.Unlock()
		if code != http.StatusOK {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	}
	c := checkoutWith(env, rc, map[string]any{"pg_codes": []string{"credit-card-auth"}})
	sid := strField(c, "session_id")

	start := time.Now()
	code, loc := env.Pay(strField(c, "checkout_url"), sandbox.CardSuccess)
	took := time.Since(start)
	require.Equal(t, http.StatusSeeOther, code)
	require.True(t, strings.HasPrefix(loc, "https://shop.example/return?"), "the merchant's 200 sends the customer to redirect_url: %s", loc)
	require.Less(t, took, timeout, "no attempt waited for its timeout")

	mu.Lock()
	require.NoError(t, captureErr)
	require.Equal(t, http.StatusOK, captureCode, "%s", captureBody)
	captured := decodeBody(t, captureBody)
	mu.Unlock()
	require.Equal(t, "capture", captured["operation"])
	require.Equal(t, "success", captured["result"])
	require.Equal(t, "paid", checkoutState(t, env, sid))

	pay := kindNotifications(t, env, sid, "payment")
	require.Len(t, pay, 1)
	require.Equal(t, "delivered", pay[0].Status)
	require.Len(t, pay[0].Attempts, 1, "one attempt, no retry")
	require.Equal(t, 200, *pay[0].Attempts[0].StatusCode)
	require.Equal(t, "authorized", decodeBody(t, pay[0].Payload)["state"])

	got := waitRequests(t, 1, func() []phtest.Request { return operationRequests(rc) })
	require.Equal(t, "capture", decodeBody(t, got[0].Body)["operation"])
	phtest.Eventually(t, 3*time.Second, func() bool {
		ops := kindNotifications(t, env, sid, "operation")
		return len(ops) == 1 && ops[0].Status == "delivered"
	}, "the capture's operation notification is delivered")
	require.Len(t, paymentRequests(rc), 1)
}

// capture calls the Operations API's capture for a session, as a merchant's server does
// (its own HTTP client, the API key), and returns the status and the body.
func capture(ctx context.Context, c *http.Client, env *phtest.Env, sessionID any) (int, []byte, error) {
	body, err := json.Marshal(map[string]any{"operation": "capture", "session_id": sessionID})
	if err != nil {
		return 0, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, "POST", env.URL+operationPath, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Api-Key "+phtest.APIKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// getStatus GETs a path without credentials and returns the status and the body.
func getStatus(t *testing.T, env *phtest.Env, path string) (int, []byte) {
	t.Helper()
	resp, err := env.Client.Get(env.URL + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, b
}

// A full disk (rehearsed with a size cap that allows no growth) answers 503 with a clear
// detail, stores nothing, takes the process out of rotation (/readyz), and everything
// works again once space is back, without a restart.
func TestFaults_FullDiskAnswers503AndRecovers(t *testing.T) {
	t.Parallel()
	env := phtest.New(t)
	ctx := context.Background()
	env.Checkout(nil) // the database holds something already
	code, b := getStatus(t, env, "/readyz")
	require.Equal(t, http.StatusOK, code, "%s", b)
	before := countRows(t, env, "transactions")

	// A checkout whose extra needs new pages.
	body, err := json.Marshal(map[string]any{"type": "e_commerce", "amount": "86.000", "currency_code": "KWD",
		"pg_codes": []string{"credit-card"}, "order_no": "ORD-FULL", "extra": map[string]any{"blob": strings.Repeat("x", 64<<10)}})
	require.NoError(t, err)
	h := http.Header{"Authorization": {"Api-Key " + phtest.APIKey}, "Content-Type": {"application/json"}}

	require.NoError(t, env.Store.LimitSize(ctx, 1))
	code, hdr, b := sendRaw(t, env, "POST", checkoutPath, h, bytes.Clone(body))
	require.Equal(t, http.StatusServiceUnavailable, code, "%s", b)
	requireDetail(t, b)
	require.Contains(t, strField(decodeBody(t, b), "detail"), "database is full", "%s", b)
	require.NotEmpty(t, hdr.Get("Retry-After"))
	require.Equal(t, before, countRows(t, env, "transactions"), "nothing was stored")

	// Not ready while the database cannot grow. Checked without stopping the test, so
	// that the recovery below is checked either way: a probe that only rewrites the
	// health row in place needs no new page and passes under the cap.
	code, b = getStatus(t, env, "/readyz")
	if assert.Equal(t, http.StatusServiceUnavailable, code, "/readyz under a cap that allows no growth: %s", b) {
		assert.NotEmpty(t, strField(decodeBody(t, b), "detail"), "%s", b)
	}

	// Space is back: the same request succeeds, no restart.
	require.NoError(t, env.Store.LimitSize(ctx, 0))
	code, _, b = sendRaw(t, env, "POST", checkoutPath, h, bytes.Clone(body))
	require.Equal(t, http.StatusCreated, code, "%s", b)
	code, rb := getStatus(t, env, "/readyz")
	require.Equal(t, http.StatusOK, code, "%s", rb)
	require.Equal(t, before+1, countRows(t, env, "transactions"))
	sid := strField(decodeBody(t, b), "session_id")
	require.Equal(t, "ORD-FULL", strField(checkoutView(t, env, sid), "order_no"))
}

package web_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook/gateway/sandbox"
	"github.com/payhook/payhook/internal/phtest"
	"github.com/payhook/payhook/signature"
)

const (
	operationPath = "/b/pbl/v2/operation/"
	inquiryPath   = "/b/pbl/v2/inquiry/"
)

// paidCheckout creates a checkout that notifies rc (when not nil), pays it with the
// sandbox's success card and returns its session id. With pg_codes
// ["credit-card-auth"] in fields the payment is authorized instead of paid.
func paidCheckout(t *testing.T, env *phtest.Env, rc *phtest.Receiver, fields map[string]any) string {
	t.Helper()
	c := checkoutWith(env, rc, fields)
	code, _ := env.Pay(strField(c, "checkout_url"), sandbox.CardSuccess)
	require.Equal(t, http.StatusSeeOther, code)
	return strField(c, "session_id")
}

// authorizedCheckout is paidCheckout through the authorize-only sandbox gateway.
func authorizedCheckout(t *testing.T, env *phtest.Env, rc *phtest.Receiver, fields map[string]any) string {
	t.Helper()
	f := map[string]any{"pg_codes": []string{"credit-card-auth"}}
	for k, v := range fields {
		f[k] = v
	}
	sid := paidCheckout(t, env, rc, f)
	require.Equal(t, "authorized", checkoutState(t, env, sid))
	return sid
}

// operate POSTs an Operations API body, with a Tracking-Key when key is not "", and
// returns the status and the body.
func operate(t *testing.T, env *phtest.Env, key string, body any) (int, []byte) {
	t.Helper()
	b, ok := body.([]byte)
	if !ok {
		var err error
		b, err = json.Marshal(body)
		require.NoError(t, err)
	}
	h := http.Header{"Authorization": {"Api-Key " + phtest.APIKey}, "Content-Type": {"application/json"}}
	if key != "" {
		h.Set("Tracking-Key", key)
	}
	code, _, answer := sendRaw(t, env, "POST", operationPath, h, b)
	return code, answer
}

// operateOK is operate for an operation that must be answered 200; it returns the raw
// answer and its decoded fields.
func operateOK(t *testing.T, env *phtest.Env, body map[string]any) ([]byte, map[string]any) {
	t.Helper()
	code, b := operate(t, env, "", body)
	require.Equal(t, http.StatusOK, code, "%v: %s", body, b)
	return b, decodeBody(t, b)
}

// requireOperationFailure checks Ottu's 400 {detail, operation, result: "failed"}
// (validateOperationFailure also runs Ottu's checker on it).
func requireOperationFailure(t *testing.T, code int, b []byte, op string) {
	t.Helper()
	require.Equal(t, http.StatusBadRequest, code, "%s", b)
	m := decodeBody(t, b)
	require.Len(t, m, 3, "%s", b)
	require.NotEmpty(t, m["detail"], "%s", b)
	require.Equal(t, op, m["operation"], "%s", b)
	require.Equal(t, "failed", m["result"], "%s", b)
}

// validateOperationFailure is requireOperationFailure with Ottu's checker.
func validateOperationFailure(t *testing.T, code int, b []byte, op string) {
	t.Helper()
	requireOperationFailure(t, code, b, op)
	phtest.Validate(t, "operation-error", b)
}

// requireOperationSuccess checks the {detail, operation, result: "success"} answer of
// cancel, expire and delete (validateOperationSuccess also runs Ottu's checker on it).
func requireOperationSuccess(t *testing.T, b []byte, op string) {
	t.Helper()
	m := decodeBody(t, b)
	require.Len(t, m, 3, "%s", b)
	require.NotEmpty(t, m["detail"], "%s", b)
	require.Equal(t, op, m["operation"], "%s", b)
	require.Equal(t, "success", m["result"], "%s", b)
}

// validateOperationSuccess is requireOperationSuccess with Ottu's checker.
func validateOperationSuccess(t *testing.T, b []byte, op string) {
	t.Helper()
	requireOperationSuccess(t, b, op)
	phtest.Validate(t, "operation-response", b)
}

// requireSignedV1 checks a body's signature field with the tests' HMAC key.
func requireSignedV1(t *testing.T, b []byte) {
	t.Helper()
	v, err := signature.Verify(merchantKey, b)
	require.NoError(t, err, "%s", b)
	require.Equal(t, signature.V1, v)
}

// checkoutView GETs a checkout through the Checkout API.
func checkoutView(t *testing.T, env *phtest.Env, sessionID string) map[string]any {
	t.Helper()
	return env.JSON("GET", checkoutPath+sessionID+"/", nil, http.StatusOK)
}

// checkoutState is the state the Checkout API reports for a session.
func checkoutState(t *testing.T, env *phtest.Env, sessionID string) string {
	t.Helper()
	return strField(checkoutView(t, env, sessionID), "state")
}

// inquire POSTs a payment status inquiry and returns the status and the body.
func inquire(t *testing.T, env *phtest.Env, body map[string]any) (int, []byte) {
	t.Helper()
	return env.Do("POST", inquiryPath, body)
}

// inquiry is the inquiry answer (the payment notification's shape) of a session.
func inquiry(t *testing.T, env *phtest.Env, sessionID string) map[string]any {
	t.Helper()
	code, b := inquire(t, env, map[string]any{"session_id": sessionID})
	require.Equal(t, http.StatusOK, code, "%s", b)
	return decodeBody(t, b)
}

// isOperation reports whether a notification body is an operation notification.
func isOperation(b []byte) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal(b, &m) != nil {
		return false
	}
	_, ok := m["operation"]
	return ok
}

// operationRequests returns the operation notifications a receiver got.
func operationRequests(rc *phtest.Receiver) []phtest.Request {
	var out []phtest.Request
	for _, r := range rc.Requests() {
		if isOperation(r.Body) {
			out = append(out, r)
		}
	}
	return out
}

// paymentRequests returns the payment notifications a receiver got.
func paymentRequests(rc *phtest.Receiver) []phtest.Request {
	var out []phtest.Request
	for _, r := range rc.Requests() {
		if !isOperation(r.Body) {
			out = append(out, r)
		}
	}
	return out
}

// waitRequests waits until list() holds n requests and returns them.
func waitRequests(t *testing.T, n int, list func() []phtest.Request) []phtest.Request {
	t.Helper()
	var got []phtest.Request
	phtest.Eventually(t, 5*time.Second, func() bool { got = list(); return len(got) >= n }, "waiting for notifications")
	return got
}

// kindNotifications lists the notifications of one kind of a session.
func kindNotifications(t *testing.T, env *phtest.Env, sessionID, kind string) []notificationJSON {
	t.Helper()
	return listNotifications(t, env, url.Values{"session_id": {sessionID}, "kind": {kind}}).Results
}

// quietPeriod is how long a test waits for a request that must not come.
const quietPeriod = 100 * time.Millisecond

package web_test

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook/gateway/sandbox"
	"github.com/payhook/payhook/internal/phtest"
	"github.com/payhook/payhook/signature"
)

// setupOperations starts payhook as setupWebhooks does, with ops as operations_webhook_url.
func setupOperations(t *testing.T, patch map[string]any) (*phtest.Env, *phtest.Receiver) {
	t.Helper()
	ops := phtest.NewReceiver(t)
	p := map[string]any{"operations_webhook_url": ops.URL}
	for k, v := range patch {
		p[k] = v
	}
	return setupWebhooks(t, p), ops
}

func TestOperation_PartialRefundNotifiesEveryURLOnce(t *testing.T) {
	t.Parallel()
	env, ops := setupOperations(t, nil)
	txn, plugin := phtest.NewReceiver(t), phtest.NewReceiver(t)
	env.JSON("PUT", pluginsPath+"e_commerce/", map[string]any{"webhook_url": plugin.URL}, http.StatusOK)
	sid := paidCheckout(t, env, txn, nil)
	waitRequests(t, 1, func() []phtest.Request { return paymentRequests(plugin) })
	parentRef := strField(inquiry(t, env, sid), "reference_number")

	raw, answer := operateOK(t, env, map[string]any{"operation": "refund", "session_id": sid, "amount": "20"})
	phtest.Validate(t, "operation-response", raw)
	requireSignedV1(t, raw)
	require.Equal(t, "refund", answer["operation"])
	require.Equal(t, "20.000", answer["amount"], "padded to the currency's decimals")
	require.Equal(t, "success", answer["result"])
	require.Equal(t, true, answer["success"])
	require.Equal(t, "input", answer["source"])
	require.Equal(t, "ORD-1001", answer["order_no"])
	require.Equal(t, "credit-card", answer["pg_code"])
	require.Equal(t, sid, answer["session_id"], "the parent's session_id at the top level")
	require.NotEqual(t, parentRef, answer["reference_number"], "the operation's own reference_number")
	child := answer["txn"].(map[string]any)
	require.NotEqual(t, sid, child["session_id"], "the child's own session_id in txn")
	require.NotEmpty(t, child["session_id"])
	require.Equal(t, "refunded", child["state"])
	require.Equal(t, "20.000", child["amount"])
	require.Equal(t, "KWD", child["currency_code"])

	// One request to each of the three URLs, each its own notification.
	ids := map[string]bool{}
	for name, rc := range map[string]*phtest.Receiver{"operations_webhook_url": ops, "webhook_url": txn, "plugin": plugin} {
		got := waitRequests(t, 1, func() []phtest.Request { return operationRequests(rc) })
		require.Len(t, got, 1, name)
		requireSignedV1(t, got[0].Body)
		require.JSONEq(t, string(raw), string(got[0].Body), "%s gets the answer's payload", name)
		require.Equal(t, merchantAgent, got[0].Header.Get("User-Agent"))
		ids[got[0].Header.Get("webhook-id")] = true
	}
	phtest.Validate(t, "operation-webhook", operationRequests(ops)[0].Body)
	require.Len(t, ids, 3, "one webhook-id per URL")

	logged := kindNotifications(t, env, sid, "operation")
	require.Len(t, logged, 3)
	for _, n := range logged {
		require.True(t, ids[n.ID], "logged id %s was sent", n.ID)
		require.False(t, n.RedirectDecider)
		require.Equal(t, answer["reference_number"], n.ReferenceNumber, "the log shows the operation's own reference, the one in its payload")
	}
	require.Equal(t, "paid", checkoutState(t, env, sid), "a partial refund leaves the parent paid")

	time.Sleep(quietPeriod)
	for _, rc := range []*phtest.Receiver{ops, txn, plugin} {
		require.Len(t, operationRequests(rc), 1, "no second request")
	}
}

func TestOperation_SameURLInThreePlacesGetsOneRequest(t *testing.T) {
	t.Parallel()
	rc := phtest.NewReceiver(t)
	env := setupWebhooks(t, map[string]any{"operations_webhook_url": rc.URL})
	env.JSON("PUT", pluginsPath+"e_commerce/", map[string]any{"webhook_url": rc.URL}, http.StatusOK)
	sid := paidCheckout(t, env, rc, nil)

	operateOK(t, env, map[string]any{"operation": "refund", "session_id": sid, "amount": "1.000"})
	waitRequests(t, 1, func() []phtest.Request { return operationRequests(rc) })
	require.Len(t, kindNotifications(t, env, sid, "operation"), 1)
	time.Sleep(quietPeriod)
	require.Len(t, operationRequests(rc), 1)
}

func TestOperation_OperationNotificationIgnoresAPITransactionsSwitch(t *testing.T) {
	t.Parallel()
	env, ops := setupOperations(t, map[string]any{"api_transactions_enabled": false})
	sid := paidCheckout(t, env, nil, nil)
	operateOK(t, env, map[string]any{"operation": "refund", "session_id": sid, "amount": "1.000"})
	waitRequests(t, 1, func() []phtest.Request { return operationRequests(ops) })
}

func TestOperation_NothingSentWhileNotificationsOff(t *testing.T) {
	t.Parallel()
	env, ops := setupOperations(t, map[string]any{"enabled": false})
	sid := paidCheckout(t, env, nil, nil)
	operateOK(t, env, map[string]any{"operation": "refund", "session_id": sid, "amount": "1.000"})
	list := kindNotifications(t, env, sid, "operation")
	require.Len(t, list, 1)
	require.Equal(t, "not_sent", list[0].Status)
	require.Equal(t, "disabled", *list[0].Reason)
	time.Sleep(quietPeriod)
	require.Empty(t, ops.Requests())
}

func TestOperation_RefundUntilNothingRemains(t *testing.T) {
	t.Parallel()
	env, ops := setupOperations(t, nil)
	txn := phtest.NewReceiver(t)
	sid := paidCheckout(t, env, txn, nil)

	_, first := operateOK(t, env, map[string]any{"operation": "refund", "session_id": sid, "amount": "30.000"})

	// More than remains: a 400 naming amount, and nothing changes.
	code, b := operate(t, env, "", map[string]any{"operation": "refund", "session_id": sid, "amount": "60.000"})
	require.Equal(t, http.StatusBadRequest, code, "%s", b)
	fe := requireFieldErrors(t, b, "amount")
	require.Contains(t, fe["amount"][0], "56.000")
	// More decimals than the currency has.
	code, b = operate(t, env, "", map[string]any{"operation": "refund", "session_id": sid, "amount": "1.0001"})
	require.Equal(t, http.StatusBadRequest, code, "%s", b)
	requireFieldErrors(t, b, "amount")
	// One notification per URL (operations_webhook_url and webhook_url) per operation.
	require.Len(t, kindNotifications(t, env, sid, "operation"), 2, "a refusal makes no notification")

	// No amount: what remains.
	_, last := operateOK(t, env, map[string]any{"operation": "refund", "session_id": sid})
	require.Equal(t, "56.000", last["amount"])
	require.Equal(t, "refunded", inquiry(t, env, sid)["state"], "a full refund makes the parent refunded")
	require.Equal(t, "refunded", checkoutState(t, env, sid), "the Checkout API reports the real state")
	_, retrieved := env.Do("GET", checkoutPath+sid+"/", nil)
	phtest.Validate(t, "checkout-get-response", retrieved)

	code, b = operate(t, env, "", map[string]any{"operation": "refund", "session_id": sid})
	validateOperationFailure(t, code, b, "refund")
	code, b = operate(t, env, "", map[string]any{"operation": "refund", "session_id": sid, "amount": "1.000"})
	requireOperationFailure(t, code, b, "refund")
	require.Len(t, kindNotifications(t, env, sid, "operation"), 4)

	// The transaction's later payment notifications carry the refunds.
	code, b = inquire(t, env, map[string]any{"session_id": sid, "notify_webhook_url": true})
	require.Equal(t, http.StatusOK, code, "%s", b)
	phtest.Validate(t, "inquiry-response", b)
	got := waitRequests(t, 2, func() []phtest.Request { return paymentRequests(txn) })
	notice := got[1].Body
	phtest.Validate(t, "payment-webhook", notice)
	requireSignedV1(t, notice)
	for _, body := range []map[string]any{decodeBody(t, b), decodeBody(t, notice)} {
		require.Equal(t, "refunded", body["state"])
		require.Equal(t, "86.000", body["refunded_amount"])
		children := body["transactions"].([]any)
		require.Len(t, children, 2)
		for i, want := range []map[string]any{first, last} {
			c := children[i].(map[string]any)
			require.Equal(t, want["txn"].(map[string]any)["session_id"], c["session_id"])
			require.Equal(t, "refunded", c["state"])
			require.Equal(t, want["amount"], c["amount"])
			require.Equal(t, "KWD", c["currency_code"])
		}
	}
	require.Len(t, waitRequests(t, 2, func() []phtest.Request { return operationRequests(ops) }), 2)
}

func TestOperation_CaptureFromAuthorized(t *testing.T) {
	t.Parallel()
	env, ops := setupOperations(t, nil)
	sid := authorizedCheckout(t, env, nil, nil)

	raw, answer := operateOK(t, env, map[string]any{"operation": "capture", "session_id": sid})
	phtest.Validate(t, "operation-response", raw)
	requireSignedV1(t, raw)
	require.Equal(t, "capture", answer["operation"])
	require.Equal(t, "86.000", answer["amount"], "what remains by default")
	require.Equal(t, "credit-card-auth", answer["pg_code"])
	require.Equal(t, "paid", answer["txn"].(map[string]any)["state"])
	require.Equal(t, "paid", checkoutState(t, env, sid))
	got := waitRequests(t, 1, func() []phtest.Request { return operationRequests(ops) })
	requireSignedV1(t, got[0].Body)

	// Captured is paid: no second capture, no void, but a refund.
	code, b := operate(t, env, "", map[string]any{"operation": "capture", "session_id": sid})
	requireOperationFailure(t, code, b, "capture")
	code, b = operate(t, env, "", map[string]any{"operation": "void", "session_id": sid})
	requireOperationFailure(t, code, b, "void")
	_, refund := operateOK(t, env, map[string]any{"operation": "refund", "session_id": sid, "amount": "6.000"})
	require.Equal(t, "refunded", refund["txn"].(map[string]any)["state"])
	body := inquiry(t, env, sid)
	require.Equal(t, "paid", body["state"])
	require.Equal(t, "86.000", body["paid_amount"])
	require.Equal(t, "6.000", body["refunded_amount"])
}

func TestOperation_PartialCaptureRefundsOnlyWhatWasCaptured(t *testing.T) {
	t.Parallel()
	env, _ := setupOperations(t, nil)
	sid := authorizedCheckout(t, env, nil, nil)
	code, b := operate(t, env, "", map[string]any{"operation": "capture", "session_id": sid, "amount": "86.001"})
	require.Equal(t, http.StatusBadRequest, code, "%s", b)
	requireFieldErrors(t, b, "amount")
	require.Equal(t, "authorized", checkoutState(t, env, sid))
	_, answer := operateOK(t, env, map[string]any{"operation": "capture", "session_id": sid, "amount": "50"})
	require.Equal(t, "50.000", answer["amount"])
	code, b = operate(t, env, "", map[string]any{"operation": "refund", "session_id": sid, "amount": "60.000"})
	require.Equal(t, http.StatusBadRequest, code, "%s", b)
	requireFieldErrors(t, b, "amount")
	_, refund := operateOK(t, env, map[string]any{"operation": "refund", "session_id": sid})
	require.Equal(t, "50.000", refund["amount"])
	require.Equal(t, "refunded", inquiry(t, env, sid)["state"])
}

func TestOperation_VoidFromAuthorized(t *testing.T) {
	t.Parallel()
	env, ops := setupOperations(t, nil)
	txn := phtest.NewReceiver(t)
	sid := authorizedCheckout(t, env, txn, nil)

	raw, answer := operateOK(t, env, map[string]any{"operation": "void", "session_id": sid})
	phtest.Validate(t, "operation-response", raw)
	require.Equal(t, "void", answer["operation"])
	require.Equal(t, "voided", answer["txn"].(map[string]any)["state"])
	require.Equal(t, "canceled", checkoutState(t, env, sid))
	waitRequests(t, 1, func() []phtest.Request { return operationRequests(ops) })
	waitRequests(t, 1, func() []phtest.Request { return operationRequests(txn) })

	code, b := operate(t, env, "", map[string]any{"operation": "void", "session_id": sid})
	requireOperationFailure(t, code, b, "void")
	code, b = operate(t, env, "", map[string]any{"operation": "capture", "session_id": sid})
	requireOperationFailure(t, code, b, "capture")

	code, b = inquire(t, env, map[string]any{"session_id": sid})
	require.Equal(t, http.StatusOK, code, "%s", b)
	phtest.Validate(t, "inquiry-response", b)
	body := decodeBody(t, b)
	require.Equal(t, "canceled", body["state"])
	require.Equal(t, "86.000", body["voided_amount"])
	children := body["transactions"].([]any)
	require.Len(t, children, 1)
	require.Equal(t, "voided", children[0].(map[string]any)["state"])
	require.Equal(t, answer["txn"].(map[string]any)["session_id"], children[0].(map[string]any)["session_id"])
}

func TestOperation_CaptureAndVoidRefusedUnlessAuthorized(t *testing.T) {
	t.Parallel()
	env, ops := setupOperations(t, nil)
	paid := paidCheckout(t, env, nil, nil)
	created := strField(checkoutWith(env, nil, map[string]any{"pg_codes": []string{"credit-card-auth"}}), "session_id")
	for _, sid := range []string{paid, created} {
		for _, op := range []string{"capture", "void"} {
			code, b := operate(t, env, "", map[string]any{"operation": op, "session_id": sid})
			requireOperationFailure(t, code, b, op)
		}
	}
	// Refund needs a paid transaction.
	code, b := operate(t, env, "", map[string]any{"operation": "refund", "session_id": created})
	requireOperationFailure(t, code, b, "refund")
	require.Equal(t, "paid", checkoutState(t, env, paid))
	require.Equal(t, "created", checkoutState(t, env, created))
	time.Sleep(quietPeriod)
	require.Empty(t, ops.Requests())
}

func TestOperation_GatewayDeclineIsSentAsFailed(t *testing.T) {
	t.Parallel()
	env, ops := setupOperations(t, nil)
	sid := paidCheckout(t, env, nil, nil)

	raw, answer := operateOK(t, env, map[string]any{"operation": "refund", "session_id": sid, "amount": "9.990"})
	phtest.Validate(t, "operation-response", raw)
	requireSignedV1(t, raw)
	require.Equal(t, "failed", answer["result"])
	require.Equal(t, false, answer["success"])
	require.Equal(t, "9.990", answer["amount"])
	require.Equal(t, "refund_rejected", answer["txn"].(map[string]any)["state"])

	// The parent is unchanged, and the notification is sent.
	body := inquiry(t, env, sid)
	require.Equal(t, "paid", body["state"])
	require.NotContains(t, body, "refunded_amount")
	got := waitRequests(t, 1, func() []phtest.Request { return operationRequests(ops) })
	requireSignedV1(t, got[0].Body)
	require.Equal(t, "failed", decodeBody(t, got[0].Body)["result"])
	_, full := operateOK(t, env, map[string]any{"operation": "refund", "session_id": sid})
	require.Equal(t, "86.000", full["amount"], "the declined refund took nothing")
	require.Equal(t, "success", full["result"])
}

func TestOperation_GatewayDeclinedCaptureLeavesAuthorized(t *testing.T) {
	t.Parallel()
	env, ops := setupOperations(t, nil)
	sid := authorizedCheckout(t, env, nil, map[string]any{"amount": "9.990"})

	raw, answer := operateOK(t, env, map[string]any{"operation": "capture", "session_id": sid})
	phtest.Validate(t, "operation-webhook", raw)
	require.Equal(t, "failed", answer["result"])
	require.Equal(t, false, answer["success"])
	require.Equal(t, "authorized", checkoutState(t, env, sid))
	waitRequests(t, 1, func() []phtest.Request { return operationRequests(ops) })
	_, void := operateOK(t, env, map[string]any{"operation": "void", "session_id": sid})
	require.Equal(t, "failed", void["result"], "9.990 is declined for a void too")
	require.Equal(t, "authorized", checkoutState(t, env, sid))
}

func TestOperation_CancelAndExpireSendPaymentNotification(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ op, state string }{{"cancel", "canceled"}, {"expire", "expired"}} {
		t.Run(tt.op, func(t *testing.T) {
			t.Parallel()
			env, ops := setupOperations(t, nil)
			txn := phtest.NewReceiver(t)
			c := checkoutWith(env, txn, nil)
			sid := strField(c, "session_id")

			b, _ := operateOK(t, env, map[string]any{"operation": tt.op, "session_id": sid})
			if tt.op == "cancel" {
				validateOperationSuccess(t, b, tt.op)
			}
			requireOperationSuccess(t, b, tt.op)
			require.Equal(t, tt.state, checkoutState(t, env, sid))

			got := waitRequests(t, 1, txn.Requests)
			phtest.Validate(t, "payment-webhook", got[0].Body)
			requireSignedV1(t, got[0].Body)
			body := decodeBody(t, got[0].Body)
			require.Equal(t, tt.state, body["state"])
			require.Equal(t, sid, body["session_id"])
			require.Empty(t, kindNotifications(t, env, sid, "operation"), "cancel and expire make no operation notification")
			n := kindNotifications(t, env, sid, "payment")
			require.Len(t, n, 1)
			require.False(t, n[0].RedirectDecider)

			// The customer can no longer pay, and it cannot be canceled again.
			code, _ := env.Pay(strField(c, "checkout_url"), sandbox.CardSuccess)
			require.Equal(t, http.StatusConflict, code)
			code, b = operate(t, env, "", map[string]any{"operation": tt.op, "session_id": sid})
			requireOperationFailure(t, code, b, tt.op)
			time.Sleep(quietPeriod)
			require.Empty(t, ops.Requests())
			require.Len(t, txn.Requests(), 1)
		})
	}
}

func TestOperation_CancelNotificationHonoursStateFilter(t *testing.T) {
	t.Parallel()
	env, _ := setupOperations(t, nil)
	env.JSON("PUT", pluginsPath+"e_commerce/", map[string]any{"state_filter_enabled": true, "states": []string{"paid"}}, http.StatusOK)
	txn := phtest.NewReceiver(t)
	sid := strField(checkoutWith(env, txn, nil), "session_id")
	b, _ := operateOK(t, env, map[string]any{"operation": "cancel", "session_id": sid})
	requireOperationSuccess(t, b, "cancel")
	n := onlyNotification(t, env, sid)
	require.Equal(t, "not_sent", n.Status)
	require.Equal(t, "state_filtered", *n.Reason)
	time.Sleep(quietPeriod)
	require.Empty(t, txn.Requests())
}

func TestOperation_CancelOrExpirePaidIsRefused(t *testing.T) {
	t.Parallel()
	env, _ := setupOperations(t, nil)
	txn := phtest.NewReceiver(t)
	sid := paidCheckout(t, env, txn, nil)
	for _, op := range []string{"cancel", "expire"} {
		code, b := operate(t, env, "", map[string]any{"operation": op, "session_id": sid})
		requireOperationFailure(t, code, b, op)
	}
	require.Equal(t, "paid", checkoutState(t, env, sid))
	require.Len(t, sessionNotifications(t, env, sid), 1, "only the payment's own notification")
}

func TestOperation_DeleteIsSoftForPaidAndHardForCreated(t *testing.T) {
	t.Parallel()
	env, ops := setupOperations(t, nil)
	txn := phtest.NewReceiver(t)
	paid := paidCheckout(t, env, txn, map[string]any{"order_no": "ORD-PAID"})
	created := strField(checkoutWith(env, txn, map[string]any{"order_no": "ORD-NEW"}), "session_id")
	require.Equal(t, 2, countRows(t, env, "transactions"))

	for _, sid := range []string{paid, created} {
		b, _ := operateOK(t, env, map[string]any{"operation": "delete", "session_id": sid})
		requireOperationSuccess(t, b, "delete")
		code, b := env.Do("GET", checkoutPath+sid+"/", nil)
		require.Equal(t, http.StatusNotFound, code, "a deleted checkout is not found: %s", b)
		requireDetail(t, b)
		code, b = operate(t, env, "", map[string]any{"operation": "refund", "session_id": sid})
		require.Equal(t, http.StatusNotFound, code, "%s", b)
		code, b = inquire(t, env, map[string]any{"session_id": sid})
		require.Equal(t, http.StatusNotFound, code, "%s", b)
	}
	code, b := operate(t, env, "", map[string]any{"operation": "delete", "order_no": "ORD-PAID"})
	require.Equal(t, http.StatusNotFound, code, "%s", b)
	require.Equal(t, 1, countRows(t, env, "transactions"), "the paid record is kept, the unpaid one removed")

	// Delete sends nothing; the log keeps the payment's notification.
	require.Len(t, sessionNotifications(t, env, paid), 1)
	require.Empty(t, sessionNotifications(t, env, created))
	time.Sleep(quietPeriod)
	require.Empty(t, ops.Requests())
	require.Len(t, txn.Requests(), 1)
}

func TestOperation_ByOrderNo(t *testing.T) {
	t.Parallel()
	env, ops := setupOperations(t, nil)
	sid := paidCheckout(t, env, nil, map[string]any{"order_no": "ORD-UNIQUE-7"})

	_, answer := operateOK(t, env, map[string]any{"operation": "refund", "order_no": "ORD-UNIQUE-7", "amount": "5.000"})
	require.Equal(t, sid, answer["session_id"])
	require.Equal(t, "ORD-UNIQUE-7", answer["order_no"])
	require.Equal(t, "ORD-UNIQUE-7", answer["txn"].(map[string]any)["order_no"])
	waitRequests(t, 1, func() []phtest.Request { return operationRequests(ops) })

	code, b := operate(t, env, "", map[string]any{"operation": "refund", "order_no": "ORD-NOBODY"})
	require.Equal(t, http.StatusNotFound, code, "%s", b)
	requireDetail(t, b)
	code, b = operate(t, env, "", map[string]any{"operation": "refund", "session_id": sid, "order_no": "ORD-OTHER"})
	require.Equal(t, http.StatusNotFound, code, "session_id and order_no must agree: %s", b)

	// An order_no two transactions share names no single one.
	paidCheckout(t, env, nil, map[string]any{"order_no": "ORD-TWICE"})
	paidCheckout(t, env, nil, map[string]any{"order_no": "ORD-TWICE"})
	code, b = operate(t, env, "", map[string]any{"operation": "refund", "order_no": "ORD-TWICE"})
	require.Equal(t, http.StatusBadRequest, code, "%s", b)
	requireFieldErrors(t, b, "order_no")
}

func TestOperation_RefusesBadRequests(t *testing.T) {
	t.Parallel()
	env, ops := setupOperations(t, nil)
	sid := paidCheckout(t, env, nil, nil)
	tests := []struct {
		name  string
		body  any
		field string
	}{
		{"missing operation", map[string]any{"session_id": sid}, "operation"},
		{"unknown operation", map[string]any{"operation": "refund_all", "session_id": sid}, "operation"},
		{"operation not a string", map[string]any{"operation": 3, "session_id": sid}, "operation"},
		{"missing session_id and order_no", map[string]any{"operation": "refund"}, "session_id"},
		{"amount not decimal", map[string]any{"operation": "refund", "session_id": sid, "amount": "ten"}, "amount"},
		{"negative amount", map[string]any{"operation": "refund", "session_id": sid, "amount": "-1.000"}, "amount"},
		{"zero amount", map[string]any{"operation": "refund", "session_id": sid, "amount": "0"}, "amount"},
	}
	for _, tt := range tests {
		code, b := operate(t, env, "", tt.body)
		require.Equal(t, http.StatusBadRequest, code, "%s: %s", tt.name, b)
		requireFieldErrors(t, b, tt.field)
	}
	code, b := operate(t, env, "", []byte(`{"operation":`))
	require.Equal(t, http.StatusBadRequest, code, "%s", b)
	requireDetail(t, b)
	code, b = operate(t, env, "", map[string]any{"operation": "refund", "session_id": "no-such-session"})
	require.Equal(t, http.StatusNotFound, code, "%s", b)
	requireDetail(t, b)
	phtest.Validate(t, "generic-error", b)
	code, _, b = sendRaw(t, env, "POST", operationPath, nil, jsonText(map[string]any{"operation": "refund", "session_id": sid}))
	require.Equal(t, http.StatusUnauthorized, code, "%s", b)

	require.Equal(t, "paid", checkoutState(t, env, sid))
	require.Empty(t, kindNotifications(t, env, sid, "operation"))
	require.Empty(t, ops.Requests())
}

func TestOperation_NotificationStoredBeforeTheAnswer(t *testing.T) {
	t.Parallel()
	env, ops := setupOperations(t, map[string]any{"timeout": 5, "retry_enabled": false})
	release := make(chan struct{})
	ops.Respond = func(_ int, w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}
	sid := paidCheckout(t, env, nil, nil)

	// The merchant holds the request: the answer does not wait for it.
	start := time.Now()
	raw, _ := operateOK(t, env, map[string]any{"operation": "refund", "session_id": sid, "amount": "2.000"})
	require.Less(t, time.Since(start), 2*time.Second, "answered at once, not after the merchant")
	list := listNotifications(t, env, map[string][]string{"kind": {"operation"}}).Results
	require.Len(t, list, 1, "stored with the refund, before the answer")
	require.Equal(t, sid, list[0].SessionID)
	require.Equal(t, ops.URL, *list[0].URL)
	require.Equal(t, "pending", list[0].Status)
	require.JSONEq(t, string(raw), string(list[0].Payload))

	waitRequests(t, 1, ops.Requests)
	close(release)
	phtest.Eventually(t, 5*time.Second, func() bool { return getNotification(t, env, list[0].ID).Status == "delivered" },
		"delivered once the merchant answers")
}

func TestOperation_NotificationArrivesSoonAfterTheAnswer(t *testing.T) {
	t.Parallel()
	env, ops := setupOperations(t, nil)
	sid := paidCheckout(t, env, nil, nil)
	for i := 0; i < 3; i++ {
		operateOK(t, env, map[string]any{"operation": "refund", "session_id": sid, "amount": "1.000"})
		answered := time.Now()
		got := waitRequests(t, i+1, func() []phtest.Request { return operationRequests(ops) })
		require.Less(t, got[i].At.Sub(answered), time.Second, "picked up at once, not by a slow poll")
	}
	phtest.Eventually(t, 2*time.Second, func() bool {
		for _, n := range kindNotifications(t, env, sid, "operation") {
			if n.Status != "delivered" {
				return false
			}
		}
		return true
	}, "every operation notification is recorded as delivered")
}

func TestOperation_HangingReceiverIsRetriedOthersUndelayed(t *testing.T) {
	t.Parallel()
	env, ops := setupOperations(t, map[string]any{"timeout": 0.3, "retries": 2, "backoff_factor": 0.1})
	ops.Respond = hangUntilGivenUp
	txn := phtest.NewReceiver(t)
	sid := paidCheckout(t, env, txn, nil)

	operateOK(t, env, map[string]any{"operation": "refund", "session_id": sid, "amount": "3.000"})
	got := waitRequests(t, 1, func() []phtest.Request { return operationRequests(txn) })

	var n notificationJSON
	phtest.Eventually(t, 5*time.Second, func() bool {
		for _, x := range kindNotifications(t, env, sid, "operation") {
			if x.URL != nil && *x.URL == ops.URL {
				n = x
			}
		}
		return n.Status == "failed"
	}, "the hanging URL's notification fails after every attempt")
	require.Len(t, n.Attempts, 2)
	for i, a := range n.Attempts {
		require.Equal(t, i+1, a.Number)
		require.Nil(t, a.StatusCode)
		require.Equal(t, "timeout after 0.3s", *a.Error)
		if i > 0 {
			gap := a.StartedAt.Sub(n.Attempts[i-1].end())
			require.GreaterOrEqual(t, gap, 100*time.Millisecond, "one backoff between attempts")
			require.Less(t, gap, 300*time.Millisecond)
		}
	}
	require.True(t, got[0].At.Before(n.Attempts[0].end()), "the answering URL does not wait for the hanging one")
	reqs := operationRequests(ops)
	require.Len(t, reqs, 2)
	for _, r := range reqs {
		require.Equal(t, n.ID, r.Header.Get("webhook-id"), "the same webhook-id on every attempt")
	}
}

func TestOperation_TrackingKeyReplaysTheFirstAnswer(t *testing.T) {
	t.Parallel()
	env, ops := setupOperations(t, nil)
	sid := paidCheckout(t, env, nil, nil)
	body := map[string]any{"operation": "refund", "session_id": sid, "amount": "20.000"}

	code, first := operate(t, env, "refund-ORD-1001-1", body)
	require.Equal(t, http.StatusOK, code, "%s", first)
	waitRequests(t, 1, func() []phtest.Request { return operationRequests(ops) })
	code, again := operate(t, env, "refund-ORD-1001-1", body)
	require.Equal(t, http.StatusOK, code, "%s", again)
	require.Equal(t, string(first), string(again), "byte for byte the first answer")
	require.Equal(t, "20.000", inquiry(t, env, sid)["refunded_amount"], "no second refund")

	// The same key with another body is refused; nothing changes.
	for _, other := range []map[string]any{
		{"operation": "refund", "session_id": sid, "amount": "30.000"},
		{"operation": "cancel", "session_id": sid},
	} {
		code, b := operate(t, env, "refund-ORD-1001-1", other)
		validateOperationFailure(t, code, b, "operation_tracking")
	}
	require.Equal(t, "20.000", inquiry(t, env, sid)["refunded_amount"])

	// Another key is another operation.
	code, b := operate(t, env, "refund-ORD-1001-2", body)
	require.Equal(t, http.StatusOK, code, "%s", b)
	require.NotEqual(t, string(first), string(b))
	require.Equal(t, "40.000", inquiry(t, env, sid)["refunded_amount"])

	waitRequests(t, 2, func() []phtest.Request { return operationRequests(ops) })
	time.Sleep(quietPeriod)
	require.Len(t, operationRequests(ops), 2, "no notification for the replay")
	require.Len(t, kindNotifications(t, env, sid, "operation"), 2)
}

func TestOperation_ConcurrentSameTrackingKeyMakesOneOperation(t *testing.T) {
	t.Parallel()
	env, ops := setupOperations(t, nil)
	sid := paidCheckout(t, env, nil, nil)
	body := jsonText(map[string]any{"operation": "refund", "session_id": sid, "amount": "20.000"})

	const n = 8
	answers := make([]string, n)
	codes := make([]int, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c, b := operate(t, env, "same-key", body)
			codes[i], answers[i] = c, string(b)
		}(i)
	}
	wg.Wait()
	for i := range answers {
		require.Equal(t, http.StatusOK, codes[i], answers[i])
		require.Equal(t, answers[0], answers[i])
	}
	require.Equal(t, "20.000", inquiry(t, env, sid)["refunded_amount"])
	waitRequests(t, 1, func() []phtest.Request { return operationRequests(ops) })
	time.Sleep(quietPeriod)
	require.Len(t, operationRequests(ops), 1)
	require.Len(t, kindNotifications(t, env, sid, "operation"), 1)
}

func TestOperation_ConcurrentRefundsNeverExceedWhatWasPaid(t *testing.T) {
	t.Parallel()
	env, _ := setupOperations(t, nil)
	sid := paidCheckout(t, env, nil, nil)

	// 86.000 KWD: four refunds of 20.000 fit, the others must be refused.
	const n = 12
	codes := make([]int, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			codes[i], _ = operate(t, env, fmt.Sprintf("concurrent-%d", i), map[string]any{"operation": "refund", "session_id": sid, "amount": "20.000"})
		}(i)
	}
	wg.Wait()
	ok := 0
	for _, c := range codes {
		if c == http.StatusOK {
			ok++
		} else {
			require.Equal(t, http.StatusBadRequest, c)
		}
	}
	require.Equal(t, 4, ok, "codes %v", codes)
	body := inquiry(t, env, sid)
	require.Equal(t, "80.000", body["refunded_amount"])
	require.Len(t, body["transactions"], 4)
	require.Len(t, kindNotifications(t, env, sid, "operation"), 4)
}

func TestOperation_PathWithoutTrailingSlash(t *testing.T) {
	t.Parallel()
	env, _ := setupOperations(t, nil)
	sid := strField(checkoutWith(env, nil, nil), "session_id")
	code, b := env.Do("POST", strings.TrimSuffix(operationPath, "/"), map[string]any{"operation": "cancel", "session_id": sid})
	require.Equal(t, http.StatusOK, code, "%s", b)
	requireOperationSuccess(t, b, "cancel")
}

func TestOperation_V2AndStandardWebhooksSignatures(t *testing.T) {
	t.Parallel()
	env, ops := setupOperations(t, map[string]any{"version": "v2"})
	secret := strField(env.Configure(map[string]any{"standard_webhooks": true}), "standard_webhooks_secret")
	sid := paidCheckout(t, env, nil, nil)

	raw, _ := operateOK(t, env, map[string]any{"operation": "refund", "session_id": sid, "amount": "4.000"})
	v, err := signature.Verify(merchantKey, raw)
	require.NoError(t, err)
	require.Equal(t, signature.V2, v, "the answer is signed by the configured version")
	got := waitRequests(t, 1, func() []phtest.Request { return operationRequests(ops) })
	v, err = signature.Verify(merchantKey, got[0].Body)
	require.NoError(t, err)
	require.Equal(t, signature.V2, v)
	wh, err := standardwebhooks.NewWebhook(secret)
	require.NoError(t, err)
	require.NoError(t, wh.Verify(got[0].Body, got[0].Header))
}

func TestOperation_XMLNotificationJSONAnswer(t *testing.T) {
	t.Parallel()
	env, ops := setupOperations(t, map[string]any{"format": "xml"})
	sid := paidCheckout(t, env, nil, nil)

	h := http.Header{"Authorization": {"Api-Key " + phtest.APIKey}, "Content-Type": {"application/json"}}
	code, header, raw := sendRaw(t, env, "POST", operationPath, h,
		jsonText(map[string]any{"operation": "refund", "session_id": sid, "amount": "4.000"}))
	require.Equal(t, http.StatusOK, code, "%s", raw)
	require.Equal(t, "application/json", header.Get("Content-Type"), "the API answers JSON whatever the notifications' format")
	requireSignedV1(t, raw)

	got := waitRequests(t, 1, ops.Requests)
	require.Equal(t, "application/xml", got[0].Header.Get("Content-Type"))
	var root xmlNode
	require.NoError(t, xml.Unmarshal(got[0].Body, &root), "%s", got[0].Body)
	fields := map[string]any{}
	for _, n := range root.Nodes {
		if len(n.Nodes) == 0 {
			fields[n.XMLName.Local] = n.Text
		}
	}
	require.Equal(t, "refund", fields["operation"])
	require.Equal(t, "4.000", fields["amount"])
	require.Equal(t, decodeBody(t, raw)["signature"], fields["signature"], "one payload, signed once")
}

func TestOperation_RefusesLongTrackingKey(t *testing.T) {
	t.Parallel()
	env, ops := setupOperations(t, nil)
	sid := paidCheckout(t, env, nil, nil)
	code, b := operate(t, env, strings.Repeat("k", 256), map[string]any{"operation": "refund", "session_id": sid})
	require.Equal(t, http.StatusBadRequest, code, "%s", b)
	require.Equal(t, "paid", checkoutState(t, env, sid))
	require.NotContains(t, inquiry(t, env, sid), "refunded_amount")
	require.Empty(t, ops.Requests())
}

// Ottu: for void, cancel, expire and delete "the amount field is not considered".
func TestOperation_VoidIgnoresAmount(t *testing.T) {
	t.Parallel()
	env, ops := setupOperations(t, nil)
	sid := authorizedCheckout(t, env, ops, nil)
	_, body := operateOK(t, env, map[string]any{"operation": "void", "session_id": sid, "amount": "1.000"})
	require.Equal(t, "86.000", body["amount"], "a void is of the whole authorization")
}

// The same request sent again with its keys in another order and other spacing is the
// same request for its Tracking-Key.
func TestOperation_TrackingKeyComparesJSONNotBytes(t *testing.T) {
	t.Parallel()
	env, ops := setupOperations(t, nil)
	sid := paidCheckout(t, env, ops, nil)
	first := []byte(`{"operation":"refund","session_id":"` + sid + `","amount":"5"}`)
	again := []byte("{ \"amount\": \"5\",\n  \"session_id\": \"" + sid + "\", \"operation\": \"refund\" }")
	code, a := operate(t, env, "reordered", first)
	require.Equal(t, http.StatusOK, code, "%s", a)
	code, b := operate(t, env, "reordered", again)
	require.Equal(t, http.StatusOK, code, "%s", b)
	require.Equal(t, string(a), string(b), "the first answer again")
	require.Equal(t, "5.000", inquiry(t, env, sid)["refunded_amount"], "one refund")
}

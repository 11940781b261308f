package web_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook"
	"github.com/payhook/payhook/gateway/sandbox"
	"github.com/payhook/payhook/internal/phtest"
	"github.com/payhook/payhook/signature"
)

// getPage GETs a checkout page as the customer's browser would and returns its status and HTML.
func getPage(t *testing.T, env *phtest.Env, u string) (int, string) {
	t.Helper()
	resp, err := env.Client.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// approvedCharges counts the sandbox's approved purchases and authorizations of a session
// (the money that moved), and all its recorded calls.
func approvedCharges(t *testing.T, env *phtest.Env, sessionID string) (approved, calls int) {
	t.Helper()
	row := env.Store.DB().QueryRow(`SELECT COALESCE(SUM(success), 0), COUNT(*) FROM gateway_calls
		WHERE session_id = ? AND kind IN ('purchase', 'authorize')`, sessionID)
	require.NoError(t, row.Scan(&approved, &calls))
	return approved, calls
}

// requireNotified checks each payment notification the merchant got against Ottu's
// checker and the signature, and returns their (state, result) pairs in order.
func requireNotified(t *testing.T, reqs []phtest.Request) [][2]string {
	t.Helper()
	out := make([][2]string, len(reqs))
	for i, r := range reqs {
		phtest.Validate(t, "payment-webhook", r.Body)
		_, err := signature.Verify(merchantKey, r.Body)
		require.NoError(t, err)
		b := decodeBody(t, r.Body)
		out[i] = [2]string{strField(b, "state"), strField(b, "result")}
	}
	return out
}

// A declined card, then another card on the same checkout page: the first try notifies
// attempted/failed and the merchant's 200 sends the customer back as today; the page,
// opened again, shows the form with a note; the second card pays. Two notifications, two
// tries on the dashboard, one approved charge; the paid checkout refuses another try.
func TestPayment_DeclinedTryThenAnotherCardOnTheSamePage(t *testing.T) {
	t.Parallel()
	env := setupWebhooks(t, nil)
	rc := phtest.NewReceiver(t)
	c := checkoutWith(env, rc, nil)
	sid, checkout := strField(c, "session_id"), strField(c, "checkout_url")

	code, loc := env.Pay(checkout, sandbox.CardDeclined)
	require.Equal(t, http.StatusSeeOther, code)
	require.True(t, strings.HasPrefix(loc, "https://shop.example/return?"), "the merchant's 200 decides, as for any notification: %s", loc)
	require.Equal(t, "attempted", checkoutState(t, env, sid))
	first := decodeBody(t, rc.Requests()[0].Body)
	require.Equal(t, "0.000", first["total_paid_amount"])
	require.Equal(t, "86.000", first["remaining_amount"])

	code, page := getPage(t, env, checkout)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, page, `name="card_number"`, "the form is shown again")
	require.Contains(t, page, `id="previous-try"`)
	require.Contains(t, page, "Your previous payment try with card 400000******0002 was declined")

	code, loc = env.Pay(checkout, sandbox.CardSuccess)
	require.Equal(t, http.StatusSeeOther, code)
	require.True(t, strings.HasPrefix(loc, "https://shop.example/return?"), loc)
	require.Equal(t, "paid", checkoutState(t, env, sid))
	reqs := rc.Requests()
	require.Equal(t, [][2]string{{"attempted", "failed"}, {"paid", "success"}}, requireNotified(t, reqs))
	paid := decodeBody(t, reqs[1].Body)
	require.Equal(t, "86.000", paid["total_paid_amount"])
	require.Equal(t, "0.000", paid["total_authorized_amount"])
	require.Equal(t, "411111******1111", paid["pg_params"].(map[string]any)["card_number"])
	approved, calls := approvedCharges(t, env, sid)
	require.Equal(t, 1, approved, "exactly one approved charge")
	require.Equal(t, 2, calls)

	// The dashboard lists both tries, oldest first.
	b := signIn(t, env)
	dash := b.getOK("/dashboard/transactions/" + sid)
	require.True(t, hasID(dash, "tries"))
	tries := dash[strings.Index(dash, `id="tries"`):]
	tries = tries[:strings.Index(tries, "</table>")]
	require.Equal(t, 2, strings.Count(tries, "<tr>")-1, "two tries (and the header row)")
	declined, approvedAt := strings.Index(tries, "400000******0002"), strings.Index(tries, "411111******1111")
	require.True(t, declined >= 0 && approvedAt > declined, "oldest first: %s", tries)
	require.Contains(t, tries, "Declined by the issuer (sandbox test card)")
	require.Contains(t, tries, "Approved")

	// Paid: no other try, and the page offers none.
	code, _ = env.Pay(checkout, sandbox.CardSuccess)
	require.Equal(t, http.StatusConflict, code)
	code, page = getPage(t, env, checkout)
	require.Equal(t, http.StatusOK, code)
	require.NotContains(t, page, `name="card_number"`)
	require.NotContains(t, page, `id="previous-try"`)
	approved, calls = approvedCharges(t, env, sid)
	require.Equal(t, 1, approved)
	require.Equal(t, 2, calls, "the refused try never reached the gateway")
	require.Len(t, rc.Requests(), 2)
}

// A gateway error, then success: the merchant answers 201, so the customer lands on the
// summary page, which offers to try again; the next card pays.
func TestPayment_GatewayErrorThenSuccess(t *testing.T) {
	t.Parallel()
	env := setupWebhooks(t, nil)
	rc := phtest.NewReceiver(t)
	rc.Respond = respondWith(201)
	c := checkoutWith(env, rc, nil)
	sid, checkout := strField(c, "session_id"), strField(c, "checkout_url")

	code, loc := env.Pay(checkout, sandbox.CardError)
	require.Equal(t, http.StatusSeeOther, code)
	require.Equal(t, summaryURL(env, c), loc, "the merchant's 201 decides, as today")
	code, page := getPage(t, env, loc)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, page, "Payment not completed: you can try again")
	require.Contains(t, page, "Go to payment")
	_, page = getPage(t, env, checkout)
	require.Contains(t, page, "failed with a gateway error")

	code, loc = env.Pay(checkout, sandbox.CardSuccess)
	require.Equal(t, http.StatusSeeOther, code)
	require.Equal(t, summaryURL(env, c), loc)
	require.Equal(t, [][2]string{{"attempted", "error"}, {"paid", "success"}}, requireNotified(t, rc.Requests()))
	approved, _ := approvedCharges(t, env, sid)
	require.Equal(t, 1, approved)
	txn, err := env.Service.Transaction(context.Background(), sid)
	require.NoError(t, err)
	require.Len(t, txn.Tries, 2)
	require.Equal(t, payhook.ResultError, txn.Tries[0].Result)
}

// A declined try, then the customer cancels on the page: canceled, both notified.
func TestPayment_DeclinedTryThenCancel(t *testing.T) {
	t.Parallel()
	env := setupWebhooks(t, nil)
	rc := phtest.NewReceiver(t)
	c := checkoutWith(env, rc, nil)
	checkout := strField(c, "checkout_url")
	code, _ := env.Pay(checkout, sandbox.CardDeclined)
	require.Equal(t, http.StatusSeeOther, code)
	code, loc := env.PostForm(checkout, url.Values{"action": {"cancel"}})
	require.Equal(t, http.StatusSeeOther, code)
	require.True(t, strings.HasPrefix(loc, "https://shop.example/return?"), loc)
	require.Equal(t, [][2]string{{"attempted", "failed"}, {"canceled", "canceled"}}, requireNotified(t, rc.Requests()))
	require.Equal(t, "canceled", checkoutState(t, env, strField(c, "session_id")))
	code, _ = env.Pay(checkout, sandbox.CardSuccess)
	require.Equal(t, http.StatusConflict, code)
	approved, _ := approvedCharges(t, env, strField(c, "session_id"))
	require.Zero(t, approved)
}

// A declined try, then the checkout expires: expired, notified; the page takes no card.
func TestPayment_DeclinedTryThenExpiry(t *testing.T) {
	t.Parallel()
	var skew atomic.Int64
	env := phtest.New(t, phtest.Options{Clock: func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }})
	env.Configure(map[string]any{"enabled": true, "api_transactions_enabled": true, "hmac_key": merchantKey,
		"user_agent": merchantAgent, "timeout": 2, "backoff_factor": 0.1})
	rc := phtest.NewReceiver(t)
	c := checkoutWith(env, rc, map[string]any{"expiration_time": "00:05:00"})
	checkout := strField(c, "checkout_url")
	code, _ := env.Pay(checkout, sandbox.CardDeclined)
	require.Equal(t, http.StatusSeeOther, code)

	skew.Store(int64(6 * time.Minute))
	n, err := env.Service.ExpireDue(context.Background())
	require.NoError(t, err)
	require.Equal(t, 1, n)
	reqs := rc.Wait(t, 2, 5*time.Second)
	require.Equal(t, [][2]string{{"attempted", "failed"}, {"expired", "canceled"}}, requireNotified(t, reqs))
	require.Equal(t, "expired", checkoutState(t, env, strField(c, "session_id")))
	code, page := getPage(t, env, checkout)
	require.Equal(t, http.StatusOK, code)
	require.NotContains(t, page, `name="card_number"`)
	code, _ = env.Pay(checkout, sandbox.CardSuccess)
	require.Equal(t, http.StatusConflict, code)
}

// The delivery log's reference_number of an operation notification is the one in its
// payload (the operation's own), in the API and on the dashboard; payment notifications
// keep the transaction's. The operation's txn carries customer_email, extra and its
// reference; the payment notification after a partial refund carries the totals.
func TestOperationNotification_LogReferenceIsThePayloads(t *testing.T) {
	t.Parallel()
	env := setupWebhooks(t, nil)
	rc := phtest.NewReceiver(t)
	sid := paidCheckout(t, env, rc, nil)
	parent := strField(inquiry(t, env, sid), "reference_number")
	require.NotEmpty(t, parent)
	_, answer := operateOK(t, env, map[string]any{"operation": "refund", "session_id": sid, "amount": "30.000"})
	childRef := strField(answer, "reference_number")
	require.NotEqual(t, parent, childRef)

	ops := waitRequests(t, 1, func() []phtest.Request { return operationRequests(rc) })
	phtest.Validate(t, "operation-webhook", ops[0].Body)
	body := decodeBody(t, ops[0].Body)
	txn := body["txn"].(map[string]any)
	require.Equal(t, childRef, body["reference_number"])
	require.Equal(t, childRef, txn["reference_number"])
	require.Equal(t, "jane@example.com", txn["customer_email"])
	require.Equal(t, map[string]any{"cart": "C-77", "channel": "web"}, txn["extra"])

	notes := kindNotifications(t, env, sid, "operation")
	require.Len(t, notes, 1)
	require.Equal(t, childRef, notes[0].ReferenceNumber, "the log shows the reference the merchant received")
	require.Equal(t, childRef, decodeBody(t, notes[0].Payload)["reference_number"])
	require.Equal(t, childRef, getNotification(t, env, notes[0].ID).ReferenceNumber)
	for _, n := range kindNotifications(t, env, sid, "payment") {
		require.Equal(t, parent, n.ReferenceNumber)
	}
	b := signIn(t, env)
	require.Contains(t, b.getOK("/dashboard/notifications/"+notes[0].ID), childRef)

	// The payment notification now: paid 86, refunded 30.
	got := inquiry(t, env, sid)
	require.Equal(t, "86.000", got["total_paid_amount"])
	require.Equal(t, "30.000", got["total_refunded_amount"])
	require.Equal(t, "0.000", got["total_voided_amount"])
	require.Equal(t, "0.000", got["total_authorized_amount"])
}

// The totals through authorize, capture and void, as the payment notification (the
// inquiry's answer) reports them.
func TestPayment_TotalsAfterAuthorizeCaptureVoid(t *testing.T) {
	t.Parallel()
	env := setupWebhooks(t, nil)
	totals := func(sid string) [4]string {
		m := inquiry(t, env, sid)
		return [4]string{strField(m, "total_authorized_amount"), strField(m, "total_paid_amount"),
			strField(m, "total_refunded_amount"), strField(m, "total_voided_amount")}
	}
	captured := authorizedCheckout(t, env, nil, nil)
	require.Equal(t, [4]string{"86.000", "0.000", "0.000", "0.000"}, totals(captured))
	operateOK(t, env, map[string]any{"operation": "capture", "session_id": captured, "amount": "60.000"})
	require.Equal(t, [4]string{"86.000", "60.000", "0.000", "0.000"}, totals(captured))
	operateOK(t, env, map[string]any{"operation": "refund", "session_id": captured})
	require.Equal(t, [4]string{"86.000", "60.000", "60.000", "0.000"}, totals(captured))

	voided := authorizedCheckout(t, env, nil, map[string]any{"order_no": "ORD-2"})
	operateOK(t, env, map[string]any{"operation": "void", "session_id": voided})
	require.Equal(t, [4]string{"86.000", "0.000", "0.000", "86.000"}, totals(voided))
}

// tryToken reads the hidden try_token of a checkout page.
func tryToken(t *testing.T, page string) string {
	t.Helper()
	const mark = `name="try_token" value="`
	i := strings.Index(page, mark)
	require.True(t, i >= 0, "the form has a try_token")
	rest := page[i+len(mark):]
	tok := rest[:strings.IndexByte(rest, '"')]
	require.NotEmpty(t, tok)
	return tok
}

// The same form submitted twice (a double click, a reloaded POST) makes one try: the
// repeat lands on the summary page without a gateway call or a notification, after a
// decline and after an approval alike (never a second charge, never a 409 for one's own
// payment). Submitted twice at once, it is still one try.
func TestPayment_SameFormSubmittedTwiceMakesOneTry(t *testing.T) {
	t.Parallel()
	env := setupWebhooks(t, nil)
	rc := phtest.NewReceiver(t)
	c := checkoutWith(env, rc, nil)
	sid, checkout := strField(c, "session_id"), strField(c, "checkout_url")
	form := func(token, number string) url.Values {
		return url.Values{"card_number": {number}, "card_expiry": {"12/39"}, "card_cvv": {"123"}, "try_token": {token}}
	}

	_, page := getPage(t, env, checkout)
	declinedToken := tryToken(t, page)
	code, loc := env.PostForm(checkout, form(declinedToken, sandbox.CardDeclined))
	require.Equal(t, http.StatusSeeOther, code)
	require.NotEqual(t, summaryURL(env, c), loc, "the first submission is decided by the merchant's 200")
	code, loc = env.PostForm(checkout, form(declinedToken, sandbox.CardDeclined))
	require.Equal(t, http.StatusSeeOther, code)
	require.Equal(t, summaryURL(env, c), loc, "the repeat lands on the summary page")
	_, calls := approvedCharges(t, env, sid)
	require.Equal(t, 1, calls, "one try reached the gateway")
	require.Len(t, rc.Requests(), 1, "one notification")

	_, page = getPage(t, env, checkout)
	paidToken := tryToken(t, page)
	require.NotEqual(t, declinedToken, paidToken, "each rendering of the form is a new submission")
	codes := make(chan int, 3)
	for range 3 {
		go func() {
			code, _ := env.PostForm(checkout, form(paidToken, sandbox.CardSuccess))
			codes <- code
		}()
	}
	for range 3 {
		require.Equal(t, http.StatusSeeOther, <-codes, "every copy of the paying submission is answered with a redirect")
	}
	approved, calls := approvedCharges(t, env, sid)
	require.Equal(t, 1, approved)
	require.Equal(t, 2, calls)
	txn, err := env.Service.Transaction(context.Background(), sid)
	require.NoError(t, err)
	require.Equal(t, payhook.StatePaid, txn.State)
	require.Len(t, txn.Tries, 2)
	require.Len(t, rc.Requests(), 2)

	// A new submission on the paid checkout (another token, or none) is refused.
	code, _ = env.PostForm(checkout, form("another-token", sandbox.CardSuccess))
	require.Equal(t, http.StatusConflict, code)
	code, _ = env.Pay(checkout, sandbox.CardSuccess)
	require.Equal(t, http.StatusConflict, code)

	// A token longer than a form ever sends is a field error, and changes nothing.
	fresh := checkoutWith(env, nil, map[string]any{"order_no": "ORD-2"})
	resp, err := env.Client.PostForm(strField(fresh, "checkout_url"), form(strings.Repeat("x", 65), sandbox.CardSuccess))
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, string(body), "At most 64 characters")
	require.Equal(t, "created", checkoutState(t, env, strField(fresh, "session_id")))
}

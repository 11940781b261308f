package web_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook"
	"github.com/payhook/payhook/gateway/sandbox"
	"github.com/payhook/payhook/internal/phtest"
)

// transactionPage is the dashboard page of a transaction.
func transactionPage(sessionID string) string { return "/dashboard/transactions/" + sessionID }

var txnLinkRe = regexp.MustCompile(`href="/dashboard/transactions/([0-9a-f]{40})"`)

// listedSessions returns the session ids a transactions list links to, in order.
func listedSessions(body string) []string {
	var out []string
	for _, m := range txnLinkRe.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

// paymentRequestForm is a valid "Create payment request" form.
func paymentRequestForm(rc *phtest.Receiver) url.Values {
	f := url.Values{"amount": {"12.5"}, "currency_code": {"KWD"}, "pg_codes": {"credit-card"}, "order_no": {"INV-7"},
		"customer_email": {"jane@example.com"}, "customer_first_name": {"Jane"}, "customer_last_name": {"Doe"},
		"redirect_url": {shopURL}}
	if rc != nil {
		f.Set("webhook_url", rc.URL)
	}
	return f
}

// createPaymentRequest submits the form and returns the new transaction's session id
// and page.
func createPaymentRequest(t *testing.T, b *browser, f url.Values) (string, string) {
	t.Helper()
	p := b.post("/dashboard/transactions/new", f)
	require.Equal(t, http.StatusSeeOther, p.Code, "%s", p.Body)
	m := regexp.MustCompile(`^/dashboard/transactions/([0-9a-f]{40})\?done=created$`).FindStringSubmatch(p.Location)
	require.NotNil(t, m, p.Location)
	return m[1], b.getOK(p.Location)
}

func TestDashboardTransactions_CreatePaymentRequest(t *testing.T) {
	t.Parallel()
	env := setupWebhooks(t, nil)
	b := signIn(t, env)
	rc := phtest.NewReceiver(t)

	form := b.getOK("/dashboard/transactions/new")
	require.Contains(t, form, `<option value="credit-card" selected>`)
	require.Contains(t, form, `<option value="credit-card-auth" >`)
	require.True(t, hasID(form, "create-payment-request"))
	for _, name := range []string{"amount", "currency_code", "pg_codes", "order_no", "customer_email", "customer_first_name",
		"customer_last_name", "webhook_url", "redirect_url"} {
		require.Contains(t, form, `<label for="`+name+`"`, name)
	}

	sid, page := createPaymentRequest(t, b, paymentRequestForm(rc))
	require.Equal(t, "Payment request created. Send the checkout link to the customer.", flashOf(page))
	link := textOf(t, page, "checkout-link")
	require.Equal(t, env.URL+"/b/checkout/redirect/start/?session_id="+sid, link)
	require.Contains(t, page, "created in the dashboard")

	got := checkoutView(t, env, sid)
	require.Equal(t, "payment_request", got["type"])
	require.Equal(t, "12.500", got["amount"])
	require.Equal(t, "INV-7", got["order_no"])
	txn, err := env.Service.Transaction(context.Background(), sid)
	require.NoError(t, err)
	require.Equal(t, payhook.OriginDashboard, txn.Origin)
	require.Equal(t, payhook.PluginPaymentRequest, txn.Type)
	require.NotNil(t, txn.Initiator)
	require.Equal(t, staffEmail, txn.Initiator.Email)

	// The customer pays through the link; the notification names who created it.
	code, loc := env.Pay(link, sandbox.CardSuccess)
	require.Equal(t, http.StatusSeeOther, code)
	require.True(t, strings.HasPrefix(loc, "https://shop.example/return?"), loc)
	req := rc.Wait(t, 1, 5*time.Second)[0]
	phtest.Validate(t, "payment-webhook", req.Body)
	body := decodeBody(t, req.Body)
	require.Equal(t, "paid", body["state"])
	require.Equal(t, staffEmail, body["initiator"].(map[string]any)["email"])

	// Paid: no checkout link any more.
	require.False(t, hasID(b.getOK(transactionPage(sid)), "checkout-link"))
}

func TestDashboardTransactions_CreatePaymentRequestRefusesBadFields(t *testing.T) {
	t.Parallel()
	env := phtest.New(t)
	b := signIn(t, env)
	for _, tc := range []struct {
		field, value, msg string
	}{
		{"amount", "12.3456", "decimal"},
		{"amount", "", "This field is required."},
		{"currency_code", "XXX", "not a supported ISO 4217 currency code"},
		{"pg_codes", "", "Choose at least one gateway."},
		{"pg_codes", "no-such-gateway", "is not a gateway code of this instance"},
		{"customer_email", "jane@", "Enter a valid email address."},
		{"webhook_url", "javascript:alert(1)", "Must be an absolute http or https URL"},
	} {
		f := paymentRequestForm(nil)
		if tc.value == "" {
			f.Del(tc.field)
		} else {
			f.Set(tc.field, tc.value)
		}
		p := b.post("/dashboard/transactions/new", f)
		require.Equal(t, http.StatusBadRequest, p.Code, "%s=%q", tc.field, tc.value)
		require.Contains(t, fieldError(p.Body, tc.field), tc.msg, "%s=%q", tc.field, tc.value)
		require.Contains(t, p.Body, "Nothing was created")
		if tc.field != "pg_codes" && tc.value != "" {
			require.Contains(t, p.Body, `value="`+tc.value+`"`, "what was typed stays")
		}
	}
	require.Equal(t, 0, countRows(t, env, "transactions"))
}

func TestDashboardTransactions_ListNewestFirstWithFilters(t *testing.T) {
	t.Parallel()
	env := setupWebhooks(t, nil)
	b := signIn(t, env)
	first := strField(env.Checkout(map[string]any{"order_no": "A-1"}), "session_id")
	paid := paidCheckout(t, env, nil, map[string]any{"order_no": "A-2"})
	pr, _ := createPaymentRequest(t, b, paymentRequestForm(nil))

	list := b.getOK("/dashboard/transactions")
	require.Equal(t, []string{pr, paid, first}, listedSessions(list), "newest first")
	require.Contains(t, list, "86.000 KWD", "amounts with the currency's decimals")
	require.Contains(t, list, `<span class="badge paid">paid</span>`)
	require.True(t, hasID(list, "new-payment-request"))

	txn, err := env.Service.Transaction(context.Background(), first)
	require.NoError(t, err)
	ref := txn.ReferenceNumber
	for query, want := range map[string][]string{
		"plugin=payment_request":          {pr},
		"plugin=e_commerce":               {paid, first},
		"state=paid":                      {paid},
		"state=created&plugin=e_commerce": {first},
		"q=A-2":                           {paid},
		"q=a-":                            {paid, first}, // part of the order_no, any case
		"q=" + ref:                        {first},
		"q=" + pr:                         {pr},
		"q=INV-7&plugin=payment_request&state=created": {pr},
	} {
		body := b.getOK("/dashboard/transactions?" + query)
		require.Equal(t, want, listedSessions(body), query)
	}
	body := b.getOK("/dashboard/transactions?state=nonsense")
	require.Contains(t, body, "Unknown state: the state filter was ignored.")
	require.Len(t, listedSessions(body), 3)
}

func TestDashboardTransactions_Paginates(t *testing.T) {
	t.Parallel()
	env := phtest.New(t)
	b := signIn(t, env)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := 0; i < 51; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			env.Checkout(map[string]any{"order_no": fmt.Sprintf("P-%02d", i)})
		}(i)
	}
	wg.Wait()

	one := b.getOK("/dashboard/transactions?plugin=e_commerce")
	require.Len(t, listedSessions(one), 50)
	require.Contains(t, one, "Page 1 of 2 · 51 in all")
	require.Contains(t, one, `href="/dashboard/transactions?page=2&amp;plugin=e_commerce" rel="next"`, "the filters are kept")
	two := b.getOK("/dashboard/transactions?plugin=e_commerce&page=2")
	require.Len(t, listedSessions(two), 1)
	require.Contains(t, two, `href="/dashboard/transactions?plugin=e_commerce" rel="prev"`)
	require.NotContains(t, two, `rel="next"`)
	require.NotContains(t, listedSessions(one), listedSessions(two)[0])
}

func TestDashboardTransaction_ShowsEveryAttemptAndResendDelivers(t *testing.T) {
	t.Parallel()
	env := setupWebhooks(t, nil)
	b := signIn(t, env)
	rc := phtest.NewReceiver(t)
	rc.Respond = func(n int, w http.ResponseWriter, _ *http.Request) {
		if n == 0 {
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, "merchant down: <database> locked")
			return
		}
		io.WriteString(w, "ok")
	}
	c := checkoutWith(env, rc, nil)
	sid := strField(c, "session_id")
	code, loc := env.Pay(strField(c, "checkout_url"), sandbox.CardSuccess)
	require.Equal(t, http.StatusSeeOther, code)
	require.Equal(t, summaryURL(env, c), loc, "the merchant's 500 sends the customer to the summary")
	n := onlyNotification(t, env, sid)
	require.Equal(t, "failed", n.Status)

	page := b.getOK(transactionPage(sid))
	require.Contains(t, page, `<span class="badge failed">failed</span>`)
	require.Contains(t, page, `<span class="badge failed">HTTP 500</span>`)
	require.Contains(t, page, `<pre class="excerpt">merchant down: &lt;database&gt; locked</pre>`, "the start of the answer, escaped")
	require.Contains(t, page, "86.000 KWD")
	require.Contains(t, page, "411111******1111", "the card, masked")
	require.NotContains(t, page, sandbox.CardSuccess)
	require.Contains(t, page, `<pre class="payload">`)
	resend := regexp.MustCompile(`<button type="submit" name="resend" value="` + n.ID + `" id="resend-` + n.ID + `"`)
	require.Regexp(t, resend, page)

	after := b.postRedirect("/dashboard/notifications/"+n.ID+"/resend", url.Values{"back": {"transaction"}},
		transactionPage(sid)+"?done=resend")
	require.Equal(t, "Queued again with the same webhook-id and body.", flashOf(after))
	reqs := rc.Wait(t, 2, 5*time.Second)
	require.Equal(t, n.ID, reqs[1].Header.Get("webhook-id"), "a re-send keeps the webhook-id")
	require.Equal(t, string(reqs[0].Body), string(reqs[1].Body), "and the body")
	phtest.Eventually(t, 5*time.Second, func() bool { return getNotification(t, env, n.ID).Status == "delivered" }, "re-sent notification delivered")

	page = b.getOK(transactionPage(sid))
	require.Equal(t, 2, strings.Count(page, `<tr class="attempt">`), "both attempts")
	require.Contains(t, page, `<span class="badge delivered">HTTP 200</span>`)
	require.Contains(t, page, `<span class="badge delivered">delivered</span>`)
}

func TestDashboardTransaction_ShowsWhyNothingWasSent(t *testing.T) {
	t.Parallel()
	env := phtest.New(t) // notifications off
	b := signIn(t, env)
	rc := phtest.NewReceiver(t)
	sid := paidCheckout(t, env, rc, nil)
	page := b.getOK(transactionPage(sid))
	require.Contains(t, page, `<span class="badge not_sent">disabled</span>`)
	require.Contains(t, page, "Not sent: webhook notifications are off")
	require.NotContains(t, page, `name="resend"`, "nothing to re-send")
}

func TestDashboardTransaction_NotifyAgainSendsANewNotification(t *testing.T) {
	t.Parallel()
	env := setupWebhooks(t, nil)
	b := signIn(t, env)
	rc := phtest.NewReceiver(t)
	sid := paidCheckout(t, env, rc, nil)
	first := rc.Wait(t, 1, 5*time.Second)[0]

	page := b.getOK(transactionPage(sid))
	require.True(t, hasID(page, "notify-again"))
	p := b.post(transactionPage(sid)+"/notify", nil)
	require.Equal(t, http.StatusSeeOther, p.Code, "%s", p.Body)
	require.Equal(t, transactionPage(sid)+"?done=notify", p.Location)
	// At once again: the same rate limit as the inquiry's notify option.
	again := b.post(transactionPage(sid)+"/notify", nil)
	require.Equal(t, http.StatusTooManyRequests, again.Code)
	require.Contains(t, again.Body, "Request was throttled")

	require.Equal(t, "The payment notification was queued again, as a new notification.", flashOf(b.getOK(p.Location)))
	second := rc.Wait(t, 2, 5*time.Second)[1]
	require.NotEqual(t, first.Header.Get("webhook-id"), second.Header.Get("webhook-id"), "a new notification")
	require.Equal(t, "paid", decodeBody(t, second.Body)["state"])
	require.Len(t, sessionNotifications(t, env, sid), 2)
}

func TestDashboardTransaction_RefundFromThePage(t *testing.T) {
	t.Parallel()
	env, ops := setupOperations(t, nil)
	b := signIn(t, env)
	sid := paidCheckout(t, env, nil, nil)

	page := b.getOK(transactionPage(sid))
	require.True(t, hasID(page, "refund"))
	require.Equal(t, "", regexp.MustCompile(`id="refund-amount" name="amount" inputmode="decimal" value="([^"]*)"`).FindStringSubmatch(page)[1],
		"the amount is typed, or the full refund chosen")
	for _, id := range []string{"capture", "void", "cancel"} {
		require.False(t, hasID(page, id), "a paid transaction cannot be %sed", id)
	}

	form := url.Values{"operation": {"refund"}, "amount": {"10"}}
	confirmation := b.askConfirmation(transactionPage(sid)+"/operation", form)
	p := b.confirmPage(confirmation)
	require.Equal(t, http.StatusSeeOther, p.Code, "%s", p.Body)
	require.Equal(t, transactionPage(sid)+"?done=refund", p.Location)
	after := b.getOK(p.Location)
	require.Equal(t, "Refund done. The operation notification is on its way.", flashOf(after))
	req := waitRequests(t, 1, func() []phtest.Request { return operationRequests(ops) })[0]
	phtest.Validate(t, "operation-webhook", req.Body)
	body := decodeBody(t, req.Body)
	require.Equal(t, "refund", body["operation"])
	require.Equal(t, "10.000", body["amount"])
	require.Equal(t, staffEmail, body["initiator"].(map[string]any)["email"], "the user is the initiator")
	require.Equal(t, "10.000", strField(inquiry(t, env, sid), "refunded_amount"))
	require.Contains(t, after, `id="refunded-amount">10.000 KWD</dd>`)
	require.Contains(t, after, `<span class="badge success">refunded</span>`, "the child transaction")

	// The same confirmation sent twice (a double click) refunds once: its tracking_key.
	p = b.confirmPage(confirmation)
	require.Equal(t, http.StatusSeeOther, p.Code)
	require.Equal(t, "10.000", strField(inquiry(t, env, sid), "refunded_amount"))

	// The gateway declines (the sandbox declines amounts whose decimals start with 99): the
	// page says so, and the failed operation's notification goes out.
	after = b.postConfirmed(transactionPage(sid)+"/operation", url.Values{"operation": {"refund"}, "amount": {"9.990"}},
		transactionPage(sid)+"?done=refund_declined")
	require.Contains(t, flashOf(after), "The gateway declined the refund")
	require.Contains(t, after, `<span class="badge failed">refund_rejected</span>`)
	declined := waitRequests(t, 2, func() []phtest.Request { return operationRequests(ops) })[1]
	require.Equal(t, "failed", decodeBody(t, declined.Body)["result"])
	require.Equal(t, "10.000", strField(inquiry(t, env, sid), "refunded_amount"))

	// More than remains: the error next to the amount, nothing refunded.
	p = b.post(transactionPage(sid)+"/operation", url.Values{"operation": {"refund"}, "amount": {"80"}})
	require.Equal(t, http.StatusBadRequest, p.Code)
	require.Contains(t, fieldError(p.Body, "amount"), "At most 76.000 KWD can be refunded.")
	require.Contains(t, p.Body, `value="80"`, "what was typed stays")
	require.Equal(t, "10.000", strField(inquiry(t, env, sid), "refunded_amount"))

	// The rest, chosen as the full remaining amount.
	b.postConfirmed(transactionPage(sid)+"/operation", url.Values{"operation": {"refund"}, "full": {"1"}}, transactionPage(sid)+"?done=refund")
	require.Equal(t, "refunded", inquiry(t, env, sid)["state"])
	page = b.getOK(transactionPage(sid))
	require.False(t, hasID(page, "refund"), "nothing remains to refund")

	// Refused by the state rules: a 409 with the reason, nothing done.
	p = b.post(transactionPage(sid)+"/operation", url.Values{"operation": {"refund"}, "amount": {"1"}})
	require.Equal(t, http.StatusConflict, p.Code)
	require.Contains(t, p.Body, `Cannot refund a transaction in state &#34;refunded&#34;.`)
	p = b.post(transactionPage(sid)+"/operation", url.Values{"operation": {"delete"}})
	require.Equal(t, http.StatusBadRequest, p.Code, "the page offers refund, capture, void and cancel only")
	waitRequests(t, 3, func() []phtest.Request { return operationRequests(ops) })
	require.Len(t, operationRequests(ops), 3, "refunds of 10, 9.990 (declined) and the rest; nothing else")
}

func TestDashboardTransaction_CaptureVoidCancelFromThePage(t *testing.T) {
	t.Parallel()
	env, ops := setupOperations(t, nil)
	b := signIn(t, env)

	captured := authorizedCheckout(t, env, nil, nil)
	page := b.getOK(transactionPage(captured))
	for id, want := range map[string]bool{"capture": true, "void": true, "refund": false, "cancel": false} {
		require.Equal(t, want, hasID(page, id), "authorized: %s", id)
	}
	b.postConfirmed(transactionPage(captured)+"/operation", url.Values{"operation": {"capture"}, "amount": {"50"}},
		transactionPage(captured)+"?done=capture")
	require.Equal(t, "paid", checkoutState(t, env, captured))
	require.Equal(t, "50.000", strField(inquiry(t, env, captured), "paid_amount"))

	voided := authorizedCheckout(t, env, nil, nil)
	b.postConfirmed(transactionPage(voided)+"/operation", url.Values{"operation": {"void"}}, transactionPage(voided)+"?done=void")
	require.Equal(t, "canceled", checkoutState(t, env, voided))
	waitRequests(t, 2, func() []phtest.Request { return operationRequests(ops) })

	rc := phtest.NewReceiver(t)
	open := strField(checkoutWith(env, rc, nil), "session_id")
	page = b.getOK(transactionPage(open))
	for id, want := range map[string]bool{"cancel": true, "capture": false, "void": false, "refund": false, "checkout-link": true} {
		require.Equal(t, want, hasID(page, id), "created: %s", id)
	}
	b.postConfirmed(transactionPage(open)+"/operation", url.Values{"operation": {"cancel"}}, transactionPage(open)+"?done=cancel")
	require.Equal(t, "canceled", checkoutState(t, env, open))
	got := waitRequests(t, 1, func() []phtest.Request { return paymentRequests(rc) })
	require.Equal(t, "canceled", decodeBody(t, got[0].Body)["state"])
}

func TestDashboardTransaction_UnknownIsNotFound(t *testing.T) {
	t.Parallel()
	env := phtest.New(t)
	b := signIn(t, env)
	require.Equal(t, http.StatusNotFound, b.get(transactionPage(strings.Repeat("0", 40))).Code)
	require.Equal(t, http.StatusNotFound, b.post(transactionPage(strings.Repeat("0", 40))+"/notify", nil).Code)
}

// An error keeps the dashboard around it: the menu and the reason, with the right status.
func TestDashboard_ErrorsKeepTheMenu(t *testing.T) {
	t.Parallel()
	env := phtest.New(t)
	b := signIn(t, env)
	p := b.get("/dashboard/transactions/no-such-session")
	require.Equal(t, http.StatusNotFound, p.Code)
	require.Contains(t, p.Body, `href="/dashboard/notifications"`, "the menu is there")
	require.Contains(t, p.Body, "no-such-session", "the reason is there")
}

package web_test

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook/internal/phtest"
)

var (
	confirmFormRe = regexp.MustCompile(`(?s)<form method="post" action="([^"]+)" class="actions" id="confirm-form">(.*?)</form>`)
	hiddenRe      = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
)

// confirmFormOf reads a confirmation page's form: where it posts and its hidden fields
// (csrf_token included), as a browser would submit them.
func confirmFormOf(t *testing.T, body string) (string, url.Values) {
	t.Helper()
	m := confirmFormRe.FindStringSubmatch(body)
	require.NotNil(t, m, "no confirmation form in %s", body)
	f := url.Values{}
	for _, h := range hiddenRe.FindAllStringSubmatch(m[2], -1) {
		f.Add(h[1], html.UnescapeString(h[2]))
	}
	require.Equal(t, "1", f.Get("confirm"))
	return html.UnescapeString(m[1]), f
}

// askConfirmation submits an action's form, which must answer its confirmation page (200,
// with "Nothing has been done yet"), and returns the page.
func (b *browser) askConfirmation(path string, form url.Values) string {
	b.t.Helper()
	p := b.post(path, form)
	require.Equal(b.t, http.StatusOK, p.Code, "POST %s: %s", path, p.Body)
	require.True(b.t, hasID(p.Body, "confirm-form"), "a confirmation page: %s", p.Body)
	require.Contains(b.t, p.Body, "Nothing has been done yet.")
	return p.Body
}

// confirmPage submits a confirmation page's form as it is and returns the answer.
func (b *browser) confirmPage(confirmation string) page {
	b.t.Helper()
	action, f := confirmFormOf(b.t, confirmation)
	return b.send("POST", action, f)
}

// postConfirmed submits an action's form, confirms it, requires a 303 to want and returns
// the page it leads to.
func (b *browser) postConfirmed(path string, form url.Values, want string) string {
	b.t.Helper()
	p := b.confirmPage(b.askConfirmation(path, form))
	require.Equal(b.t, http.StatusSeeOther, p.Code, "confirm %s: %s", path, p.Body)
	require.Equal(b.t, want, p.Location)
	return b.getOK(p.Location)
}

// refundedOf returns how much of a transaction is refunded, as the store has it.
func refundedOf(t *testing.T, env *phtest.Env, sessionID string) string {
	t.Helper()
	txn, err := env.Service.Transaction(context.Background(), sessionID)
	require.NoError(t, err)
	return txn.RefundedAmount.Format(txn.Currency)
}

// gatewayCalls counts the sandbox gateway's ledger entries (every call it answered).
func gatewayCalls(t *testing.T, env *phtest.Env) int { return countRows(t, env, "gateway_calls") }

func TestDashboardConfirm_RefundAsksFirstThenRefundsOnce(t *testing.T) {
	t.Parallel()
	env, ops := setupOperations(t, nil)
	b := signIn(t, env)
	sid := paidCheckout(t, env, nil, map[string]any{"order_no": "INV-42"})
	calls := gatewayCalls(t, env)

	txPage := b.getOK(transactionPage(sid))
	require.Equal(t, "", regexp.MustCompile(`id="refund-amount" name="amount" inputmode="decimal" value="([^"]*)"`).FindStringSubmatch(txPage)[1],
		"no amount is filled in for the user")
	require.Contains(t, txPage, "Refund the full remaining amount (86.000 KWD)")

	// The first POST only asks: it restates the operation, amount, card, order and session.
	c := b.askConfirmation(transactionPage(sid)+"/operation", url.Values{"operation": {"refund"}, "amount": {"5"}})
	require.Equal(t, "refund", textOf(t, c, "confirm-operation"))
	require.Equal(t, "5.000 KWD", textOf(t, c, "confirm-amount"))
	require.Equal(t, "•••• 1111", textOf(t, c, "confirm-card"))
	require.Equal(t, "INV-42", textOf(t, c, "confirm-order-no"))
	require.Equal(t, sid, textOf(t, c, "confirm-session"))
	require.Contains(t, textOf(t, c, "confirm-intro"), "Refund 5.000 KWD on the card ending 1111")
	require.Equal(t, "Confirm refund of 5.000 KWD", textOf(t, c, "confirm"))
	require.Contains(t, c, `<a href="/dashboard/transactions/`+sid+`" id="go-back">Go back</a>`)
	_, hidden := confirmFormOf(t, c)
	require.Equal(t, "5.000", hidden.Get("amount"), "the amount as it will be refunded")
	require.True(t, strings.HasPrefix(hidden.Get("tracking_key"), "dashboard-"), "a Tracking-Key made for this confirmation")
	require.Equal(t, calls, gatewayCalls(t, env), "nothing asked of the gateway")
	require.Equal(t, "0.000", refundedOf(t, env, sid), "nothing refunded")
	require.Equal(t, 0, countRows(t, env, "children"))

	// Confirmed twice (a double click, a reload of the confirmation): one refund.
	var wg sync.WaitGroup
	answers := make([]page, 2)
	for i := range answers {
		wg.Add(1)
		go func() { defer wg.Done(); answers[i] = b.confirmPage(c) }()
	}
	wg.Wait()
	for _, a := range answers {
		require.Equal(t, http.StatusSeeOther, a.Code, "%s", a.Body)
		require.Equal(t, transactionPage(sid)+"?done=refund", a.Location)
	}
	again := b.confirmPage(c)
	require.Equal(t, http.StatusSeeOther, again.Code)
	require.Equal(t, "5.000", refundedOf(t, env, sid), "refunded once")
	require.Equal(t, 1, countRows(t, env, "children"))
	require.Equal(t, calls+1, gatewayCalls(t, env), "one gateway call")
	waitRequests(t, 1, func() []phtest.Request { return operationRequests(ops) })
	require.Len(t, operationRequests(ops), 1, "one operation notification")
	require.Equal(t, "Refund done. The operation notification is on its way.", flashOf(b.getOK(again.Location)))
}

func TestDashboardConfirm_EmptyAmountIsAFieldErrorAndFullIsAChoice(t *testing.T) {
	t.Parallel()
	env, _ := setupOperations(t, nil)
	b := signIn(t, env)
	sid := paidCheckout(t, env, nil, nil)
	calls := gatewayCalls(t, env)

	// Empty: an error next to the amount, never "everything"; nothing done.
	for _, f := range []url.Values{
		{"operation": {"refund"}},
		{"operation": {"refund"}, "amount": {"  "}},
		// A hand-made confirmation without an amount is refused too.
		{"operation": {"refund"}, "confirm": {"1"}, "tracking_key": {"dashboard-x"}, "full": {"1"}},
	} {
		p := b.post(transactionPage(sid)+"/operation", f)
		require.Equal(t, http.StatusBadRequest, p.Code, "%v", f)
		require.Equal(t, "Enter an amount, or choose Full refund.", fieldError(p.Body, "amount"), "%v", f)
		require.Contains(t, p.Body, `aria-invalid="true"`)
	}
	// More than remains: the gateway is not asked, the page says how much is possible.
	p := b.post(transactionPage(sid)+"/operation", url.Values{"operation": {"refund"}, "amount": {"90"}})
	require.Equal(t, http.StatusBadRequest, p.Code)
	require.Contains(t, fieldError(p.Body, "amount"), "At most 86.000 KWD can be refunded.")
	require.Equal(t, calls, gatewayCalls(t, env))
	require.Equal(t, "0.000", refundedOf(t, env, sid))

	// Partly refunded, then "full" refunds exactly what remains, filled in by the server.
	b.postConfirmed(transactionPage(sid)+"/operation", url.Values{"operation": {"refund"}, "amount": {"6"}}, transactionPage(sid)+"?done=refund")
	require.Contains(t, b.getOK(transactionPage(sid)), "Refund the full remaining amount (80.000 KWD)")
	c := b.askConfirmation(transactionPage(sid)+"/operation", url.Values{"operation": {"refund"}, "full": {"1"}})
	require.Equal(t, "80.000 KWD (the full remaining amount)", textOf(t, c, "confirm-amount"))
	require.Equal(t, "Confirm refund of 80.000 KWD", textOf(t, c, "confirm"))
	_, hidden := confirmFormOf(t, c)
	require.Equal(t, "80.000", hidden.Get("amount"))
	require.False(t, hidden.Has("full"), "the confirmation carries the amount, not the choice")
	require.Equal(t, "6.000", refundedOf(t, env, sid), "asking changed nothing")
	p = b.confirmPage(c)
	require.Equal(t, http.StatusSeeOther, p.Code, "%s", p.Body)
	got := inquiry(t, env, sid)
	require.Equal(t, "86.000", got["refunded_amount"])
	require.Equal(t, "refunded", got["state"])
}

func TestDashboardConfirm_FullRefundConfirmedAfterAnotherRefundIsRefused(t *testing.T) {
	t.Parallel()
	env, _ := setupOperations(t, nil)
	b := signIn(t, env)
	sid := paidCheckout(t, env, nil, nil)
	c := b.askConfirmation(transactionPage(sid)+"/operation", url.Values{"operation": {"refund"}, "full": {"1"}})
	// Meanwhile, someone refunds part through the API.
	code, body := operate(t, env, "", map[string]any{"operation": "refund", "session_id": sid, "amount": "10"})
	require.Equal(t, http.StatusOK, code, "%s", body)
	// The confirmation refunds the amount it showed, or nothing: never more than remains.
	p := b.confirmPage(c)
	require.Equal(t, http.StatusBadRequest, p.Code)
	require.Contains(t, fieldError(p.Body, "amount"), "At most 76.000 KWD can be refunded.")
	require.Equal(t, "10.000", refundedOf(t, env, sid))
}

func TestDashboardConfirm_CaptureVoidCancel(t *testing.T) {
	t.Parallel()
	env, _ := setupOperations(t, nil)
	b := signIn(t, env)

	// Capture: empty is an error; the full choice captures the authorized amount.
	auth := authorizedCheckout(t, env, nil, nil)
	p := b.post(transactionPage(auth)+"/operation", url.Values{"operation": {"capture"}})
	require.Equal(t, http.StatusBadRequest, p.Code)
	require.Equal(t, "Enter an amount, or choose Full capture.", fieldError(p.Body, "amount"))
	c := b.askConfirmation(transactionPage(auth)+"/operation", url.Values{"operation": {"capture"}, "full": {"1"}})
	require.Equal(t, "Confirm capture of 86.000 KWD", textOf(t, c, "confirm"))
	require.Equal(t, "•••• 1111", textOf(t, c, "confirm-card"))
	require.Equal(t, "authorized", checkoutState(t, env, auth), "asking changed nothing")
	require.Equal(t, http.StatusSeeOther, b.confirmPage(c).Code)
	require.Equal(t, http.StatusSeeOther, b.confirmPage(c).Code, "a second confirmation answers the first's result")
	got := inquiry(t, env, auth)
	require.Equal(t, "paid", got["state"])
	require.Equal(t, "86.000", got["paid_amount"])

	// Void.
	voided := authorizedCheckout(t, env, nil, nil)
	c = b.askConfirmation(transactionPage(voided)+"/operation", url.Values{"operation": {"void"}})
	require.Equal(t, "Confirm void of 86.000 KWD", textOf(t, c, "confirm"))
	require.Contains(t, textOf(t, c, "confirm-intro"), "Void the authorization of 86.000 KWD on the card ending 1111")
	require.Equal(t, "authorized", checkoutState(t, env, voided))
	children := countRows(t, env, "children")
	require.Equal(t, http.StatusSeeOther, b.confirmPage(c).Code)
	require.Equal(t, http.StatusSeeOther, b.confirmPage(c).Code)
	require.Equal(t, "canceled", checkoutState(t, env, voided))
	require.Equal(t, children+1, countRows(t, env, "children"), "voided once")

	// Cancel: no card yet; the amount and the order are restated.
	open := strField(env.Checkout(map[string]any{"order_no": "C-1"}), "session_id")
	c = b.askConfirmation(transactionPage(open)+"/operation", url.Values{"operation": {"cancel"}})
	require.Equal(t, "Confirm cancellation of 86.000 KWD", textOf(t, c, "confirm"))
	require.Equal(t, "C-1", textOf(t, c, "confirm-order-no"))
	require.False(t, hasID(c, "confirm-card"), "no card yet")
	require.Equal(t, "created", checkoutState(t, env, open))
	require.Equal(t, http.StatusSeeOther, b.confirmPage(c).Code)
	require.Equal(t, "canceled", checkoutState(t, env, open))
	again := b.confirmPage(c)
	require.Equal(t, http.StatusSeeOther, again.Code, "the same key answers the first result: %s", again.Body)
	require.Equal(t, transactionPage(open)+"?done=cancel", again.Location)
}

func TestDashboardConfirm_RevokeAPIKey(t *testing.T) {
	t.Parallel()
	env := phtest.New(t)
	b := signIn(t, env)
	key, err := env.Service.CreateAPIKey(context.Background(), "shop backend")
	require.NoError(t, err)
	keys, err := env.Service.APIKeys(context.Background())
	require.NoError(t, err)
	var id string
	for _, k := range keys {
		if k.Name == "shop backend" {
			id = strconv.FormatInt(k.ID, 10)
		}
	}
	require.NotEmpty(t, id)

	c := b.askConfirmation("/dashboard/api-keys/"+id+"/revoke", nil)
	require.Equal(t, "shop backend", textOf(t, c, "confirm-key-name"))
	require.Equal(t, key[:7]+"…", textOf(t, c, "confirm-key-prefix"))
	require.Equal(t, "Revoke the key “shop backend”", textOf(t, c, "confirm"))
	require.Equal(t, http.StatusOK, callWithKey(t, env, key), "asking changed nothing: the key works")

	p := b.confirmPage(c)
	require.Equal(t, http.StatusSeeOther, p.Code)
	require.Equal(t, "/dashboard/api-keys?done=key_revoked", p.Location)
	require.Equal(t, http.StatusUnauthorized, callWithKey(t, env, key))
	p = b.confirmPage(c)
	require.Equal(t, "/dashboard/api-keys?done=key_already_revoked", p.Location, "a second confirmation does nothing")
	require.Equal(t, "Nothing was done: this API key was already revoked.", flashOf(b.getOK(p.Location)))
	require.Equal(t, 1, strings.Count(b.getOK("/dashboard/audit"), "api_key.revoke"), "revoked once")
}

func TestDashboardConfirm_DeletePluginConfig(t *testing.T) {
	t.Parallel()
	env := phtest.New(t)
	b := signIn(t, env)
	b.postRedirect("/dashboard/webhook/plugins/e_commerce", url.Values{"webhook_url": {"https://shop.example/hook"}, "state_filter_enabled": {"true"},
		"states": {"paid", "expired"}}, "/dashboard/webhook/plugins?done=plugin_saved")

	c := b.askConfirmation("/dashboard/webhook/plugins/e_commerce/delete", nil)
	require.Equal(t, "e_commerce", textOf(t, c, "confirm-plugin"))
	require.Equal(t, "https://shop.example/hook", textOf(t, c, "confirm-plugin-url"))
	require.Equal(t, "only paid, expired", textOf(t, c, "confirm-plugin-filter"))
	require.Contains(t, textOf(t, c, "confirm-intro"), "will no longer go to https://shop.example/hook")
	require.Equal(t, "Delete the E-Commerce config", textOf(t, c, "confirm"))
	_, ok, err := env.Service.PluginSettings(context.Background(), "e_commerce")
	require.NoError(t, err)
	require.True(t, ok, "asking changed nothing")

	p := b.confirmPage(c)
	require.Equal(t, "/dashboard/webhook/plugins?done=plugin_deleted", p.Location)
	_, ok, err = env.Service.PluginSettings(context.Background(), "e_commerce")
	require.NoError(t, err)
	require.False(t, ok)
	p = b.confirmPage(c)
	require.Equal(t, "/dashboard/webhook/plugins?done=plugin_already_deleted", p.Location, "a second confirmation does nothing")
	require.Equal(t, 1, strings.Count(b.getOK("/dashboard/audit"), "webhook.plugin.delete"), "deleted once")
}

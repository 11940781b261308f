package web_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook/gateway/sandbox"
	"github.com/payhook/payhook/internal/phtest"
)

// TestBrowser drives the dashboard and the hosted checkout in headless chromium, as a
// merchant's operations staff and their customer would, and checks each result through
// the APIs and the merchant's receiver. One browser serves every scenario; each
// scenario has its own payhook and its own tab with its own cookies.
func TestBrowser(t *testing.T) {
	t.Parallel()
	browser := startChromium(t)

	t.Run("SignInThroughTheForm", func(t *testing.T) {
		t.Parallel()
		env := phtest.New(t)
		createStaff(t, env)
		tb := newTab(t, browser, env)

		// A page needs a session: to the sign-in form, which comes back here after.
		tb.openOK("/dashboard/webhook/config")
		require.Equal(t, "/dashboard/login?next=%2Fdashboard%2Fwebhook%2Fconfig", tb.path())
		tb.screenshot("signin")

		tb.fillSignIn(staffEmail, "not-the-password")
		resp := tb.press(`form[action="/dashboard/login"] button[type=submit]`)
		require.EqualValues(t, http.StatusUnauthorized, resp.Status)
		require.Equal(t, "Email or password is not right.", tb.textAt(`[role=alert]`))
		require.Equal(t, staffEmail, tb.js(`document.getElementById("email").value`), "the email stays filled in")
		require.False(t, tb.has(`nav[aria-label=Main]`), "not signed in")

		tb.typeInto("password", staffPassword)
		resp = tb.press(`form[action="/dashboard/login"] button[type=submit]`)
		require.EqualValues(t, http.StatusOK, resp.Status)
		require.Equal(t, "/dashboard/webhook/config", tb.path(), "back to the page that asked")
		require.Contains(t, tb.textAt(`header.top`), staffEmail)

		tb.openOK("/dashboard/transactions")
		require.Equal(t, "Transactions", tb.textAt("h1"))
	})

	t.Run("ChangeTheTimeoutOnWebhookConfig", func(t *testing.T) {
		t.Parallel()
		env := phtest.New(t)
		tb := newTab(t, browser, env)
		tb.signIn()
		tb.openOK(configPage)
		require.Equal(t, "15", tb.js(`document.getElementById("timeout").value`))
		require.Equal(t, "55 s", tb.text("worst-case"), "3 × 15 s + 2 × 5 s")
		require.Contains(t, tb.text("ssl-warning"), "SSL certificate verification is off")
		tb.screenshot("webhook-config")

		// The explanation follows what is typed, before anything is saved.
		tb.typeInto("timeout", "7.5")
		require.Equal(t, "32.5 s", tb.text("worst-case"), "3 × 7.5 s + 2 × 5 s, live")
		require.Contains(t, tb.text("worst-case-steps"), "Attempt 3 starts at 25 s and waits up to 7.5 s")
		require.Equal(t, 15.0, apiConfig(t, env)["timeout"], "typing saves nothing")
		// So does the SSL warning.
		tb.check("ignore_ssl", false)
		require.False(t, tb.has("#ssl-warning"))

		resp := tb.pressID("save-config")
		require.EqualValues(t, http.StatusOK, resp.Status)
		require.Equal(t, configPage+"?done=config", tb.path())
		require.Equal(t, "Webhook configuration saved. It applies from the next notification.", tb.textAt(`[role=status]`))
		require.Equal(t, "32.5 s", tb.text("worst-case"))
		cfg := apiConfig(t, env)
		require.Equal(t, 7.5, cfg["timeout"])
		require.Equal(t, false, cfg["ignore_ssl"])
		require.Equal(t, 3.0, cfg["retries"], "the rest as it was")
		require.Equal(t, 5.0, cfg["backoff_factor"])

		// A bad value: its message next to the field, nothing saved.
		before := getConfig(t, env)
		tb.typeInto("timeout", "0")
		require.Equal(t, "—", tb.text("worst-case"))
		tb.typeInto("retries", "4")
		resp = tb.pressID("save-config")
		require.EqualValues(t, http.StatusBadRequest, resp.Status)
		require.Contains(t, tb.text("timeout-err"), "Must be more than 0 and at most 60 seconds")
		require.Equal(t, "true", tb.js(`document.getElementById("timeout").getAttribute("aria-invalid")`))
		require.Contains(t, tb.textAt(`[role=alert]`), "Nothing was saved")
		require.Equal(t, "0", tb.js(`document.getElementById("timeout").value`), "what was typed stays, to be corrected")
		require.JSONEq(t, string(before), string(getConfig(t, env)), "nothing saved, not even the retries")
	})

	t.Run("AddAPluginConfig", func(t *testing.T) {
		t.Parallel()
		env := setupWebhooks(t, nil)
		rc := phtest.NewReceiver(t)
		tb := newTab(t, browser, env)
		tb.signIn()
		tb.openOK("/dashboard/webhook/plugins")
		require.True(t, tb.has("#add-e_commerce"))
		require.False(t, tb.has("#edit-e_commerce"))

		tb.pressID("add-e_commerce")
		require.Equal(t, "/dashboard/webhook/plugins/e_commerce", tb.path())
		tb.typeInto("webhook_url", rc.URL)
		tb.check("state_filter_enabled", true)
		tb.check("state-paid", true)
		resp := tb.pressID("save-plugin")
		require.EqualValues(t, http.StatusOK, resp.Status)
		require.Equal(t, "/dashboard/webhook/plugins?done=plugin_saved", tb.path())
		require.Equal(t, "Plugin configuration saved.", tb.textAt(`[role=status]`))
		row := tb.text("plugin-e_commerce")
		require.Contains(t, row, rc.URL)
		require.Contains(t, row, "only paid")
		tb.screenshot("plugins")

		list := env.JSON("GET", pluginsPath, nil, http.StatusOK)
		require.Equal(t, 1.0, list["count"])
		require.Equal(t, []any{map[string]any{"plugin": "e_commerce", "webhook_url": rc.URL,
			"state_filter_enabled": true, "states": []any{"paid"}, "extended_redelivery": nil}}, list["results"])

		// The next payment notifies the plugin's URL; a declined one is filtered out.
		paid := paidCheckout(t, env, nil, nil)
		got := rc.Wait(t, 1, 5*time.Second)
		require.Equal(t, paid, decodeBody(t, got[0].Body)["session_id"])
		declined := checkoutWith(env, nil, map[string]any{"order_no": "ORD-2"})
		code, _ := env.Pay(strField(declined, "checkout_url"), sandbox.CardDeclined)
		require.Equal(t, http.StatusSeeOther, code)
		n := onlyNotification(t, env, strField(declined, "session_id"))
		require.Equal(t, "not_sent", n.Status)
		require.Equal(t, "state_filtered", *n.Reason)

		tb.pressID("edit-e_commerce")
		require.Equal(t, rc.URL, tb.js(`document.getElementById("webhook_url").value`))
		require.True(t, tb.jsTrue(`document.getElementById("state-paid").checked`))
		require.False(t, tb.jsTrue(`document.getElementById("state-failed").checked`))
		tb.screenshot("plugin-edit")
	})

	t.Run("ResendAfterTheMerchantIsFixed", func(t *testing.T) {
		t.Parallel()
		env := setupWebhooks(t, nil)
		rc := phtest.NewReceiver(t)
		var fixed atomic.Bool
		rc.Respond = func(_ int, w http.ResponseWriter, _ *http.Request) {
			if fixed.Load() {
				io.WriteString(w, "ok")
				return
			}
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, "merchant down")
		}
		c := checkoutWith(env, rc, nil)
		sid := strField(c, "session_id")
		tb := newTab(t, browser, env)

		// The customer pays on the hosted checkout page.
		tb.openOK(strField(c, "checkout_url"))
		require.Contains(t, tb.textAt("h1"), "86.000")
		tb.screenshot("checkout")
		tb.typeInto("card_number", "4111 1111 1111 1111")
		tb.typeInto("card_expiry", "12/39")
		tb.typeInto("card_cvv", "123")
		tb.typeInto("card_holder", "Jane Doe")
		resp := tb.press(`form button.primary[type=submit]`)
		require.EqualValues(t, http.StatusOK, resp.Status)
		require.Equal(t, summaryURL(env, c), tb.location(), "the merchant's 500 sends the customer to the summary")
		require.Equal(t, "Payment successful", tb.textAt("header .badge"))
		require.Contains(t, tb.textAt("dl"), "paid")
		tb.screenshot("summary")

		n := onlyNotification(t, env, sid)
		require.Equal(t, "failed", n.Status)
		require.Len(t, rc.Requests(), 1)

		// The transaction's page shows the failed attempt.
		tb.signIn()
		tb.openOK(transactionPage(sid))
		require.Equal(t, "paid", tb.text("state"))
		require.Equal(t, "failed", tb.noteStatus(n.ID))
		require.Equal(t, []string{"HTTP 500"}, tb.attemptAnswers(n.ID))
		require.Contains(t, tb.text("n-"+n.ID), "merchant down", "the start of the answer")

		// The merchant fixes their server; Resend sends the same notification again.
		fixed.Store(true)
		resp = tb.pressID("resend-" + n.ID)
		require.EqualValues(t, http.StatusOK, resp.Status)
		require.Equal(t, transactionPage(sid)+"?done=resend", tb.path())
		require.Equal(t, "Queued again with the same webhook-id and body.", tb.textAt(`[role=status]`))
		reqs := rc.Wait(t, 2, 5*time.Second)
		require.Equal(t, n.ID, reqs[0].Header.Get("webhook-id"))
		require.Equal(t, n.ID, reqs[1].Header.Get("webhook-id"), "a re-send keeps the webhook-id")
		require.Equal(t, string(reqs[0].Body), string(reqs[1].Body), "and the body")
		phtest.Eventually(t, 5*time.Second, func() bool {
			tb.openOK(transactionPage(sid))
			return tb.noteStatus(n.ID) == "delivered"
		}, "the page shows the notification delivered")
		require.Equal(t, []string{"HTTP 500", "HTTP 200"}, tb.attemptAnswers(n.ID))
		require.Equal(t, "delivered", getNotification(t, env, n.ID).Status)
		tb.screenshot("transaction")

		tb.openOK("/dashboard/notifications/" + n.ID)
		require.Equal(t, []string{"HTTP 500", "HTTP 200"}, tb.attemptAnswers(n.ID))
		tb.screenshot("notification")
	})

	t.Run("RefundFromTheTransactionPage", func(t *testing.T) {
		t.Parallel()
		env, ops := setupOperations(t, nil)
		sid := paidCheckout(t, env, nil, nil)
		tb := newTab(t, browser, env)
		tb.signIn()
		tb.openOK(transactionPage(sid))
		require.Equal(t, "paid", tb.text("state"))
		require.False(t, tb.has("#refunded-amount"))
		require.Equal(t, "", tb.js(`document.getElementById("refund-amount").value`), "no amount chosen for the user")

		// Empty: an error next to the amount, nothing refunded.
		resp := tb.pressID("refund")
		require.EqualValues(t, http.StatusBadRequest, resp.Status)
		require.Equal(t, "Enter an amount, or choose Full refund.", tb.text("amount-err"))

		// The button asks first: a dialog restating the refund (the server's confirmation
		// page), nothing done yet. "Go back" closes it.
		tb.typeInto("refund-amount", "10")
		before := tb.path()
		tb.openDialog("refund")
		require.Equal(t, "Confirm refund of 10.000 KWD", tb.textAt(`#confirm-dialog #confirm`))
		require.Equal(t, "•••• 1111", tb.textAt(`#confirm-dialog #confirm-card`))
		require.Equal(t, sid, tb.textAt(`#confirm-dialog #confirm-session`))
		require.Equal(t, before, tb.path(), "no page was loaded")
		tb.do(chromedp.Click(`#confirm-dialog #go-back`, chromedp.NodeVisible), chromedp.WaitNotPresent(`#confirm-dialog`))
		require.Equal(t, "", strField(inquiry(t, env, sid), "refunded_amount"), "nothing refunded")
		tb.openDialog("refund")
		tb.screenshot("confirm-refund-dialog")
		resp = tb.press(`#confirm-dialog #confirm`)
		require.EqualValues(t, http.StatusOK, resp.Status)
		require.Equal(t, transactionPage(sid)+"?done=refund", tb.path())
		require.Equal(t, "Refund done. The operation notification is on its way.", tb.textAt(`[role=status]`))
		require.Equal(t, "10.000 KWD", tb.text("refunded-amount"))
		require.Equal(t, "paid", tb.text("state"), "a partial refund leaves it paid")
		req := waitRequests(t, 1, func() []phtest.Request { return operationRequests(ops) })[0]
		body := decodeBody(t, req.Body)
		require.Equal(t, "refund", body["operation"])
		require.Equal(t, "10.000", body["amount"])
		require.Equal(t, sid, body["session_id"])
		require.Equal(t, staffEmail, body["initiator"].(map[string]any)["email"], "the user is the initiator")
		requireSignedV1(t, req.Body)

		// The rest: "full" is a choice, and the confirmation names the amount.
		require.Contains(t, tb.textAt(`label:has(#refund-full)`), "Refund the full remaining amount (76.000 KWD)")
		tb.check("refund-full", true)
		tb.openDialog("refund")
		require.Equal(t, "Confirm refund of 76.000 KWD", tb.textAt(`#confirm-dialog #confirm`))
		tb.press(`#confirm-dialog #confirm`)
		require.Equal(t, "refunded", tb.text("state"))
		require.Equal(t, "86.000 KWD", tb.text("refunded-amount"))
		require.False(t, tb.has("#refund"), "nothing remains to refund")
		second := waitRequests(t, 2, func() []phtest.Request { return operationRequests(ops) })[1]
		require.Equal(t, "76.000", decodeBody(t, second.Body)["amount"])
		got := inquiry(t, env, sid)
		require.Equal(t, "refunded", got["state"])
		require.Equal(t, "86.000", got["refunded_amount"])
	})

	t.Run("TimingWarningsFollowWhatIsTyped", func(t *testing.T) {
		t.Parallel()
		env := phtest.New(t)
		tb := newTab(t, browser, env)
		tb.signIn()
		tb.openOK(configPage)
		require.False(t, tb.has("#warn-timeout"), "15 s is fine")
		require.False(t, tb.has("#warn-worst-case"), "55 s is fine")
		require.Contains(t, tb.text("warn-no-smtp"), "no SMTP server is configured")

		tb.typeInto("timeout", "30")
		require.Contains(t, tb.text("warn-timeout"), "The timeout is 30 s")
		require.Contains(t, tb.text("warn-worst-case"), "In the worst case a customer waits 100 s")
		tb.typeInto("timeout", "20")
		require.False(t, tb.has("#warn-timeout"))
		require.Contains(t, tb.text("warn-worst-case"), "waits 70 s")
		tb.check("retry_enabled", false)
		require.False(t, tb.has("#warn-worst-case"), "one attempt of 20 s")

		// Saved, the server says the same.
		tb.typeInto("timeout", "26")
		resp := tb.pressID("save-config")
		require.EqualValues(t, http.StatusOK, resp.Status)
		require.Contains(t, tb.text("warn-timeout"), "The timeout is 26 s")
		require.False(t, tb.has("#warn-worst-case"))
		tb.typeInto("timeout", "25")
		require.False(t, tb.has("#warn-timeout"), "the server's warning goes as the value is corrected")
	})

	t.Run("ConfirmationsWithAndWithoutJavaScript", func(t *testing.T) {
		t.Parallel()
		env := phtest.New(t) // notifications off: the banner shows
		keys := map[string]string{}
		for _, name := range []string{"shop backend", "old script"} {
			k, err := env.Service.CreateAPIKey(context.Background(), name)
			require.NoError(t, err)
			keys[name] = k
		}
		list, err := env.Service.APIKeys(context.Background())
		require.NoError(t, err)
		ids := map[string]string{}
		for _, k := range list {
			ids[k.Name] = strconv.FormatInt(k.ID, 10)
		}
		tb := newTab(t, browser, env)
		tb.signIn()
		tb.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile)) // on a phone
		tb.openOK("/dashboard/api-keys")
		require.Contains(t, tb.text("banner-notifications-off"), "Webhook notifications are off: nothing is sent")

		// With JavaScript: a dialog, then the confirmation's own form.
		tb.openDialog("revoke-" + ids["shop backend"])
		require.Contains(t, tb.textAt(`#confirm-dialog #confirm-intro`), "Revoke the API key “shop backend”")
		require.Equal(t, http.StatusOK, callWithKey(t, env, keys["shop backend"]), "nothing done yet")
		require.True(t, tb.jsTrue(`document.getElementById("confirm-dialog").getBoundingClientRect().right <= window.innerWidth`),
			"the dialog fits a 390 px screen")
		resp := tb.press(`#confirm-dialog #confirm`)
		require.EqualValues(t, http.StatusOK, resp.Status)
		require.Equal(t, "/dashboard/api-keys?done=key_revoked", tb.path())
		require.Equal(t, http.StatusUnauthorized, callWithKey(t, env, keys["shop backend"]))

		// Without JavaScript: the same confirmation, as a page.
		tb.do(func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
			_, err := cdp.Call(ctx, tg, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
			return chromedp.Void{}, err
		})
		tb.openOK("/dashboard/api-keys")
		resp = tb.pressID("revoke-" + ids["old script"])
		require.EqualValues(t, http.StatusOK, resp.Status)
		require.Equal(t, "/dashboard/api-keys/"+ids["old script"]+"/revoke", tb.path())
		require.Equal(t, "Revoke the key “old script”", tb.text("confirm"))
		require.Equal(t, http.StatusOK, callWithKey(t, env, keys["old script"]), "nothing done yet")
		require.True(t, tb.jsTrue(`document.documentElement.scrollWidth <= window.innerWidth`),
			"no sideways scrolling on a 390 px screen: the page is %s px wide", tb.js(`String(document.documentElement.scrollWidth)`))
		tb.screenshot("confirm-revoke-mobile")
		tb.do(chromedp.EmulateViewport(1280, 900))
		tb.screenshot("confirm-revoke")
		resp = tb.pressID("confirm")
		require.EqualValues(t, http.StatusOK, resp.Status)
		require.Equal(t, "/dashboard/api-keys?done=key_revoked", tb.path())
		require.Equal(t, http.StatusUnauthorized, callWithKey(t, env, keys["old script"]))
	})

	t.Run("PostWithoutTheCSRFTokenIsRefused", func(t *testing.T) {
		t.Parallel()
		env := phtest.New(t)
		tb := newTab(t, browser, env)
		tb.signIn()
		before := getConfig(t, env)

		// The hidden token removed from the page's own form.
		tb.openOK(configPage)
		tb.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('#config-form input[name=csrf_token]').remove()`))
		tb.typeInto("timeout", "9")
		resp := tb.pressID("save-config")
		require.EqualValues(t, http.StatusForbidden, resp.Status)
		require.Contains(t, tb.textAt("body"), "CSRF check failed")
		require.JSONEq(t, string(before), string(getConfig(t, env)), "nothing changed")

		// A token that is not the session's.
		tb.openOK(configPage)
		tb.do(chromedp.SetValue(chromedp.CSS(`#config-form input[name=csrf_token]`), "forged-token"))
		tb.typeInto("timeout", "9")
		require.EqualValues(t, http.StatusForbidden, tb.pressID("save-config").Status)
		require.JSONEq(t, string(before), string(getConfig(t, env)), "nothing changed")

		// A form on another origin, posted with the user's cookies.
		evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprintf(w, `<!doctype html><form method="post" action="%s%s"><input name="timeout" value="9"><input name="enabled" value="true"><button type="submit" id="go">Win a prize</button></form>`,
				env.URL, configPage)
		}))
		t.Cleanup(evil.Close)
		tb.openOK(evil.URL)
		require.EqualValues(t, http.StatusForbidden, tb.pressID("go").Status)
		require.JSONEq(t, string(before), string(getConfig(t, env)), "nothing changed")

		// The same change through the intact form is saved: the token made the difference.
		tb.openOK(configPage)
		tb.typeInto("timeout", "9")
		require.EqualValues(t, http.StatusOK, tb.pressID("save-config").Status)
		require.Equal(t, 9.0, apiConfig(t, env)["timeout"])
	})

	t.Run("EveryPage", func(t *testing.T) {
		t.Parallel()
		env := setupWebhooks(t, nil)
		rc := phtest.NewReceiver(t)
		paidCheckout(t, env, rc, nil)
		declined := checkoutWith(env, rc, map[string]any{"order_no": "ORD-1002"})
		env.Pay(strField(declined, "checkout_url"), sandbox.CardDeclined)
		checkoutWith(env, rc, map[string]any{"order_no": "ORD-1003"})
		rc.Wait(t, 2, 5*time.Second)
		tb := newTab(t, browser, env)
		tb.signIn()

		require.Equal(t, 3, tb.count(`a[href^="/dashboard/transactions/"]:not([href$="/new"])`), "three transactions listed")
		tb.screenshot("transactions")

		// Create payment request: the new transaction's page shows its checkout link.
		tb.pressID("new-payment-request")
		tb.typeInto("amount", "12.5")
		tb.typeInto("order_no", "INV-7")
		tb.typeInto("customer_email", "jane@example.com")
		tb.typeInto("customer_first_name", "Jane")
		tb.typeInto("customer_last_name", "Doe")
		tb.typeInto("webhook_url", rc.URL)
		tb.screenshot("payment-request")
		tb.pressID("create-payment-request")
		m := regexp.MustCompile(`^/dashboard/transactions/([0-9a-f]{40})\?done=created$`).FindStringSubmatch(tb.path())
		require.NotNil(t, m, tb.path())
		require.Equal(t, env.URL+"/b/checkout/redirect/start/?session_id="+m[1], tb.text("checkout-link"))
		got := checkoutView(t, env, m[1])
		require.Equal(t, "payment_request", got["type"])
		require.Equal(t, "12.500", got["amount"])
		require.Equal(t, "INV-7", got["order_no"])

		tb.openOK("/dashboard/notifications")
		require.Equal(t, 2, tb.count(`main tbody tr`), "the paid and the declined payment's notifications")
		require.Equal(t, 2, tb.count(`main tbody tr .badge.delivered`))
		tb.screenshot("delivery-log")

		// API keys: the new key is shown once, and works.
		tb.openOK("/dashboard/api-keys")
		tb.typeInto("api-key-name", "shop backend")
		tb.pressID("create-api-key")
		key := tb.text("new-api-key")
		require.NotEmpty(t, key)
		require.Equal(t, http.StatusOK, callWithKey(t, env, key))
		tb.screenshot("api-keys")
		tb.openOK("/dashboard/api-keys")
		require.False(t, tb.has("#new-api-key"), "shown only once")

		tb.openOK("/dashboard/audit")
		audit := tb.textAt("main")
		require.Contains(t, audit, staffEmail)
		require.Contains(t, audit, "shop backend")
		tb.screenshot("audit")

		// A phone: the config page fits the screen's width.
		tb.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
		tb.openOK(configPage)
		require.True(t, tb.jsTrue(`document.documentElement.scrollWidth <= window.innerWidth`),
			"no sideways scrolling: the page is %s px wide on a %s px screen",
			tb.js(`String(document.documentElement.scrollWidth)`), tb.js(`String(window.innerWidth)`))
		tb.screenshot("webhook-config-mobile")
	})
}

package web_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook/internal/phtest"
	"github.com/payhook/payhook/mail"
)

// bannerPages are pages of every kind the banner must be on.
func bannerPages(sid string) []string {
	return []string{"/dashboard/transactions", "/dashboard/transactions/new", transactionPage(sid), "/dashboard/notifications",
		"/dashboard/webhook/config", "/dashboard/webhook/plugins", "/dashboard/webhook/plugins/e_commerce", "/dashboard/api-keys", "/dashboard/audit"}
}

func TestDashboardBanner_OnEveryPageWhileNotificationsAreOff(t *testing.T) {
	t.Parallel()
	env := phtest.New(t) // notifications off, as at first start
	b := signIn(t, env)
	sid := strField(env.Checkout(nil), "session_id")

	for _, path := range bannerPages(sid) {
		page := b.getOK(path)
		require.Equal(t, "Webhook notifications are off: nothing is sent (every new payment or operation notification is recorded as not sent; only a Resend by hand still goes out). Turn them on in Webhook Config.",
			textContent(t, page, "banner-notifications-off"), path)
		require.False(t, hasID(page, "banner-api-notifications-off"), "one banner at a time: %s", path)
	}
	// A page that failed keeps the banner too; the sign-in page has none.
	require.True(t, hasID(b.get("/dashboard/transactions/no-such-session").Body, "banner-notifications-off"))
	require.False(t, hasID(newBrowser(t, env).getOK("/dashboard/login"), "banner-notifications-off"))

	// On, but not for API transactions: that banner says what it means.
	env.Configure(map[string]any{"enabled": true})
	for _, path := range bannerPages(sid) {
		page := b.getOK(path)
		require.False(t, hasID(page, "banner-notifications-off"), path)
		text := textContent(t, page, "banner-api-notifications-off")
		require.Contains(t, text, "a checkout created with the Checkout API sends no payment notification", path)
		require.Contains(t, text, "Payment requests created in the dashboard and operation notifications are still sent")
	}

	// Both on: no banner.
	env.Configure(map[string]any{"api_transactions_enabled": true})
	for _, path := range bannerPages(sid) {
		page := b.getOK(path)
		require.NotContains(t, page, `class="banner"`, path)
	}
}

func TestDashboardNotifyAgain_SaysBeforeAndAfterWhyNothingIsSent(t *testing.T) {
	t.Parallel()
	env := phtest.New(t)
	b := signIn(t, env)
	rc := phtest.NewReceiver(t)
	sid := paidCheckout(t, env, rc, nil)

	// Off: the page says so before the button is pressed, and after.
	page := b.getOK(transactionPage(sid))
	require.Contains(t, textOf(t, page, "notify-nothing"), "Nothing will be sent: webhook notifications are off")
	require.False(t, hasID(page, "notify-urls"))
	after := b.postRedirect(transactionPage(sid)+"/notify", nil, transactionPage(sid)+"?done=notify_not_sent_disabled")
	require.Contains(t, flashOf(after), "Nothing was sent: webhook notifications are off.")
	for _, n := range sessionNotifications(t, env, sid) {
		require.Equal(t, "not_sent", n.Status)
	}

	// On, but this API transaction's notifications are off.
	env.Configure(map[string]any{"enabled": true})
	api := paidCheckout(t, env, rc, nil)
	page = b.getOK(transactionPage(api))
	require.Contains(t, textOf(t, page, "notify-nothing"), "this transaction was created through the API")
	after = b.postRedirect(transactionPage(api)+"/notify", nil, transactionPage(api)+"?done=notify_not_sent_api_transactions_disabled")
	require.Contains(t, flashOf(after), "Nothing was sent: this transaction was created through the API")

	// On for API transactions, but this one has no URL anywhere.
	env.Configure(map[string]any{"api_transactions_enabled": true})
	nowhere := paidCheckout(t, env, nil, nil)
	page = b.getOK(transactionPage(nowhere))
	require.Contains(t, textOf(t, page, "notify-nothing"), "there is no webhook URL")
	after = b.postRedirect(transactionPage(nowhere)+"/notify", nil, transactionPage(nowhere)+"?done=notify_not_sent_no_url")
	require.Contains(t, flashOf(after), "Nothing was sent: there is no webhook URL")

	// With a URL: the page names it, and the notification goes there.
	sent := paidCheckout(t, env, rc, nil)
	require.Len(t, rc.Wait(t, 1, 5*time.Second), 1, "the payment's own notification; none of the not-sent ones")
	page = b.getOK(transactionPage(sent))
	require.False(t, hasID(page, "notify-nothing"))
	require.Contains(t, textContent(t, page, "notify-urls"), rc.URL)
	after = b.postRedirect(transactionPage(sent)+"/notify", nil, transactionPage(sent)+"?done=notify")
	require.Equal(t, "The payment notification was queued again, as a new notification.", flashOf(after))
	require.Len(t, rc.Wait(t, 2, 5*time.Second), 2)
}

func TestDashboardResend_SaysWhatItWillDo(t *testing.T) {
	t.Parallel()
	env := setupWebhooks(t, nil)
	b := signIn(t, env)
	rc := phtest.NewReceiver(t)
	sid := paidCheckout(t, env, rc, nil)
	rc.Wait(t, 1, 5*time.Second)
	phtest.Eventually(t, 5*time.Second, func() bool { return onlyNotification(t, env, sid).Status == "delivered" }, "delivered")
	n := onlyNotification(t, env, sid)

	page := b.getOK("/dashboard/notifications/" + n.ID)
	require.Equal(t, "Resend sends it again to "+rc.URL+" with the same webhook-id and body (a new round of attempts).", textOf(t, page, "resend-outlook"))
	require.False(t, hasID(page, "resend-warning"))

	// Notifications off: a re-send by hand still goes out, and the page says so before and after.
	env.Configure(map[string]any{"enabled": false})
	page = b.getOK("/dashboard/notifications/" + n.ID)
	require.Contains(t, textOf(t, page, "resend-warning"), "Webhook notifications are off, but a re-send by hand is sent anyway")
	require.True(t, hasID(b.getOK(transactionPage(sid)), "resend-while-off"))
	after := b.postRedirect("/dashboard/notifications/"+n.ID+"/resend", nil, "/dashboard/notifications/"+n.ID+"?done=resend_while_off")
	require.Contains(t, flashOf(after), "a re-send by hand is sent anyway")
	require.Len(t, rc.Wait(t, 2, 5*time.Second), 2, "it was sent")

	// A notification never sent: nothing to re-send, and why.
	other := paidCheckout(t, env, rc, nil)
	ns := onlyNotification(t, env, other)
	require.Equal(t, "not_sent", ns.Status)
	page = b.getOK("/dashboard/notifications/" + ns.ID)
	require.Contains(t, textOf(t, page, "resend-outlook"), "Nothing to re-send: this notification was never sent (webhook notifications are off")
	require.NotContains(t, page, `name="resend"`)
}

func TestDashboardResend_OfAPendingNotificationSaysNothingNewWasQueued(t *testing.T) {
	t.Parallel()
	env := setupWebhooks(t, map[string]any{"timeout": 5})
	b := signIn(t, env)
	release := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	rc := phtest.NewReceiver(t)
	rc.Respond = func(n int, w http.ResponseWriter, _ *http.Request) {
		if n == 1 {
			<-release // the re-send's attempt hangs: the notification stays pending
		}
	}
	sid := paidCheckout(t, env, rc, nil)
	phtest.Eventually(t, 5*time.Second, func() bool { return onlyNotification(t, env, sid).Status == "delivered" }, "delivered")
	id := onlyNotification(t, env, sid).ID

	b.postRedirect("/dashboard/notifications/"+id+"/resend", nil, "/dashboard/notifications/"+id+"?done=resend")
	rc.Wait(t, 2, 5*time.Second) // the re-send's attempt is under way
	page := b.getOK("/dashboard/notifications/" + id)
	require.Contains(t, textOf(t, page, "resend-outlook"), "this notification is being sent (pending)")
	after := b.postRedirect("/dashboard/notifications/"+id+"/resend", nil, "/dashboard/notifications/"+id+"?done=resend_pending")
	require.Equal(t, "Nothing new was queued: this notification is already being sent (pending); it was not queued twice.", flashOf(after))

	once.Do(func() { close(release) })
	phtest.Eventually(t, 5*time.Second, func() bool { return getNotification(t, env, id).Status == "delivered" }, "delivered again")
	require.Len(t, rc.Requests(), 2, "not queued twice")
}

func TestDashboardConfig_Warnings(t *testing.T) {
	t.Parallel()
	env := phtest.New(t)
	b := signIn(t, env)

	// Defaults: Notify on Error is on, with no SMTP server and no address.
	page := b.getOK(configPage)
	require.Contains(t, textOf(t, page, "warn-no-smtp"), "Notify on Error is on, but no SMTP server is configured: no error email will be sent.")
	require.Contains(t, textOf(t, page, "warn-no-emails"), "the Email List is empty")
	for _, id := range []string{"warn-http-operations", "warn-timeout", "warn-worst-case"} {
		require.False(t, hasID(page, id), id)
	}

	// Plain http:// URLs, a one-attempt timeout over 25 s, a worst case over a minute.
	env.Configure(map[string]any{"operations_webhook_url": "http://shop.example/ops", "timeout": 30, "retries": 3, "backoff_factor": 5,
		"emails": []string{"ops@shop.example"}})
	page = b.getOK(configPage)
	require.Contains(t, textOf(t, page, "warn-http-operations"), "The Operations webhook_url http://shop.example/ops is plain http://")
	require.Contains(t, textOf(t, page, "warn-timeout"), "The timeout is 30 s")
	require.Contains(t, textOf(t, page, "warn-worst-case"), "In the worst case a customer waits 100 s for the redirect")
	require.False(t, hasID(page, "warn-no-emails"))

	// 20 s, 3 attempts, 5 s: no attempt over 25 s, but 70 s in all.
	env.Configure(map[string]any{"operations_webhook_url": "https://shop.example/ops", "timeout": 20})
	page = b.getOK(configPage)
	require.False(t, hasID(page, "warn-http-operations"))
	require.False(t, hasID(page, "warn-timeout"))
	require.Contains(t, textOf(t, page, "warn-worst-case"), "waits 70 s")
	// Retries off: one attempt of 20 s is fine.
	env.Configure(map[string]any{"retry_enabled": false})
	require.False(t, hasID(b.getOK(configPage), "warn-worst-case"))

	// What is typed is warned about when the form comes back (here with an error elsewhere).
	form := configFormOf(t, b.getOK(configPage))
	form.Set("timeout", "40")
	form.Set("retries", "eleven")
	p := b.post(configPage, form)
	require.Equal(t, http.StatusBadRequest, p.Code)
	require.Contains(t, textOf(t, p.Body, "warn-timeout"), "The timeout is 40 s")

	// Plugin configs: a plain http:// URL, a state filter with no state.
	b.postRedirect("/dashboard/webhook/plugins/e_commerce", url.Values{"webhook_url": {"http://shop.example/hook"}}, "/dashboard/webhook/plugins?done=plugin_saved")
	b.postRedirect("/dashboard/webhook/plugins/payment_request", url.Values{"webhook_url": {"https://shop.example/pr"}, "state_filter_enabled": {"true"}},
		"/dashboard/webhook/plugins?done=plugin_saved")
	for _, path := range []string{configPage, "/dashboard/webhook/plugins"} {
		page = b.getOK(path)
		require.Contains(t, textOf(t, page, "warn-http-e_commerce"), "The E-Commerce plugin's Webhook URL http://shop.example/hook is plain http://", path)
		require.Contains(t, textOf(t, page, "warn-empty-filter-payment_request"), "state filter is on with no state chosen", path)
		require.False(t, hasID(page, "warn-http-payment_request"), path)
		require.False(t, hasID(page, "warn-empty-filter-e_commerce"), path)
	}
	require.Contains(t, b.getOK(configPage), `<a href="/dashboard/webhook/plugins/e_commerce">Edit the E-Commerce config</a>`)
	require.True(t, hasID(b.getOK("/dashboard/webhook/plugins/e_commerce"), "warn-http-e_commerce"))
	require.True(t, hasID(b.getOK("/dashboard/webhook/plugins/payment_request"), "warn-empty-filter-payment_request"))
	require.False(t, hasID(b.getOK("/dashboard/webhook/plugins/payment_request"), "warn-http-payment_request"))
}

func TestDashboardConfig_NoSMTPWarningWithAnSMTPServer(t *testing.T) {
	t.Parallel()
	smtp, err := mail.ParseSMTPURL("smtp://127.0.0.1:9") // nobody listens; only its presence matters here
	require.NoError(t, err)
	env := phtest.New(t, phtest.Options{SMTP: &smtp})
	b := signIn(t, env)
	page := b.getOK(configPage)
	require.False(t, hasID(page, "warn-no-smtp"))
	require.True(t, hasID(page, "warn-no-emails"), "the empty list is still warned about")
}

func TestDashboardPlugin_ExpiredCanBeChosen(t *testing.T) {
	t.Parallel()
	env := setupWebhooks(t, nil)
	b := signIn(t, env)
	plugin := phtest.NewReceiver(t)
	page := b.getOK("/dashboard/webhook/plugins/e_commerce")
	require.True(t, hasID(page, "state-expired"))

	b.postRedirect("/dashboard/webhook/plugins/e_commerce", url.Values{"webhook_url": {plugin.URL}, "state_filter_enabled": {"true"}, "states": {"expired"}},
		"/dashboard/webhook/plugins?done=plugin_saved")
	got := env.JSON("GET", pluginsPath+"e_commerce/", nil, http.StatusOK)
	require.Equal(t, []any{"expired"}, got["states"])

	// Expired passes the filter; paid does not.
	paid := paidCheckout(t, env, nil, nil)
	expired := strField(env.Checkout(nil), "session_id")
	_, _ = operateOK(t, env, map[string]any{"operation": "expire", "session_id": expired})
	reqs := waitRequests(t, 1, func() []phtest.Request { return paymentRequests(plugin) })
	require.Equal(t, "expired", decodeBody(t, reqs[0].Body)["state"])
	require.Equal(t, "not_sent", onlyNotification(t, env, paid).Status)

	// The API accepts it too, and names it among the allowed states.
	env.JSON("PUT", pluginsPath+"payment_request/", map[string]any{"states": []any{"expired", "paid"}}, http.StatusOK)
	bad := env.JSON("PUT", pluginsPath+"payment_request/", map[string]any{"states": []any{"pending"}}, http.StatusBadRequest)
	require.Contains(t, bad["states"].([]any)[0], "paid, failed, authorized, canceled, expired")
}

// textContent returns the text of the element with that id, nested elements' text
// included (tags removed, spaces collapsed).
func textContent(t *testing.T, body, id string) string {
	t.Helper()
	i := strings.Index(body, `id="`+id+`"`)
	require.GreaterOrEqual(t, i, 0, "no element #%s", id)
	start := strings.Index(body[i:], ">") + i + 1
	end := strings.Index(body[start:], "</p>")
	require.GreaterOrEqual(t, end, 0)
	text := tagRe.ReplaceAllString(body[start:start+end], "")
	return strings.Join(strings.Fields(html.UnescapeString(text)), " ")
}

var tagRe = regexp.MustCompile(`<[^>]*>`)

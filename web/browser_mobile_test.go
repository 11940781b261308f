package web_test

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook"
	"github.com/payhook/payhook/gateway/sandbox"
	"github.com/payhook/payhook/internal/phtest"
)

// mobilePage is a page of the phone layout check: its screenshots' name
// (docs/screenshots/NAME.png and NAME-mobile.png) and its address, made from the
// check's data.
type mobilePage struct {
	Name string
	Path func(d *mobileData) string
}

// mobilePages are the pages TestBrowserMobile visits at a phone's width, and
// photographs at both widths with -update-screenshots. A new page is checked by adding it
// here (with data for it in mobileFixtures when it needs some).
var mobilePages = []mobilePage{
	{"signin", fixed("/dashboard/login")},
	{"transactions", fixed("/dashboard/transactions")},
	{"payment-request", fixed("/dashboard/transactions/new")},
	{"transaction", func(d *mobileData) string { return transactionPage(d.Failing) }},
	{"transaction-declined", func(d *mobileData) string { return transactionPage(d.Declined) }},
	{"transaction-open", func(d *mobileData) string { return transactionPage(d.Open) }},
	{"transactions-search", fixed("/dashboard/transactions?q=ORD-2026&webhook=failed&from=2020-01-01")},
	{"delivery-log", fixed("/dashboard/notifications")},
	{"resend-failed", fixed("/dashboard/notifications/resend?kind=payment")},
	{"endpoints", fixed("/dashboard/endpoints")},
	{"notification", func(d *mobileData) string { return "/dashboard/notifications/" + d.FailedNote }},
	{"notification-not-sent", func(d *mobileData) string { return "/dashboard/notifications/" + d.NotSentNote }},
	{"webhook-config", fixed(configPage)},
	{"plugins", fixed("/dashboard/webhook/plugins")},
	{"plugin-edit", fixed("/dashboard/webhook/plugins/e_commerce")},
	{"rotate-hmac-key", fixed("/dashboard/webhook/config/rotate-hmac-key")},
	{"api-keys", fixed("/dashboard/api-keys")},
	{"audit", fixed("/dashboard/audit")},
	{"users", fixed("/dashboard/users")},
	{"user", func(d *mobileData) string { return "/dashboard/users/" + d.Viewer }},
	{"account", fixed("/dashboard/account")},
	{"checkout", func(d *mobileData) string { return d.CheckoutURL }},
	{"summary", func(d *mobileData) string { return d.SummaryURL }},
}

func fixed(path string) func(*mobileData) string { return func(*mobileData) string { return path } }

// mobileScreenshots are the screenshots TestBrowserMobile writes; other tests leave them
// alone, so that each picture has one author.
var mobileScreenshots = func() map[string]bool {
	m := map[string]bool{}
	for _, p := range mobilePages {
		m[p.Name], m[p.Name+"-mobile"] = true, true
	}
	return m
}()

// mobileData is what mobileFixtures made: session ids and webhook-ids the pages show.
type mobileData struct {
	Failing, Delivered, Declined, Open string // session ids
	FailedNote, NotSentNote            string // webhook-ids
	Viewer                             string // a dashboard user's id
	CheckoutURL, SummaryURL            string
}

// Long values, as real ones are: they must wrap or scroll, never widen the page.
const (
	longEmail     = "jane.alexandra.montgomery-whitfield+orders-2026@customer-accounts.very-long-shop-domain.example.com"
	longUserEmail = "operations.team.lead+payhook-dashboard@merchant-operations.very-long-shop-domain.example.com"
	longPath      = "/webhooks/payhook/payment-notifications/merchant-0123456789abcdef0123456789abcdef?source=payhook&environment=production-eu-west-1"
)

// mobileFixtures fills a payhook as a week of a real shop would: long URLs and emails,
// a notification that needed three attempts and failed, one delivered, one not sent
// (state filtered), a refund with its operation notification, an open checkout, a
// plugin config, an API key and audit entries.
func mobileFixtures(t *testing.T) (*phtest.Env, *mobileData) {
	t.Helper()
	ok := phtest.NewReceiver(t)
	flaky := phtest.NewReceiver(t)
	flaky.Respond = func(n int, w http.ResponseWriter, r *http.Request) {
		if n < 2 { // the first two get no answer in time
			<-r.Context().Done()
			return
		}
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, "<!doctype html><html><head><title>500 Internal Server Error</title></head><body><h1>Internal Server Error</h1><p>The server encountered an unexpected condition: upstream connect error or disconnect/reset before headers. reset reason: connection termination</p></body></html>")
	}
	env := setupWebhooks(t, map[string]any{"timeout": 0.3, "backoff_factor": 0.05, "retries": 3,
		"operations_webhook_url": ok.URL + "/operations" + longPath})
	env.JSON("PUT", pluginsPath+"e_commerce/", map[string]any{"plugin": "e_commerce",
		"webhook_url": ok.URL + "/plugin" + longPath, "state_filter_enabled": true, "states": []any{"paid"}}, http.StatusOK)

	customer := map[string]any{"customer_email": longEmail, "customer_first_name": "Jane Alexandra",
		"customer_last_name": "Montgomery-Whitfield", "customer_phone": "+96550000000"}
	with := func(extra map[string]any) map[string]any {
		m := map[string]any{}
		for k, v := range customer {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	d := &mobileData{}
	d.Failing = paidCheckout(t, env, nil, with(map[string]any{"order_no": "ORD-2026-000001847-WEB", "webhook_url": flaky.URL + longPath}))
	d.Delivered = paidCheckout(t, env, nil, with(map[string]any{"order_no": "ORD-2026-000001848-WEB", "webhook_url": ok.URL + longPath}))
	declined := checkoutWith(env, nil, with(map[string]any{"order_no": "ORD-2026-000001849-WEB", "webhook_url": nil}))
	code, _ := env.Pay(strField(declined, "checkout_url"), sandbox.CardDeclined)
	require.Equal(t, http.StatusSeeOther, code)
	d.Declined = strField(declined, "session_id")
	open := checkoutWith(env, nil, with(map[string]any{"order_no": "ORD-2026-000001850-WEB", "webhook_url": ok.URL + longPath}))
	d.Open, d.CheckoutURL = strField(open, "session_id"), strField(open, "checkout_url")
	d.SummaryURL = env.URL + "/b/checkout/" + d.Failing + "/summary/"
	operateOK(t, env, map[string]any{"operation": "refund", "session_id": d.Failing, "amount": "10"})

	for _, n := range sessionNotifications(t, env, d.Failing) {
		if n.Kind == "payment" && n.URL != nil && strings.HasPrefix(*n.URL, flaky.URL) {
			d.FailedNote = n.ID
			require.Equal(t, "failed", n.Status)
			require.Len(t, n.Attempts, 3)
		}
	}
	d.NotSentNote = onlyNotification(t, env, d.Declined).ID
	require.NotEmpty(t, d.FailedNote)

	createUser(t, env, longUserEmail, payhook.RoleAdmin)
	viewer, err := env.Service.CreateUser(context.Background(), "viewer.with.a.rather.long.address+read-only@merchant-operations.very-long-shop-domain.example.com", staffPassword, payhook.RoleViewer)
	require.NoError(t, err)
	d.Viewer = strconv.FormatInt(viewer.ID, 10)
	_, err = env.Service.CreateAPIKey(context.Background(), "shop backend (production, EU region, Kuwait storefront)")
	require.NoError(t, err)
	return env, d
}

// TestBrowserMobile opens every page of mobilePages on a 390 px wide phone (and on a
// 1280 px desktop) and checks that it fits: no sideways scrolling, nothing past the screen's edge (tables scroll
// inside their own box), every button, field and menu link wholly visible and
// clickable. With -update-screenshots it also writes each page's screenshots at both
// widths.
func TestBrowserMobile(t *testing.T) {
	t.Parallel()
	chrome := startChromium(t)
	env, d := mobileFixtures(t)

	t.Run("EveryPageFitsAPhone", func(t *testing.T) {
		tb := newTab(t, chrome, env)
		tb.signInAs(longUserEmail)
		for _, p := range mobilePages {
			path := p.Path(d)
			tb.phone()
			tb.openOK(path)
			require.Empty(t, tb.layoutProblems(phoneWidth), "%s (%s) at %d px", p.Name, path, phoneWidth)
			tb.desktop()
			tb.openOK(path)
			require.Empty(t, tb.layoutProblems(desktopWidth), "%s (%s) at %d px", p.Name, path, desktopWidth)
			tb.screenshotsBoth(p.Name, path)
		}
	})

	t.Run("TheCheckSeesWhatDoesNotFit", func(t *testing.T) {
		tb := newTab(t, chrome, env)
		tb.signInAs(longUserEmail)
		tb.phone()
		inject := func(html string) []string {
			tb.openOK("/dashboard/transactions")
			// The page's CSP refuses style attributes: the styles go in through the CSSOM.
			tb.do(chromedp.Evaluate[chromedp.Void](`document.querySelector("main").insertAdjacentHTML("beforeend", ` + jsString(html) + `);
				document.querySelectorAll("[data-style]").forEach(el => { el.style.cssText = el.dataset.style; })`))
			return tb.layoutProblems(phoneWidth)
		}
		require.Empty(t, inject(`<div class="table-wrap"><table data-style="width:900px"><tr><td>wide, in a box that scrolls</td><td><button type="button">Far right</button></td></tr></table></div>`))
		require.NotEmpty(t, inject(`<p data-style="width:600px">too wide</p>`))
		require.NotEmpty(t, inject(`<div data-style="overflow:hidden;width:200px"><button type="button" data-style="margin-left:150px;width:120px">Cut</button></div>`))
		require.NotEmpty(t, inject(`<div data-style="position:fixed;inset:0;background:#fff8"></div>`), "every control covered")
	})

	t.Run("CodesInWordsAndTimesWithZone", func(t *testing.T) {
		tb := newTab(t, chrome, env)
		tb.signInAs(longUserEmail)
		tb.phone()
		tb.openOK("/dashboard/notifications/" + d.NotSentNote)
		require.Contains(t, tb.textAt(`.note-head`), "Not sent not_sent")
		tb.openOK("/dashboard/notifications?status=not_sent")
		require.Equal(t, "Not sent — state filtered not_sent (state_filtered)", tb.textAt(`main tbody tr td:nth-child(5)`))
		tb.openOK(transactionPage(d.Declined))
		state := checkoutState(t, env, d.Declined)
		require.Regexp(t, `^[A-Z][a-z ,]+ `+state+`$`, tb.textAt(`h1 .coded`), "the state in words, then its code")
		tb.openOK("/dashboard/transactions")
		require.Equal(t, "Tried, not paid yet (attempted)", tb.textAt(`#state option[value=attempted]`))
		tb.openOK("/dashboard/notifications/" + d.FailedNote)
		require.Regexp(t, `^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$`, tb.textAt(`tr.attempt td:nth-child(2)`))
		require.Regexp(t, `^[\d.]+ ms$`, tb.textAt(`tr.attempt:last-child td:nth-child(3)`), "the answered attempt took milliseconds")
		require.Regexp(t, `^0\.\d s$|^\d+ ms$`, tb.textAt(`tr.attempt td:nth-child(3)`), "a 0.3 s timeout")
	})

	t.Run("CopyButtons", func(t *testing.T) {
		tb := newTab(t, chrome, env)
		tb.signInAs(longUserEmail)
		tb.phone()
		// The clipboard, as a user who allowed it (the page is a secure context: loopback).
		tb.do(func(ctx context.Context, _ *chromedp.Target) (chromedp.Void, error) {
			c := chromedp.FromContext(ctx)
			for _, name := range []string{"clipboard-read", "clipboard-write"} {
				_, err := cdp.Call(ctx, c.Browser, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
					Permission: &cdpbrowser.PermissionDescriptor{Name: name}, Setting: cdpbrowser.PermissionSettingGranted,
					Origin: env.URL, BrowserContextID: c.BrowserContextID})
				if err != nil {
					return chromedp.Void{}, err
				}
			}
			return chromedp.Void{}, nil
		})

		// A new API key: Copy puts it on the clipboard and says so.
		tb.openOK("/dashboard/api-keys")
		tb.typeInto("api-key-name", "copied key")
		tb.pressID("create-api-key")
		key := tb.text("new-api-key")
		require.NotEmpty(t, key)
		btn := chromedp.CSS(`#new-api-key + button.copy`)
		require.Equal(t, "Copy", tb.textAt(btn))
		require.Empty(t, tb.layoutProblems(phoneWidth))
		tb.do(chromedp.Click(btn, chromedp.NodeVisible))
		phtest.Eventually(t, 2*time.Second, func() bool { return tb.textAt(btn) == "Copied" }, "the button says Copied")
		require.Equal(t, "copied", tb.js(`document.querySelector("#new-api-key + button.copy").dataset.state`))
		require.Equal(t, key, tb.clipboard())
		require.Equal(t, "Copied the API key.", tb.textAt(`body > [role=status]`), "said to screen readers too")

		// The transaction's page: session id and reference; the notification's webhook-id.
		tb.openOK(transactionPage(d.Failing))
		tb.clickCopy(`#details-h ~ dl button.copy[aria-label="Copy the session id"]`)
		require.Equal(t, d.Failing, tb.clipboard())
		tb.clickCopy(`#details-h ~ dl button.copy[aria-label="Copy the reference number"]`)
		require.Equal(t, tb.js(`document.querySelector("h1 .mono").textContent`), tb.clipboard())
		tb.clickCopy(`[id="n-` + d.FailedNote + `"] button.copy`)
		require.Equal(t, d.FailedNote, tb.clipboard())
		tb.openOK("/dashboard/notifications/" + d.FailedNote)
		tb.clickCopy(`h1 button.copy`)
		require.Equal(t, d.FailedNote, tb.clipboard())

		// Without the clipboard API (a page over plain http on another host): the value is
		// selected, for the user to copy, and the button says what happened.
		tb.openOK(transactionPage(d.Delivered))
		tb.do(chromedp.Evaluate[chromedp.Void](`Object.defineProperty(navigator, "clipboard", {value: undefined})`))
		sel := `#details-h ~ dl button.copy[aria-label="Copy the session id"]`
		tb.do(chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
		require.Equal(t, d.Delivered, tb.js(`window.getSelection().toString()`))
		require.Contains(t, []string{"Copied", "Selected: press Ctrl+C"}, tb.textAt(chromedp.CSS(sel)))
	})

	t.Run("WithoutJavaScriptTheValuesStaySelectable", func(t *testing.T) {
		tb := newTab(t, chrome, env)
		tb.signInAs(longUserEmail)
		tb.do(func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
			_, err := cdp.Call(ctx, tg, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
			return chromedp.Void{}, err
		})
		tb.openOK(transactionPage(d.Failing))
		require.Positive(t, tb.count(`button.copy`))
		require.Zero(t, tb.count(`button.copy:not([hidden])`), "no Copy button that would do nothing")
		require.True(t, tb.jsTrue(`[...document.querySelectorAll("button.copy")].every(b => b.getClientRects().length === 0)`))
		require.Equal(t, d.Failing, tb.js(`document.querySelector("#details-h ~ dl .mono").textContent`))
	})
}

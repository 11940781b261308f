package web_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook/internal/phtest"
)

var txnRowRe = regexp.MustCompile(`<tr id="txn-([0-9a-f]{40})">`)

// listedRows returns the session ids of the transactions list's rows, in order.
func listedRows(body string) []string {
	var out []string
	for _, m := range txnRowRe.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

// webhookCell returns the text of a row's Webhook column.
func webhookCell(t *testing.T, body, sessionID string) string {
	t.Helper()
	m := regexp.MustCompile(`(?s)<tr id="txn-` + sessionID + `">.*?<td class="webhook">(.*?)</td>`).FindStringSubmatch(body)
	require.NotNil(t, m, "no row of %s", sessionID)
	return html.UnescapeString(strings.TrimSpace(regexp.MustCompile(`<[^>]+>`).ReplaceAllString(m[1], "")))
}

func TestDashboardSearch_TransactionsByPartsChildDatesAndWebhook(t *testing.T) {
	t.Parallel()
	env := setupWebhooks(t, nil)
	b := signIn(t, env)
	ok, failing := phtest.NewReceiver(t), phtest.NewReceiver(t)
	failing.Respond = respondWith(http.StatusServiceUnavailable)
	delivered := paidCheckout(t, env, ok, map[string]any{"order_no": "SHOP-1001", "customer_email": "Jane.Doe@Example.com"})
	failed := paidCheckout(t, env, failing, map[string]any{"order_no": "SHOP-2002", "customer_email": "omar@mail.example"})
	none := strField(checkoutWith(env, nil, map[string]any{"order_no": "OTHER-3003", "customer_email": "sara@example.com"}), "session_id")
	require.Equal(t, "failed", onlyNotification(t, env, failed).Status)

	all := b.getOK("/dashboard/transactions")
	require.Equal(t, []string{none, failed, delivered}, listedRows(all))
	require.Equal(t, "Failed (failed)", webhookCell(t, all, failed), "in words with the code beside")
	require.Equal(t, "Delivered (delivered)", webhookCell(t, all, delivered))
	require.Equal(t, "No notification (none)", webhookCell(t, all, none))
	require.Contains(t, all, `<label for="from">Created from (UTC)</label>`, "the time zone of the dates")
	require.Contains(t, all, `<option value="not_sent" >Not sent (not_sent)</option>`)

	today := time.Now().UTC().Format("2006-01-02")
	tomorrow := time.Now().UTC().AddDate(0, 0, 1).Format("2006-01-02")
	for query, want := range map[string][]string{
		"q=shop-":                          {failed, delivered}, // part of the order_no, any case
		"q=2002":                           {failed},
		"q=jane.doe%40example":             {delivered}, // part of the email, any case
		"q=EXAMPLE.COM":                    {none, delivered},
		"q=" + failed:                      {failed}, // the session id
		"q=" + failed[:12]:                 nil,      // a session id is matched exactly
		"webhook=failed":                   {failed},
		"webhook=delivered":                {delivered},
		"webhook=none":                     {none},
		"webhook=pending":                  nil,
		"webhook=delivered&q=shop":         {delivered},
		"from=" + today:                    {none, failed, delivered},
		"from=" + today + "&to=" + today:   {none, failed, delivered},
		"from=" + tomorrow:                 nil,
		"to=2020-01-01":                    nil,
		"from=" + today + "&webhook=none":  {none},
		"state=paid&q=shop&webhook=failed": {failed},
	} {
		require.Equal(t, want, listedRows(b.getOK("/dashboard/transactions?"+query)), query)
	}
	for query, problem := range map[string]string{
		"from=2026-13-01":                   "Created from: use a date such as 2026-03-04 (a day in UTC); the filter was not applied.",
		"to=yesterday":                      "Created to: use a date such as 2026-03-04 (a day in UTC); the filter was not applied.",
		"from=" + tomorrow + "&to=" + today: "Created to is before created from: the date filters were not applied.",
		"webhook=lost":                      "Unknown webhook status: the webhook filter was ignored.",
	} {
		body := b.getOK("/dashboard/transactions?" + query)
		require.Contains(t, body, problem, query)
		require.Len(t, listedRows(body), 3, "%s: the bad filter is not applied", query)
	}
	require.Contains(t, b.getOK("/dashboard/transactions?from=2026-13-01"), `value="2026-13-01"`, "what was typed stays")

	// A refund's reference (or session id) finds its parent, linked to the refund.
	operateOK(t, env, map[string]any{"operation": "refund", "session_id": delivered, "amount": "10"})
	txn, err := env.Service.Transaction(context.Background(), delivered)
	require.NoError(t, err)
	require.Len(t, txn.Children, 1)
	child := txn.Children[0]
	for _, q := range []string{child.ReferenceNumber, child.SessionID} {
		body := b.getOK("/dashboard/transactions?q=" + url.QueryEscape(q))
		require.Equal(t, []string{delivered}, listedRows(body), q)
		require.Contains(t, body, `href="/dashboard/transactions/`+delivered+`#child-`+child.SessionID+`"`, "the parent's page, at the child")
		require.Contains(t, body, `Found by its refund <span class="mono">`+child.ReferenceNumber+`</span>`)
	}
	// Opening the child's session id leads to the parent's page, at the child's row.
	p := b.get(transactionPage(child.SessionID))
	require.Equal(t, http.StatusSeeOther, p.Code)
	require.Equal(t, transactionPage(delivered)+"#child-"+child.SessionID, p.Location)
	require.Contains(t, b.getOK(transactionPage(delivered)), `<tr id="child-`+child.SessionID+`">`)
	require.Equal(t, http.StatusNotFound, b.get(transactionPage("0123456789abcdef0123456789abcdef01234567")).Code)

	body := b.getOK("/dashboard/transactions?q=SHOP-1001")
	require.Contains(t, body, `href="/dashboard/transactions/`+delivered+`"`, "found by its own order_no: no anchor")
	require.NotContains(t, body, "Found by its")
}

func TestDashboardSearch_FiltersKeptAcrossPages(t *testing.T) {
	t.Parallel()
	env := phtest.New(t)
	b := signIn(t, env)
	for i := range 52 {
		order := fmt.Sprintf("KEEP-%02d", i)
		if i == 51 {
			order = "OTHER"
		}
		env.Checkout(map[string]any{"order_no": order})
	}
	today := time.Now().UTC().Format("2006-01-02")
	one := b.getOK("/dashboard/transactions?q=keep&webhook=none&from=" + today)
	require.Len(t, listedRows(one), 50)
	require.Contains(t, one, "Page 1 of 2 · 51 in all")
	next := regexp.MustCompile(`href="([^"]+)" rel="next"`).FindStringSubmatch(one)
	require.NotNil(t, next)
	link, err := url.Parse(html.UnescapeString(next[1]))
	require.NoError(t, err)
	require.Equal(t, url.Values{"q": {"keep"}, "webhook": {"none"}, "from": {today}, "page": {"2"}}, link.Query(), "the query string carries the filters")
	two := b.getOK(link.String())
	require.Len(t, listedRows(two), 1)
	require.NotContains(t, listedRows(one), listedRows(two)[0])
}

func TestDashboardSearch_DeliveryLogFilters(t *testing.T) {
	t.Parallel()
	env := setupWebhooks(t, nil)
	b := signIn(t, env)
	a, other := phtest.NewReceiver(t), phtest.NewReceiver(t)
	other.Respond = respondWith(http.StatusServiceUnavailable)
	paid := paidCheckout(t, env, a, nil)
	toA := onlyNotification(t, env, paid)
	toOther := onlyNotification(t, env, paidCheckout(t, env, other, nil))
	operateOK(t, env, map[string]any{"operation": "refund", "session_id": paid, "amount": "10"})
	op := kindNotifications(t, env, paid, "operation")
	require.Len(t, op, 1)

	aPrefix := strings.TrimSuffix(a.URL, "webhook") // http://127.0.0.1:PORT/
	today := time.Now().UTC().Format("2006-01-02")
	for query, want := range map[string][]string{
		"kind=payment":                           {toOther.ID, toA.ID},
		"kind=operation":                         {op[0].ID},
		"url_prefix=" + url.QueryEscape(aPrefix): {op[0].ID, toA.ID}, // the refund's goes to the transaction's URL too
		"kind=payment&url_prefix=" + url.QueryEscape(aPrefix): {toA.ID},
		"url_prefix=" + url.QueryEscape(a.URL):                {op[0].ID, toA.ID},
		"url_prefix=" + url.QueryEscape(aPrefix+"x"):          nil,
		"url_prefix=http%3A%2F%2F127.0.0.1%3A&status=failed":  {toOther.ID},
		"url=" + url.QueryEscape(aPrefix):                     nil, // url is exact, as the API's
		"from=" + today + "&kind=payment":                     {toOther.ID, toA.ID},
		"to=2020-01-01":                                       nil,
	} {
		require.Equal(t, want, listedNotifications(b.getOK("/dashboard/notifications?"+query)), query)
	}
	body := b.getOK("/dashboard/notifications?kind=refund&from=nope")
	require.Contains(t, body, "Unknown kind: the kind filter was ignored.")
	require.Contains(t, body, "Created from: use a date such as 2026-03-04")
	require.Len(t, listedNotifications(body), 3)
	require.Contains(t, b.getOK("/dashboard/notifications?url_prefix="+url.QueryEscape(aPrefix)), `value="`+aPrefix+`"`)
	require.Contains(t, b.getOK("/dashboard/notifications"), `id="resend-failed">Resend all failed (1)…</button>`)
	require.Contains(t, b.getOK("/dashboard/notifications?status=failed"), `id="resend-failed">Resend all failed (1)…</button>`)
	require.False(t, hasID(b.getOK("/dashboard/notifications?status=delivered"), "resend-failed"), "no failed one in a delivered-only filter")
	require.False(t, hasID(b.getOK("/dashboard/notifications?url_prefix="+url.QueryEscape(aPrefix)), "resend-failed"), "none failed at that URL")
}

func TestDashboardSearch_ResendAllFailedForTheFilter(t *testing.T) {
	t.Parallel()
	env := setupWebhooks(t, nil)
	b := signIn(t, env)
	var down atomic.Bool
	a, other := phtest.NewReceiver(t), phtest.NewReceiver(t)
	a.Respond = func(_ int, w http.ResponseWriter, _ *http.Request) {
		if down.Load() {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		w.WriteHeader(http.StatusOK)
	}
	other.Respond = respondWith(http.StatusServiceUnavailable)
	delivered := onlyNotification(t, env, paidCheckout(t, env, a, nil))
	down.Store(true)
	failed1 := onlyNotification(t, env, paidCheckout(t, env, a, nil))
	failed2 := onlyNotification(t, env, paidCheckout(t, env, a, nil))
	elsewhere := onlyNotification(t, env, paidCheckout(t, env, other, nil))
	require.Equal(t, []string{"delivered", "failed", "failed", "failed"}, []string{delivered.Status, failed1.Status, failed2.Status, elsewhere.Status})
	down.Store(false)
	before := len(a.Requests())

	aPrefix := strings.TrimSuffix(a.URL, "webhook")
	filter := "kind=payment&url_prefix=" + url.QueryEscape(aPrefix)
	log := b.getOK("/dashboard/notifications?" + filter)
	require.Contains(t, log, `id="resend-failed">Resend all failed (2)…</button>`, "Resend all failed for the current filter, with its count")
	form := regexp.MustCompile(`(?s)<form method="get" action="/dashboard/notifications/resend"[^>]*>(.*?)</form>`).FindStringSubmatch(log)
	require.NotNil(t, form)
	q := url.Values{}
	for _, in := range regexp.MustCompile(`<input type="hidden" name="([a-z_]+)" value="([^"]*)">`).FindAllStringSubmatch(form[1], -1) {
		q.Set(in[1], html.UnescapeString(in[2]))
	}
	require.Equal(t, url.Values{"kind": {"payment"}, "url_prefix": {aPrefix}}, q, "the form carries the filter")
	confirm := "/dashboard/notifications/resend?" + q.Encode()

	page := b.getOK(confirm)
	require.Equal(t, "Resend 2 failed notifications matching: kind=payment, url starts with "+aPrefix+"?", textOf(t, page, "confirm-h"))
	require.True(t, hasID(page, "confirm-resend"))
	require.Len(t, a.Requests(), before, "showing the confirmation sends nothing")

	// Without the CSRF token nothing is re-sent.
	p := b.send("POST", "/dashboard/notifications/resend", url.Values{"kind": {"payment"}, "url_prefix": {aPrefix}})
	require.Equal(t, http.StatusForbidden, p.Code)
	require.Equal(t, "failed", getNotification(t, env, failed1.ID).Status)

	// A bad filter re-sends nothing (it would re-send more than asked).
	p = b.post("/dashboard/notifications/resend", url.Values{"url_prefix": {aPrefix}, "from": {"soon"}})
	require.Equal(t, http.StatusBadRequest, p.Code)
	require.Contains(t, p.Body, "Created from: use a date such as 2026-03-04")
	require.Contains(t, p.Body, "Nothing was re-sent.")
	require.Equal(t, "failed", getNotification(t, env, failed1.ID).Status)
	p = b.get("/dashboard/notifications/resend?from=soon")
	require.Equal(t, http.StatusBadRequest, p.Code)
	require.False(t, hasID(p.Body, "confirm-resend"))

	post := url.Values{"csrf_token": {csrfOf(t, page)}}
	for _, in := range regexp.MustCompile(`<input type="hidden" name="(kind|url|url_prefix|from|to)" value="([^"]*)">`).FindAllStringSubmatch(page, -1) {
		post.Set(in[1], html.UnescapeString(in[2]))
	}
	require.Equal(t, url.Values{"csrf_token": post["csrf_token"], "kind": {"payment"}, "url_prefix": {aPrefix}}, post, "the confirmation carries the filter")
	done := b.send("POST", "/dashboard/notifications/resend", post)
	require.Equal(t, http.StatusSeeOther, done.Code, done.Body)
	after := b.getOK(done.Location)
	require.Equal(t, "2 queued: the failed notifications matching the filter are sent again, each with the same webhook-id and body.", flashOf(after))
	require.Contains(t, after, `value="`+aPrefix+`"`, "back to the log with the filter")

	// Only the matching failed ones: the other URL's and the delivered one stay as they were.
	require.Equal(t, "failed", getNotification(t, env, elsewhere.ID).Status)
	require.Len(t, getNotification(t, env, delivered.ID).Attempts, 1)
	reqs := a.Wait(t, before+2, 5*time.Second)
	var ids []string
	for _, r := range reqs[before:] {
		ids = append(ids, r.Header.Get("webhook-id"))
	}
	require.ElementsMatch(t, []string{failed1.ID, failed2.ID}, ids, "the same webhook-ids, received on loopback")
	for _, id := range []string{failed1.ID, failed2.ID} {
		phtest.Eventually(t, 5*time.Second, func() bool { return getNotification(t, env, id).Status == "delivered" }, "delivered after the re-send")
	}

	// Nothing left to re-send: the confirmation says so and offers no button.
	page = b.getOK(confirm)
	require.Equal(t, "No failed notification matches: kind=payment, url starts with "+aPrefix+".", textOf(t, page, "confirm-h"))
	require.False(t, hasID(page, "confirm-resend"))
}

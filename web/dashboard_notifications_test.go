package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook/internal/phtest"
)

var noteLinkRe = regexp.MustCompile(`<td><a href="/dashboard/notifications/(msg_[0-9a-z]+)">`)

// listedNotifications returns the notification ids a delivery log page lists, in order.
func listedNotifications(body string) []string {
	var out []string
	for _, m := range noteLinkRe.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

func TestDashboardNotifications_LogFiltersByStatusAndURL(t *testing.T) {
	t.Parallel()
	env := setupWebhooks(t, nil)
	b := signIn(t, env)
	ok, failing := phtest.NewReceiver(t), phtest.NewReceiver(t)
	failing.Respond = respondWith(http.StatusServiceUnavailable)
	delivered := onlyNotification(t, env, paidCheckout(t, env, ok, nil))
	failed := onlyNotification(t, env, paidCheckout(t, env, failing, nil))
	notSent := onlyNotification(t, env, paidCheckout(t, env, nil, nil))
	require.Equal(t, []string{"delivered", "failed", "not_sent"}, []string{delivered.Status, failed.Status, notSent.Status})

	all := b.getOK("/dashboard/notifications")
	require.Equal(t, []string{notSent.ID, failed.ID, delivered.ID}, listedNotifications(all), "newest first")
	require.Contains(t, all, `<option value="not_sent" >Not sent (not_sent)</option>`)
	for query, want := range map[string][]string{
		"status=delivered":                    {delivered.ID},
		"status=failed":                       {failed.ID},
		"status=not_sent":                     {notSent.ID},
		"status=pending":                      nil,
		"url=" + url.QueryEscape(failing.URL): {failed.ID},
		"status=delivered&url=" + url.QueryEscape(failing.URL): nil,
	} {
		require.Equal(t, want, listedNotifications(b.getOK("/dashboard/notifications?"+query)), query)
	}
	body := b.getOK("/dashboard/notifications?status=lost")
	require.Contains(t, body, "Unknown status: the status filter was ignored.")
	require.Len(t, listedNotifications(body), 3)
}

func TestDashboardNotifications_DetailShowsPayloadAndAttemptsAndResends(t *testing.T) {
	t.Parallel()
	env := setupWebhooks(t, nil)
	b := signIn(t, env)
	rc := phtest.NewReceiver(t)
	rc.Respond = func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 0 {
			respondWith(http.StatusBadGateway)(n, w, r)
			return
		}
		w.WriteHeader(http.StatusCreated)
	}
	sid := paidCheckout(t, env, rc, nil)
	n := onlyNotification(t, env, sid)

	page := b.getOK("/dashboard/notifications/" + n.ID)
	require.Contains(t, page, `<span class="badge failed">HTTP 502</span>`)
	require.Contains(t, page, `<pre class="excerpt">Bad Gateway</pre>`)
	require.Contains(t, page, `href="/dashboard/transactions/`+sid+`"`)
	payload := textOf(t, page, "payload")
	require.Contains(t, payload, `"session_id": "`+sid+`"`, "the body as sent, indented")
	require.Contains(t, payload, `"signature": "`)
	require.True(t, hasID(page, "resend-"+n.ID))

	after := b.postRedirect("/dashboard/notifications/"+n.ID+"/resend", nil, "/dashboard/notifications/"+n.ID+"?done=resend")
	require.Equal(t, "Queued again with the same webhook-id and body.", flashOf(after))
	reqs := rc.Wait(t, 2, 5*time.Second)
	require.Equal(t, n.ID, reqs[1].Header.Get("webhook-id"))
	phtest.Eventually(t, 5*time.Second, func() bool { return getNotification(t, env, n.ID).Status == "delivered" }, "delivered after the re-send")
	page = b.getOK("/dashboard/notifications/" + n.ID)
	require.Equal(t, 2, strings.Count(page, `<tr class="attempt">`))
	require.Contains(t, page, `<span class="badge delivered">HTTP 201</span>`)

	require.Equal(t, http.StatusNotFound, b.get("/dashboard/notifications/msg_nope").Code)
	require.Equal(t, http.StatusNotFound, b.post("/dashboard/notifications/msg_nope/resend", nil).Code)
}

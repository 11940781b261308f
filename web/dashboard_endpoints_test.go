package web_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook"
	"github.com/payhook/payhook/internal/phtest"
	"github.com/payhook/payhook/service"
	"github.com/payhook/payhook/signature"
	"github.com/payhook/payhook/web"
)

// endpointRowID finds the id prefix of a URL's section on the Endpoints page.
func endpointRowID(t *testing.T, body, u string) string {
	t.Helper()
	m := regexp.MustCompile(`id="(ep-\d+)-url"[^>]*>` + regexp.QuoteMeta(u) + `<`).FindStringSubmatch(body)
	require.NotNil(t, m, "no section for %s in %s", u, body)
	return m[1]
}

// sendTest presses a URL's "Send test notification" and returns the result page.
func sendTest(t *testing.T, b *browser, u string) string {
	t.Helper()
	p := b.post("/dashboard/endpoints/test", url.Values{"url": {u}})
	require.Equal(t, http.StatusSeeOther, p.Code, p.Body)
	require.True(t, strings.HasPrefix(p.Location, "/dashboard/endpoints/test/"), p.Location)
	return b.getOK(p.Location)
}

// nearestRank is the p-th percentile (nearest rank) of the URL's stored attempt durations,
// written as the page writes it.
func nearestRank(t *testing.T, env *phtest.Env, u string, p int) string {
	t.Helper()
	notes, _, err := env.Store.ListNotifications(context.Background(), payhook.NotificationFilter{URL: u})
	require.NoError(t, err)
	var ds []time.Duration
	for _, n := range notes {
		for _, a := range n.Attempts {
			ds = append(ds, a.Duration)
		}
	}
	require.NotEmpty(t, ds)
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return web.HumanDuration(ds[(len(ds)*p+99)/100-1])
}

func TestDashboardEndpoints_FiguresPerURLAndTestSends(t *testing.T) {
	t.Parallel()
	env := phtest.New(t)
	env.Configure(map[string]any{"timeout": 0.3, "retry_enabled": false, "operations_webhook_url": "https://ops.example/hook"})
	b := signIn(t, env)
	ctx := context.Background()
	startHour := time.Now().UTC().Format("15") + ":00"

	good := phtest.NewReceiver(t) // answers 200 "ok"
	bad := phtest.NewReceiver(t)  // 500, then hangs past the timeout
	bad.Respond = func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 0 {
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, "boom")
			return
		}
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}

	// Test sends: a real, signed, stored notification, and its first attempt shown.
	st, err := env.Service.Settings(ctx)
	require.NoError(t, err)
	for i := range 3 {
		res := sendTest(t, b, good.URL)
		require.Equal(t, "HTTP 200", textOf(t, res, "test-answer"))
		require.Equal(t, "delivered", textOf(t, res, "test-status"))
		require.Equal(t, "ok", textOf(t, res, "test-excerpt"))
		require.NotEmpty(t, textOf(t, res, "test-duration"))
		req := good.Wait(t, i+1, 5*time.Second)[i]
		v, err := signature.Verify(st.HMACKey, req.Body)
		require.NoError(t, err, "signed with the current HMAC key: %s", req.Body)
		require.EqualValues(t, st.Version, v)
		require.Equal(t, textOf(t, res, "test-notification"), req.Header.Get("webhook-id"))
		require.Contains(t, string(req.Body), `"order_no":"`+service.TestOrderNo+`"`)
		if i == 0 {
			phtest.Validate(t, "payment-webhook", req.Body)
		}
	}
	res := sendTest(t, b, bad.URL)
	require.Equal(t, "HTTP 500", textOf(t, res, "test-answer"))
	require.Equal(t, "boom", textOf(t, res, "test-excerpt"))
	require.Equal(t, "failed", textOf(t, res, "test-status"))
	res = sendTest(t, b, bad.URL)
	require.Equal(t, "none", textOf(t, res, "test-answer"))
	require.Equal(t, "timeout after 0.3s", textOf(t, res, "test-error"))

	// Test sessions are fresh: two sends, two session ids.
	notes, _, err := env.Store.ListNotifications(ctx, payhook.NotificationFilter{URL: good.URL})
	require.NoError(t, err)
	require.Len(t, notes, 3)
	require.NotEqual(t, notes[0].SessionID, notes[1].SessionID)
	require.Equal(t, service.TestOrderNo, notes[0].ReferenceNumber)
	require.Equal(t, payhook.KindPayment, notes[0].Kind)

	page := b.getOK("/dashboard/endpoints")
	require.Contains(t, page, `aria-current="page">Endpoints</a>`)

	g := endpointRowID(t, page, good.URL)
	require.Equal(t, "3", textOf(t, page, g+"-sent"))
	require.Equal(t, "3", textOf(t, page, g+"-delivered"))
	require.Equal(t, "0", textOf(t, page, g+"-failed"))
	require.Equal(t, "100.0 %", textOf(t, page, g+"-rate"))
	require.Equal(t, nearestRank(t, env, good.URL, 50), textOf(t, page, g+"-p50"))
	require.Equal(t, nearestRank(t, env, good.URL, 95), textOf(t, page, g+"-p95"))
	require.Equal(t, "none", textOf(t, page, g+"-last-failure"))
	require.Contains(t, page, `href="/dashboard/notifications?url=`+url.QueryEscape(good.URL)+`"`)

	k := endpointRowID(t, page, bad.URL)
	require.Equal(t, "2", textOf(t, page, k+"-sent"))
	require.Equal(t, "0", textOf(t, page, k+"-delivered"))
	require.Equal(t, "2", textOf(t, page, k+"-failed"))
	require.Equal(t, "0.0 %", textOf(t, page, k+"-rate"))
	require.Equal(t, nearestRank(t, env, bad.URL, 95), textOf(t, page, k+"-p95"))
	require.Equal(t, "timeout after 0.3s", textOf(t, page, k+"-last-failure"), "the latest failure")
	require.NotEmpty(t, textOf(t, page, k+"-last-failure-at"))
	require.Regexp(t, `<title id="`+k+`-chart-title">Notifications per hour to `+regexp.QuoteMeta(bad.URL)+
		` over the last 24 hours: 0 delivered, 2 failed; most failures \(\d\) in the hour from \d\d:00 UTC\.</title>`, page)
	if hour := time.Now().UTC().Format("15") + ":00"; hour == startHour { // not across an hour's end
		require.Contains(t, page, "most failures (2) in the hour from "+hour+" UTC.")
		require.Contains(t, sectionOf(t, page, k), "<title>"+hour+"–")
		require.Equal(t, 1, strings.Count(sectionOf(t, page, k), `<rect class="failed"`), "one hour's bar of failures")
		require.Equal(t, 1, strings.Count(sectionOf(t, page, g), `<rect class="delivered"`), "one hour's bar of deliveries")
	}

	// A configured URL without traffic is listed, first, with nothing to show yet.
	o := endpointRowID(t, page, "https://ops.example/hook")
	require.Equal(t, "ep-0", o)
	require.Equal(t, "0", textOf(t, page, o+"-sent"))
	require.Equal(t, "—", textOf(t, page, o+"-rate"))
	require.Equal(t, "—", textOf(t, page, o+"-p50"))
	require.Contains(t, sectionOf(t, page, o), "<code>operations_webhook_url</code>")

	// The URL's link opens the delivery log filtered by it.
	log := b.getOK("/dashboard/notifications?url=" + url.QueryEscape(bad.URL))
	require.Equal(t, 2, strings.Count(log, `<td class="mono">`+bad.URL+`</td>`))
	require.NotContains(t, log, good.URL)
}

// sectionOf returns the HTML of a URL's section on the Endpoints page.
func sectionOf(t *testing.T, body, id string) string {
	t.Helper()
	i := strings.Index(body, `<section class="panel endpoint" id="`+id+`"`)
	require.GreaterOrEqual(t, i, 0, "no section %s", id)
	j := strings.Index(body[i:], "</section>")
	return body[i : i+j]
}

func TestDashboardEndpoints_TestSendRefusals(t *testing.T) {
	t.Parallel()
	env := phtest.New(t, phtest.Options{DenyPrivate: true})
	b := signIn(t, env)
	rc := phtest.NewReceiver(t)

	// The SSRF guard applies: a loopback URL is refused at dial time, and the page says so.
	res := sendTest(t, b, rc.URL)
	require.Equal(t, "private address refused", textOf(t, res, "test-error"))
	require.Equal(t, "failed", textOf(t, res, "test-status"))
	require.Empty(t, rc.Requests())

	// Not a URL: the form again, with the field's error, and nothing stored.
	p := b.post("/dashboard/endpoints/test", url.Values{"url": {"ftp://shop.example/hook"}})
	require.Equal(t, http.StatusBadRequest, p.Code)
	require.Contains(t, fieldError(p.Body, "url"), "absolute http or https URL")
	require.Contains(t, p.Body, `value="ftp://shop.example/hook"`)
	_, total, err := env.Store.ListNotifications(context.Background(), payhook.NotificationFilter{})
	require.NoError(t, err)
	require.Equal(t, 1, total, "only the refused test notification")

	// Without the CSRF token nothing is sent.
	form := url.Values{"url": {"https://shop.example/hook"}, "csrf_token": {"wrong"}}
	resp, err := b.c.PostForm(env.URL+"/dashboard/endpoints/test", form)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
}

func TestDashboardEndpoints_TestSendsAreMarkedAndAudited(t *testing.T) {
	t.Parallel()
	env := setupWebhooks(t, nil)
	rc := phtest.NewReceiver(t)
	b := signInAs(t, env, "operator@shop.example", payhook.RoleOperator)
	result := sendTest(t, b, rc.URL)
	require.Contains(t, result, "payhook-test")

	log := b.getOK("/dashboard/notifications")
	require.Contains(t, log, `<span class="mono">payhook-test</span> <span class="badge">test</span>`, "no link to a transaction that does not exist")
	require.NotContains(t, log, `class="mono">payhook-test</a>`)

	entries, _, err := env.Service.AuditLog(context.Background(), payhook.AuditFilter{Action: "notification.test"})
	require.NoError(t, err)
	require.Len(t, entries, 1)
	require.Equal(t, "operator@shop.example", entries[0].Actor)
	require.Contains(t, entries[0].Detail, " to "+rc.URL)
}

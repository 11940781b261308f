package web_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook/gateway/sandbox"
	"github.com/payhook/payhook/internal/phtest"
)

const notificationsPath = "/b/webhook/v1/notifications/"

// deliveryLog is an Env with three payment notifications, oldest first: delivered to ok,
// failed at failing (a 500), and not sent for want of a URL.
type deliveryLog struct {
	env                        *phtest.Env
	ok, failing                *phtest.Receiver
	delivered, failed, notSent notificationJSON
}

func setupDeliveryLog(t *testing.T) *deliveryLog {
	t.Helper()
	l := &deliveryLog{env: setupWebhooks(t, nil), ok: phtest.NewReceiver(t), failing: phtest.NewReceiver(t)}
	l.failing.Respond = respondWith(500)
	pay := func(rc *phtest.Receiver) notificationJSON {
		c := checkoutWith(l.env, rc, nil)
		code, _ := l.env.Pay(strField(c, "checkout_url"), sandbox.CardSuccess)
		require.Equal(t, http.StatusSeeOther, code)
		return onlyNotification(t, l.env, strField(c, "session_id"))
	}
	l.delivered = pay(l.ok)
	l.failed = pay(l.failing)
	l.notSent = pay(nil)
	require.Equal(t, "delivered", l.delivered.Status)
	require.Equal(t, "failed", l.failed.Status)
	require.Equal(t, "not_sent", l.notSent.Status)
	return l
}

func notificationIDs(list []notificationJSON) []string {
	out := make([]string, len(list))
	for i, n := range list {
		out[i] = n.ID
	}
	return out
}

func TestNotifications_ListFilters(t *testing.T) {
	t.Parallel()
	l := setupDeliveryLog(t)
	d, f, n := l.delivered.ID, l.failed.ID, l.notSent.ID
	rfc := func(tm time.Time) string { return tm.UTC().Format(time.RFC3339Nano) }

	tests := []struct {
		name  string
		query url.Values
		want  []string
	}{
		{"everything, newest first", url.Values{}, []string{n, f, d}},
		{"session_id", url.Values{"session_id": {l.failed.SessionID}}, []string{f}},
		{"status delivered", url.Values{"status": {"delivered"}}, []string{d}},
		{"status failed", url.Values{"status": {"failed"}}, []string{f}},
		{"status not_sent", url.Values{"status": {"not_sent"}}, []string{n}},
		{"status pending", url.Values{"status": {"pending"}}, []string{}},
		{"kind payment", url.Values{"kind": {"payment"}}, []string{n, f, d}},
		{"kind operation", url.Values{"kind": {"operation"}}, []string{}},
		{"url", url.Values{"url": {l.failing.URL}}, []string{f}},
		{"since, inclusive", url.Values{"since": {rfc(l.failed.CreatedAt)}}, []string{n, f}},
		{"until, exclusive", url.Values{"until": {rfc(l.failed.CreatedAt)}}, []string{d}},
		{"since and until", url.Values{"since": {rfc(l.delivered.CreatedAt)}, "until": {rfc(l.notSent.CreatedAt)}}, []string{f, d}},
		{"since without fractions", url.Values{"since": {time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}}, []string{}},
		{"filters combine", url.Values{"session_id": {l.failed.SessionID}, "status": {"delivered"}}, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := listNotifications(t, l.env, tt.query)
			require.Equal(t, tt.want, notificationIDs(p.Results))
			require.Equal(t, len(tt.want), p.Count)
		})
	}
}

func TestNotifications_RefusesBadFilters(t *testing.T) {
	t.Parallel()
	env := phtest.New(t)
	tests := []struct{ query, field string }{
		{"status=sent", "status"},
		{"kind=refund", "kind"},
		{"since=yesterday", "since"},
		{"until=2026-01-02", "until"},
		{"limit=0", "limit"},
		{"limit=abc", "limit"},
		{"offset=-1", "offset"},
	}
	for _, tt := range tests {
		code, b := env.Do("GET", notificationsPath+"?"+tt.query, nil)
		require.Equal(t, http.StatusBadRequest, code, "%s: %s", tt.query, b)
		requireFieldErrors(t, b, tt.field)
	}
	code, _, _ := sendRaw(t, env, "GET", notificationsPath, nil, nil)
	require.Equal(t, http.StatusUnauthorized, code)
}

func TestNotifications_PagesWithLimitAndOffset(t *testing.T) {
	t.Parallel()
	l := setupDeliveryLog(t)
	all := []string{l.notSent.ID, l.failed.ID, l.delivered.ID}

	// Follow next to the end, then previous back to the start.
	var seen []string
	page := listNotifications(t, l.env, url.Values{"limit": {"1"}})
	require.Nil(t, page.Previous)
	for i := 0; ; i++ {
		require.Equal(t, 3, page.Count)
		require.Len(t, page.Results, 1)
		seen = append(seen, page.Results[0].ID)
		if page.Next == nil {
			break
		}
		require.Less(t, i, 3, "next never ends")
		page = followLink(t, l.env, *page.Next)
		require.NotNil(t, page.Previous)
	}
	require.Equal(t, all, seen)
	back := followLink(t, l.env, *page.Previous)
	require.Equal(t, []string{l.failed.ID}, notificationIDs(back.Results))

	page = listNotifications(t, l.env, url.Values{"limit": {"2"}, "offset": {"1"}})
	require.Equal(t, all[1:], notificationIDs(page.Results))
	require.Nil(t, page.Next)
	require.NotNil(t, page.Previous)
	page = listNotifications(t, l.env, url.Values{"offset": {"3"}})
	require.Equal(t, 3, page.Count)
	require.Empty(t, page.Results)
	require.Nil(t, page.Next)

	// Paging keeps the filters.
	page = listNotifications(t, l.env, url.Values{"kind": {"payment"}, "limit": {"2"}})
	require.NotNil(t, page.Next)
	next, err := url.Parse(*page.Next)
	require.NoError(t, err)
	require.Equal(t, "payment", next.Query().Get("kind"))
	require.Equal(t, "2", next.Query().Get("offset"))
}

// followLink GETs a next or previous link of the delivery log.
func followLink(t *testing.T, env *phtest.Env, link string) notificationPage {
	t.Helper()
	require.True(t, strings.HasPrefix(link, env.URL+notificationsPath), link)
	u, err := url.Parse(link)
	require.NoError(t, err)
	return listNotifications(t, env, u.Query())
}

func TestNotifications_DetailShowsAttempts(t *testing.T) {
	t.Parallel()
	before := time.Now()
	l := setupDeliveryLog(t)
	after := time.Now()

	for _, path := range []string{notificationsPath + l.failed.ID + "/", notificationsPath + l.failed.ID} {
		code, b := l.env.Do("GET", path, nil)
		require.Equal(t, http.StatusOK, code, "%s", b)
		var m map[string]any
		require.NoError(t, json.Unmarshal(b, &m))
		for _, k := range []string{"id", "kind", "session_id", "reference_number", "url", "status", "reason",
			"redirect_decider", "created_at", "payload", "attempts"} {
			require.Contains(t, m, k)
		}
		require.Equal(t, l.failed.ID, m["id"])
		require.Equal(t, "payment", m["kind"])
		require.Equal(t, l.failing.URL, m["url"])
		require.Nil(t, m["reason"])
		require.IsType(t, map[string]any{}, m["payload"], "a JSON payload is shown as JSON")
		attempts := m["attempts"].([]any)
		require.Len(t, attempts, 1)
		a := attempts[0].(map[string]any)
		keys := make([]string, 0, len(a))
		for k := range a {
			keys = append(keys, k)
		}
		require.ElementsMatch(t, []string{"number", "started_at", "duration_ms", "status_code", "error", "response_excerpt"}, keys)
		require.Equal(t, 1.0, a["number"])
		require.Equal(t, 500.0, a["status_code"])
		require.Nil(t, a["error"])
		require.Equal(t, "Internal Server Error", a["response_excerpt"])
		require.Greater(t, a["duration_ms"].(float64), 0.0)
		started := a["started_at"].(string)
		require.True(t, strings.HasSuffix(started, "Z"), "UTC: %s", started)
		at, err := time.Parse(time.RFC3339Nano, started)
		require.NoError(t, err)
		require.WithinRange(t, at, before, after)
		created, err := time.Parse(time.RFC3339Nano, m["created_at"].(string))
		require.NoError(t, err)
		require.WithinRange(t, created, before, at)
	}

	n := getNotification(t, l.env, l.notSent.ID)
	require.Nil(t, n.URL)
	require.Equal(t, "no_url", *n.Reason)
	require.Empty(t, n.Attempts)
}

func TestNotifications_UnknownIDIsNotFound(t *testing.T) {
	t.Parallel()
	env := phtest.New(t)
	for _, r := range []struct{ method, path string }{
		{"GET", notificationsPath + "msg_nope/"},
		{"GET", notificationsPath + "msg_nope"},
		{"POST", notificationsPath + "msg_nope/resend/"},
	} {
		code, b := env.Do(r.method, r.path, nil)
		require.Equal(t, http.StatusNotFound, code, "%s %s: %s", r.method, r.path, b)
		requireDetail(t, b)
	}
}

func TestNotifications_ResendSendsSameBodyAndID(t *testing.T) {
	t.Parallel()
	l := setupDeliveryLog(t)
	first := l.ok.Requests()
	require.Len(t, first, 1)

	code, b := l.env.Do("POST", notificationsPath+l.delivered.ID+"/resend/", nil)
	require.Equal(t, http.StatusAccepted, code, "%s", b)
	var answer notificationJSON
	require.NoError(t, json.Unmarshal(b, &answer))
	require.Equal(t, l.delivered.ID, answer.ID)

	reqs := l.ok.Wait(t, 2, 5*time.Second)
	require.Equal(t, l.delivered.ID, reqs[1].Header.Get("webhook-id"))
	require.Equal(t, first[0].Header.Get("webhook-id"), reqs[1].Header.Get("webhook-id"))
	require.Equal(t, first[0].Body, reqs[1].Body, "the stored body, byte for byte")

	var n notificationJSON
	phtest.Eventually(t, 5*time.Second, func() bool {
		n = getNotification(t, l.env, l.delivered.ID)
		return n.Status == "delivered" && len(n.Attempts) == 2
	}, "the re-send is recorded as a second attempt")
	require.Equal(t, 2, n.Attempts[1].Number)
	require.Equal(t, 200, *n.Attempts[1].StatusCode)
	require.False(t, n.Attempts[1].StartedAt.Before(n.Attempts[0].end()))

	// A failed one can be re-sent too; a not-sent one cannot.
	code, b = l.env.Do("POST", notificationsPath+l.failed.ID+"/resend", nil)
	require.Equal(t, http.StatusAccepted, code, "%s", b)
	l.failing.Wait(t, 2, 5*time.Second)
	code, b = l.env.Do("POST", notificationsPath+l.notSent.ID+"/resend/", nil)
	require.Equal(t, http.StatusConflict, code, "%s", b)
	requireDetail(t, b)
}

// A page larger than the maximum is capped, not refused.
func TestNotifications_LargeLimitIsCapped(t *testing.T) {
	t.Parallel()
	env := phtest.New(t)
	got := env.JSON("GET", "/b/webhook/v1/notifications/?limit=100000", nil, http.StatusOK)
	require.Contains(t, got, "results")
}

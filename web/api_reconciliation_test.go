package web_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook/gateway/sandbox"
	"github.com/payhook/payhook/internal/phtest"
	"github.com/payhook/payhook/service"
	"github.com/payhook/payhook/signature"
)

// loggingMerchant is a merchant's endpoint that logs every webhook-id it accepted (a
// 200), as a merchant reconciling with payhook would, and answers 500 while failing.
type loggingMerchant struct {
	*phtest.Receiver
	mu       sync.Mutex
	accepted []string
	failing  bool
}

func newLoggingMerchant(t *testing.T) *loggingMerchant {
	m := &loggingMerchant{Receiver: phtest.NewReceiver(t)}
	m.Respond = func(_ int, w http.ResponseWriter, r *http.Request) {
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.failing {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		m.accepted = append(m.accepted, r.Header.Get("webhook-id"))
		w.WriteHeader(http.StatusOK)
	}
	return m
}

func (m *loggingMerchant) setFailing(on bool) { m.mu.Lock(); m.failing = on; m.mu.Unlock() }

func (m *loggingMerchant) log() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.accepted)
}

type reconciliationPage struct {
	Count    int     `json:"count"`
	Next     *string `json:"next"`
	Previous *string `json:"previous"`
	Results  []struct {
		ID, Kind, URL, Status, Notification string
		SessionID                           string `json:"session_id"`
		ReferenceNumber                     string `json:"reference_number"`
		CreatedAt                           string `json:"created_at"`
	} `json:"results"`
}

func getReconciliation(t *testing.T, env *phtest.Env, q url.Values) reconciliationPage {
	t.Helper()
	code, b := env.Do("GET", "/b/webhook/v1/reconciliation/?"+q.Encode(), nil)
	require.Equal(t, http.StatusOK, code, "%s", b)
	var p reconciliationPage
	require.NoError(t, json.Unmarshal(b, &p), "%s", b)
	return p
}

func getDigest(t *testing.T, env *phtest.Env, u, date string) (signature.Digest, []string) {
	t.Helper()
	code, b := env.Do("GET", "/b/webhook/v1/digests/?"+url.Values{"url": {u}, "date": {date}, "ids": {"true"}}.Encode(), nil)
	require.Equal(t, http.StatusOK, code, "%s", b)
	var d signature.Digest
	require.NoError(t, json.Unmarshal(b, &d), "%s", b)
	var extra struct {
		IDs   []string `json:"ids"`
		Final *bool    `json:"final"`
	}
	require.NoError(t, json.Unmarshal(b, &extra))
	require.NotNil(t, extra.Final)
	return d, extra.IDs
}

// skipNearMidnight skips a test whose notifications must all fall on one UTC day.
func skipNearMidnight(t *testing.T) time.Time {
	now := time.Now().UTC()
	day := now.Truncate(24 * time.Hour)
	if day.Add(24*time.Hour).Sub(now) < 2*time.Minute {
		t.Skip("too close to midnight UTC: the notifications would straddle two days")
	}
	return day
}

func TestReconciliation_ListsUnacknowledgedAndDigestMatchesTheMerchantsLog(t *testing.T) {
	t.Parallel()
	day := skipNearMidnight(t)
	env := setupWebhooks(t, nil)
	shop := newLoggingMerchant(t)
	down := phtest.NewReceiver(t)
	down.Server.Close() // refuses every connection: no answer, retried, then failed

	pay := func(u string) string {
		t.Helper()
		fields := map[string]any{"webhook_url": u}
		if u == "" {
			fields["webhook_url"] = nil
		}
		c := checkoutWith(env, nil, fields)
		code, _ := env.Pay(strField(c, "checkout_url"), sandbox.CardSuccess)
		require.Equal(t, http.StatusSeeOther, code)
		return onlyNotification(t, env, strField(c, "session_id")).ID
	}
	var failedAtShop, failedDown []string
	for i := range 6 {
		shop.setFailing(i%3 == 1)
		id := pay(shop.URL)
		if i%3 == 1 {
			failedAtShop = append(failedAtShop, id)
		}
	}
	shop.setFailing(false)
	failedDown = append(failedDown, pay(down.URL), pay(down.URL))
	pay("") // not sent: never meant to be, not listed
	require.Len(t, shop.log(), 4)

	from, to := day.Format(time.RFC3339), day.Add(24*time.Hour).Format(time.RFC3339)
	p := getReconciliation(t, env, url.Values{"url": {shop.URL}, "from": {from}, "to": {to}})
	require.Equal(t, 2, p.Count)
	require.Equal(t, failedAtShop, []string{p.Results[0].ID, p.Results[1].ID}, "oldest first")
	require.Equal(t, "failed", p.Results[0].Status)
	require.Equal(t, "payment", p.Results[0].Kind)
	require.NotEmpty(t, p.Results[0].SessionID)
	require.NotEmpty(t, p.Results[0].ReferenceNumber)
	require.Equal(t, env.URL+"/b/webhook/v1/notifications/"+failedAtShop[0]+"/", p.Results[0].Notification)
	code, b := env.Do("GET", p.Results[0].Notification[len(env.URL):], nil)
	require.Equal(t, http.StatusOK, code, "the link fetches the payload: %s", b)

	all := getReconciliation(t, env, url.Values{"from": {from}, "to": {to}})
	require.Equal(t, 4, all.Count, "every URL without url")
	var got []string
	for _, r := range all.Results {
		got = append(got, r.ID)
	}
	require.ElementsMatch(t, append(slices.Clone(failedAtShop), failedDown...), got)

	paged := getReconciliation(t, env, url.Values{"from": {from}, "to": {to}, "limit": {"3"}})
	require.Len(t, paged.Results, 3)
	require.NotNil(t, paged.Next)
	require.Nil(t, paged.Previous)

	// The digest of the day matches the merchant's own log, checked as a merchant would.
	date := day.Format(time.DateOnly)
	d, ids := getDigest(t, env, shop.URL, date)
	require.Equal(t, 4, d.Count)
	require.ElementsMatch(t, shop.log(), ids)
	require.NoError(t, signature.VerifyDigest(merchantKey, d, shop.log()))
	var m *signature.DigestMismatch
	err := signature.VerifyDigest(merchantKey, d, shop.log()[1:])
	require.ErrorAs(t, err, &m)
	require.Equal(t, 1, m.Missing())
	tampered := d
	tampered.Count--
	require.ErrorIs(t, signature.VerifyDigest(merchantKey, tampered, shop.log()[1:]), signature.ErrMismatch)

	// A failed one re-sent and accepted leaves the list and joins the digest.
	code, b = env.Do("POST", "/b/webhook/v1/notifications/"+failedAtShop[0]+"/resend/", nil)
	require.Equal(t, http.StatusAccepted, code, "%s", b)
	phtest.Eventually(t, 5*time.Second, func() bool {
		return getReconciliation(t, env, url.Values{"url": {shop.URL}, "from": {from}, "to": {to}}).Count == 1
	}, "the re-sent notification is acknowledged")
	d, _ = getDigest(t, env, shop.URL, date)
	require.Equal(t, 5, d.Count)
	require.NoError(t, signature.VerifyDigest(merchantKey, d, shop.log()))

	d, ids = getDigest(t, env, down.URL, date)
	require.Zero(t, d.Count)
	require.Empty(t, ids)
	require.Equal(t, signature.DigestHash(nil), d.Hash)
}

func TestDigest_NotificationSentOncePerDayPerURLSignedAndNotCounted(t *testing.T) {
	t.Parallel()
	day := skipNearMidnight(t)
	env := setupWebhooks(t, map[string]any{"digest_notifications": true})
	secret := strField(env.Configure(map[string]any{"standard_webhooks": true}), "standard_webhooks_secret")
	shop := newLoggingMerchant(t)
	other := newLoggingMerchant(t)
	for _, rc := range []*loggingMerchant{shop, shop, other} {
		c := checkoutWith(env, nil, map[string]any{"webhook_url": rc.URL})
		code, _ := env.Pay(strField(c, "checkout_url"), sandbox.CardSuccess)
		require.Equal(t, http.StatusSeeOther, code)
	}
	payments := shop.log()
	require.Len(t, payments, 2)

	ctx := t.Context()
	n, err := env.Service.SendDigests(ctx, day)
	require.NoError(t, err)
	require.Equal(t, 2, n, "one digest per URL that had a delivery")
	n, err = env.Service.SendDigests(ctx, day)
	require.NoError(t, err)
	require.Zero(t, n, "once per day per URL")

	reqs := shop.Wait(t, 3, 5*time.Second)
	digestReq := reqs[2]
	require.Equal(t, service.DigestNotificationID(shop.URL, day), digestReq.Header.Get("webhook-id"))
	require.NoError(t, signature.StandardWebhooksVerify(secret, digestReq.Header.Get("webhook-id"),
		digestReq.Header.Get("webhook-timestamp"), digestReq.Header.Get("webhook-signature"), digestReq.Body,
		time.Now(), time.Minute), "Standard Webhooks headers as every notification")
	var d signature.Digest
	require.NoError(t, json.Unmarshal(digestReq.Body, &d), "%s", digestReq.Body)
	require.Equal(t, day.Format(time.DateOnly), d.Date)
	require.NoError(t, signature.VerifyDigest(merchantKey, d, payments), "the body is the signed digest")
	other.Wait(t, 2, 5*time.Second)

	// The digest notification, delivered that day too, does not count in the digest.
	phtest.Eventually(t, 5*time.Second, func() bool {
		got := onlyDigestStatus(t, env, service.DigestNotificationID(shop.URL, day))
		return got == "delivered"
	}, "the digest is delivered")
	again, _ := getDigest(t, env, shop.URL, day.Format(time.DateOnly))
	require.Equal(t, d.Count, again.Count)
	require.Equal(t, d.Hash, again.Hash)
	require.Len(t, shop.Requests(), 3, "no second digest")

	// The delivery log API filters by the kind.
	var log struct {
		Count   int `json:"count"`
		Results []struct {
			ID, Kind string
		} `json:"results"`
	}
	code, body := env.Do("GET", "/b/webhook/v1/notifications/?kind=digest", nil)
	require.Equal(t, http.StatusOK, code, "%s", body)
	require.NoError(t, json.Unmarshal(body, &log))
	require.Equal(t, 2, log.Count)
	require.Equal(t, "digest", log.Results[0].Kind)

	// The dashboard shows it as a digest, without a transaction.
	b := signIn(t, env)
	id := service.DigestNotificationID(shop.URL, day)
	list := b.getOK("/dashboard/notifications?kind=digest")
	require.Contains(t, list, `<span class="badge">digest</span>`)
	require.Contains(t, list, "Daily digest")
	require.Contains(t, list, id)
	require.NotContains(t, list, `href="/dashboard/transactions/"`)
	detail := b.getOK("/dashboard/notifications/" + id)
	require.Contains(t, detail, `<p id="digest-of">Daily digest of <span class="mono">`+day.Format(time.DateOnly)+`</span>`)
}

func onlyDigestStatus(t *testing.T, env *phtest.Env, id string) string {
	t.Helper()
	return getNotification(t, env, id).Status
}

func TestDigest_OffByDefault(t *testing.T) {
	t.Parallel()
	day := skipNearMidnight(t)
	env := setupWebhooks(t, nil)
	shop := newLoggingMerchant(t)
	c := checkoutWith(env, nil, map[string]any{"webhook_url": shop.URL})
	code, _ := env.Pay(strField(c, "checkout_url"), sandbox.CardSuccess)
	require.Equal(t, http.StatusSeeOther, code)
	n, err := env.Service.SendDigests(t.Context(), day)
	require.NoError(t, err)
	require.Zero(t, n)
	require.Len(t, shop.Requests(), 1)
}

func TestReconciliation_RefusesBadInputNamingTheField(t *testing.T) {
	t.Parallel()
	env := phtest.New(t)
	now := time.Now().UTC()
	rfc := func(t time.Time) string { return t.Format(time.RFC3339) }
	tests := []struct {
		path   string
		fields []string
	}{
		{"/b/webhook/v1/reconciliation/", []string{"from", "to"}},
		{"/b/webhook/v1/reconciliation/?" + url.Values{"from": {"yesterday"}, "to": {rfc(now)}}.Encode(), []string{"from"}},
		{"/b/webhook/v1/reconciliation/?" + url.Values{"from": {rfc(now)}, "to": {rfc(now)}}.Encode(), []string{"to"}},
		{"/b/webhook/v1/reconciliation/?" + url.Values{"from": {rfc(now.AddDate(0, 0, -32))}, "to": {rfc(now)}}.Encode(), []string{"to"}},
		{"/b/webhook/v1/reconciliation/?" + url.Values{"from": {rfc(now.Add(-time.Hour))}, "to": {rfc(now)}, "limit": {"0"}, "offset": {"-1"}}.Encode(), []string{"limit", "offset"}},
		{"/b/webhook/v1/digests/", []string{"url", "date"}},
		{"/b/webhook/v1/digests/?url=https%3A%2F%2Fshop.example%2F&date=2026-13-01&ids=yes", []string{"date", "ids"}},
		{"/b/webhook/v1/digests/?url=https%3A%2F%2Fshop.example%2F&date=" + now.AddDate(0, 0, 2).Format(time.DateOnly), []string{"date"}},
	}
	for _, tt := range tests {
		code, b := env.Do("GET", tt.path, nil)
		require.Equal(t, http.StatusBadRequest, code, "%s: %s", tt.path, b)
		got := requireFieldErrors(t, b, tt.fields...)
		require.Len(t, got, len(tt.fields), "%s: %s", tt.path, b)
	}
	// The setting takes a boolean only, and a refused change changes nothing.
	code, b := env.Do("PATCH", "/b/webhook/v1/config/", map[string]any{"digest_notifications": "yes", "enabled": true})
	require.Equal(t, http.StatusBadRequest, code, "%s", b)
	requireFieldErrors(t, b, "digest_notifications")
	cfg := env.JSON("GET", "/b/webhook/v1/config/", nil, http.StatusOK)
	require.Equal(t, false, cfg["digest_notifications"])
	require.Equal(t, false, cfg["enabled"])

	// A window of exactly 31 days is accepted.
	code, b = env.Do("GET", "/b/webhook/v1/reconciliation/?"+url.Values{"from": {rfc(now.AddDate(0, 0, -31))}, "to": {rfc(now)}}.Encode(), nil)
	require.Equal(t, http.StatusOK, code, "%s", b)
}

func TestDashboardConfig_DigestNotificationsCheckbox(t *testing.T) {
	t.Parallel()
	env := phtest.New(t)
	b := signIn(t, env)
	form := configFormOf(t, b.getOK(configPage))
	form.Set("digest_notifications", "true")
	p := b.post(configPage, form)
	require.Equal(t, http.StatusSeeOther, p.Code, "%s", p.Body)
	require.Equal(t, true, apiConfig(t, env)["digest_notifications"])
	require.Contains(t, b.getOK(configPage), `id="digest_notifications" name="digest_notifications" value="true" aria-describedby="digest_notifications-help" checked`)
	form.Del("digest_notifications")
	p = b.post(configPage, form)
	require.Equal(t, http.StatusSeeOther, p.Code, "%s", p.Body)
	require.Equal(t, false, apiConfig(t, env)["digest_notifications"], "an unchecked box turns it off")
}

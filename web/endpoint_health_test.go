package web_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook"
	"github.com/payhook/payhook/gateway/sandbox"
	"github.com/payhook/payhook/internal/phtest"
	"github.com/payhook/payhook/mail"
	"github.com/payhook/payhook/signature"
)

// mailbox is an in-process SMTP server on loopback that keeps the messages it accepts.
type mailbox struct {
	mu   sync.Mutex
	msgs []string
}

func (b *mailbox) NewSession(*smtp.Conn) (smtp.Session, error) { return &mailSession{box: b}, nil }

type mailSession struct{ box *mailbox }

func (s *mailSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *mailSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *mailSession) Reset()                               {}
func (s *mailSession) Logout() error                        { return nil }
func (s *mailSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.box.mu.Lock()
	s.box.msgs = append(s.box.msgs, string(b))
	s.box.mu.Unlock()
	return nil
}

func (b *mailbox) messages() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.msgs...)
}

// subjects returns the Subject lines of the endpoint health emails so far (the failure
// emails of the notifications go to the same list).
func (b *mailbox) subjects() []string {
	var out []string
	for _, m := range b.messages() {
		for _, line := range strings.Split(m, "\r\n") {
			if s, ok := strings.CutPrefix(line, "Subject: "); ok && strings.Contains(s, "Webhook URL") {
				out = append(out, s)
			}
		}
	}
	return out
}

func startMailbox(t *testing.T) (*mailbox, *mail.SMTPConfig) {
	t.Helper()
	box := &mailbox{}
	srv := smtp.NewServer(box)
	srv.Domain = "localhost"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	cfg, err := mail.ParseSMTPURL("smtp://" + ln.Addr().String())
	require.NoError(t, err)
	return box, &cfg
}

// healthEnv is a payhook with endpoint health scaled down (failing after 0.3 s of only
// failures, disabled after 0.8 s), error emails to an in-process SMTP server, and
// operator notices to a receiver of their own.
func healthEnv(t *testing.T, patch map[string]any) (*phtest.Env, *mailbox, *phtest.Receiver, string) {
	t.Helper()
	box, smtpCfg := startMailbox(t)
	env := phtest.New(t, phtest.Options{SMTP: smtpCfg, ErrorEmailInterval: time.Minute, SweepInterval: 50 * time.Millisecond,
		HealthRefresh: 50 * time.Millisecond, ResumeInterval: 50 * time.Millisecond})
	notices := phtest.NewReceiver(t)
	cfg := map[string]any{"enabled": true, "api_transactions_enabled": true, "hmac_key": merchantKey,
		"timeout": 1, "retries": 1, "notify_on_error": true, "emails": []string{"ops@shop.example"},
		"endpoint_failing_after": 0.3, "endpoint_disable_after": 0.8, "endpoint_resume_rate": 5000,
		"operations_notices_url": notices.URL, "standard_webhooks": true}
	for k, v := range patch {
		cfg[k] = v
	}
	answer := env.Configure(cfg)
	return env, box, notices, strField(answer, "standard_webhooks_secret")
}

// addNotifications stores n pending notifications to url, created in order 1 µs apart
// with bodies {"seq": from+i}, unleased: the engine's sweep delivers them like any.
func addNotifications(t *testing.T, env *phtest.Env, url string, from, n int) {
	t.Helper()
	now := time.Now().UTC()
	notes := make([]*payhook.Notification, n)
	for i := range notes {
		at := now.Add(time.Duration(i) * time.Microsecond)
		notes[i] = &payhook.Notification{ID: payhook.NewNotificationID(), Kind: payhook.KindPayment,
			SessionID: fmt.Sprintf("seq-%d", from+i), URL: url, Status: payhook.StatusPending, CreatedAt: at, UpdatedAt: at,
			Body: fmt.Appendf(nil, `{"seq":%d}`, from+i), ContentType: "application/json", NextAttemptAt: at}
	}
	require.NoError(t, env.Store.AddNotifications(t.Context(), notes, payhook.Lease{}))
	env.Engine.Kick()
}

// driveTo sends notifications to a URL that fails every attempt, one every 60 ms, until
// the URL's state is state.
func driveTo(t *testing.T, env *phtest.Env, u, state string) {
	t.Helper()
	seq := 0
	phtest.Eventually(t, 5*time.Second, func() bool {
		addNotifications(t, env, u, seq, 1)
		seq++
		time.Sleep(60 * time.Millisecond)
		code, body := env.Do("GET", "/b/webhook/v1/endpoints/?url="+url.QueryEscape(u), nil)
		return code == http.StatusOK && strings.Contains(string(body), `"state":"`+state+`"`)
	}, "the URL is "+state)
}

func endpointOf(t *testing.T, env *phtest.Env, u string) map[string]any {
	t.Helper()
	return env.JSON("GET", "/b/webhook/v1/endpoints/?url="+url.QueryEscape(u), nil, http.StatusOK)
}

func TestEndpointHealth_FailingDisabledHeldResumed(t *testing.T) {
	t.Parallel()
	env, box, notices, _ := healthEnv(t, map[string]any{"endpoint_resume_rate": 2000})
	merchant := phtest.NewReceiver(t)
	var up atomic.Bool
	merchant.Respond = func(_ int, w http.ResponseWriter, _ *http.Request) {
		if up.Load() {
			w.WriteHeader(http.StatusOK)
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	}

	// The merchant answers 503 until the URL is disabled: failing after 0.3 s, disabled
	// after 0.8 s of only failures.
	driveTo(t, env, merchant.URL, "disabled")
	phtest.Eventually(t, 5*time.Second, func() bool { return len(box.subjects()) >= 2 }, "two emails")
	subjects := box.subjects()
	require.Len(t, subjects, 2, "one email per change")
	require.Contains(t, subjects[0], "Webhook URL failing: "+strings.TrimPrefix(merchant.Server.URL, "http://"))
	require.Contains(t, subjects[1], "Webhook URL disabled: ")
	require.Contains(t, strings.Join(box.messages(), "\n"), "New notifications to this URL are held")

	// New notifications are held: stored, not sent, not lost.
	phtest.Eventually(t, 2*time.Second, func() bool { return env.Engine.Inflight() == 0 }, "the down phase's rounds end")
	before := len(merchant.Requests())
	const backlog = 1000
	addNotifications(t, env, merchant.URL, 10000, backlog)
	phtest.Eventually(t, 10*time.Second, func() bool {
		return endpointOf(t, env, merchant.URL)["held"] == float64(backlog)
	}, "the backlog is held")
	require.Len(t, merchant.Requests(), before, "nothing is sent to a disabled URL")
	held := env.JSON("GET", "/b/webhook/v1/notifications/?status=held&limit=1", nil, http.StatusOK)
	require.Equal(t, float64(backlog), held["count"])

	// A customer whose payment notification goes to the disabled URL is not kept waiting:
	// the notification is held and the customer sees the summary page.
	c := checkoutWith(env, merchant, nil)
	start := time.Now()
	code, loc := env.Pay(strField(c, "checkout_url"), sandbox.CardSuccess)
	require.Equal(t, http.StatusSeeOther, code)
	require.False(t, strings.HasPrefix(loc, shopURL), "summary page, not the redirect_url: %s", loc)
	require.Less(t, time.Since(start), time.Second, "no wait on a held URL")

	metrics := metricsText(t, env)
	require.Contains(t, metrics, `payhook_endpoints{state="disabled"} 1`)
	require.Contains(t, metrics, fmt.Sprintf("payhook_held_notifications %d", backlog+1))

	// The merchant is back; an operator resumes the URL: the backlog goes out oldest first.
	up.Store(true)
	resumed := env.JSON("POST", "/b/webhook/v1/endpoints/resume/?url="+url.QueryEscape(merchant.URL), nil, http.StatusAccepted)
	require.Equal(t, "healthy", resumed["state"])
	reqs := merchant.Wait(t, before+backlog+1, 20*time.Second)
	var seqs []int
	for _, r := range reqs[before:] {
		var b struct {
			Seq *int `json:"seq"`
		}
		require.NoError(t, json.Unmarshal(r.Body, &b))
		if b.Seq != nil {
			seqs = append(seqs, *b.Seq)
		}
	}
	require.Len(t, seqs, backlog)
	for i, s := range seqs {
		require.Equal(t, 10000+i, s, "oldest first")
	}
	// At most endpoint_resume_rate (2,000) a second: 1,001 take at least half a second.
	spread := reqs[len(reqs)-1].At.Sub(reqs[before].At)
	require.GreaterOrEqual(t, spread, time.Duration(backlog)*time.Second/2000, "the rate holds")
	phtest.Eventually(t, 5*time.Second, func() bool {
		p := endpointOf(t, env, merchant.URL)["resume"].(map[string]any)
		return p["held"] == float64(0) && p["sent"] == float64(backlog+1) && p["delivered"] == float64(backlog+1)
	}, "the progress shows every held notification sent and delivered")
	h := endpointOf(t, env, merchant.URL)
	require.Equal(t, "healthy", h["state"])
	require.NotEmpty(t, h["resume"].(map[string]any)["resumed_by"], "who resumed it")

	// The operator notices: failing and disabled, signed.
	got := notices.Wait(t, 2, 5*time.Second)
	var events []string
	for _, r := range got {
		var b map[string]any
		require.NoError(t, json.Unmarshal(r.Body, &b))
		events = append(events, b["event"].(string))
		require.Equal(t, merchant.URL, b["url"])
		v, err := signature.Verify(merchantKey, r.Body)
		require.NoError(t, err)
		require.Equal(t, signature.V1, v)
		require.NotEmpty(t, r.Header.Get("webhook-id"))
	}
	require.Equal(t, []string{"endpoint.failing", "endpoint.disabled"}, events)
}

func TestEndpointHealth_SuccessClearsFailingAndNoticesRecovery(t *testing.T) {
	t.Parallel()
	env, box, notices, secret := healthEnv(t, map[string]any{"endpoint_disable_after": 0})
	require.True(t, strings.HasPrefix(secret, "whsec_"), secret)
	merchant := phtest.NewReceiver(t)
	var up atomic.Bool
	merchant.Respond = func(_ int, w http.ResponseWriter, _ *http.Request) {
		if up.Load() {
			w.WriteHeader(http.StatusCreated)
			return
		}
		w.WriteHeader(http.StatusInternalServerError)
	}
	driveTo(t, env, merchant.URL, "failing")
	up.Store(true)
	addNotifications(t, env, merchant.URL, 5000, 1)
	phtest.Eventually(t, 5*time.Second, func() bool { return endpointOf(t, env, merchant.URL)["state"] == "healthy" },
		"one success clears the state")
	got := notices.Wait(t, 2, 5*time.Second)
	wh, err := standardwebhooks.NewWebhook(secret)
	require.NoError(t, err)
	var events []string
	for _, r := range got {
		var b map[string]any
		require.NoError(t, json.Unmarshal(r.Body, &b))
		events = append(events, b["event"].(string))
		require.NoError(t, wh.Verify(r.Body, r.Header), "Standard Webhooks signature")
		_, err := signature.Verify(merchantKey, r.Body)
		require.NoError(t, err, "body signature")
	}
	require.Equal(t, []string{"endpoint.failing", "endpoint.recovered"}, events)
	phtest.Eventually(t, 5*time.Second, func() bool { return len(box.subjects()) >= 1 }, "the failing email")
	require.Len(t, box.subjects(), 1, "a recovery is not emailed")

	// The notices are notifications of kind "notice", signed with Standard Webhooks too.
	list := env.JSON("GET", "/b/webhook/v1/notifications/?kind=notice", nil, http.StatusOK)
	require.Equal(t, float64(2), list["count"])
	require.Equal(t, "notice", list["results"].([]any)[0].(map[string]any)["kind"])
}

func metricsText(t *testing.T, env *phtest.Env) string {
	t.Helper()
	resp, err := http.Get(env.URL + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

func TestDashboardEndpoints_DisabledURLResumedWithConfirmation(t *testing.T) {
	t.Parallel()
	env, _, _, _ := healthEnv(t, nil)
	merchant := phtest.NewReceiver(t)
	var up atomic.Bool
	merchant.Respond = func(_ int, w http.ResponseWriter, _ *http.Request) {
		if up.Load() {
			w.WriteHeader(http.StatusOK)
			return
		}
		w.WriteHeader(http.StatusBadGateway)
	}
	driveTo(t, env, merchant.URL, "disabled")
	addNotifications(t, env, merchant.URL, 100, 3)
	phtest.Eventually(t, 5*time.Second, func() bool { return endpointOf(t, env, merchant.URL)["held"] == float64(3) }, "three held")

	createUser(t, env, "viewer@shop.example", payhook.RoleViewer)
	viewer := newBrowser(t, env)
	require.Equal(t, http.StatusSeeOther, viewer.login("viewer@shop.example", staffPassword).Code)
	body := viewer.getOK("/dashboard/endpoints")
	id := endpointRowID(t, body, merchant.URL)
	require.Equal(t, "Disabled", textOf(t, body, id+"-state"))
	require.Equal(t, "3", textOf(t, body, id+"-held"))
	require.False(t, hasID(body, id+"-resume-button"), "a viewer cannot resume")
	require.Equal(t, http.StatusForbidden, viewer.post("/dashboard/endpoints/resume", url.Values{"url": {merchant.URL}, "confirm": {"1"}}).Code)

	b := signIn(t, env)
	body = b.getOK("/dashboard/endpoints")
	require.True(t, hasID(body, id+"-resume-button"))
	confirm := b.post("/dashboard/endpoints/resume", url.Values{"url": {merchant.URL}})
	require.Equal(t, http.StatusOK, confirm.Code, confirm.Body)
	require.Equal(t, "3", textOf(t, confirm.Body, "confirm-held"))
	require.Equal(t, "disabled", endpointOf(t, env, merchant.URL)["state"], "the first POST changes nothing")

	up.Store(true)
	before := len(merchant.Requests())
	page := b.post("/dashboard/endpoints/resume", url.Values{"url": {merchant.URL}, "confirm": {"1"}})
	require.Equal(t, http.StatusSeeOther, page.Code, page.Body)
	require.Equal(t, "/dashboard/endpoints?done=endpoint_resumed", page.Location)
	require.Contains(t, flashOf(b.getOK(page.Location)), "its held notifications are being sent")
	merchant.Wait(t, before+3, 5*time.Second)
	phtest.Eventually(t, 5*time.Second, func() bool {
		body := b.getOK("/dashboard/endpoints")
		return textOf(t, body, id+"-state") == "Healthy" && strings.Contains(body, "3 sent, 3 delivered, 0 failed, 0 still held")
	}, "healthy, and the progress shown")
	audit := b.getOK("/dashboard/audit")
	require.Contains(t, audit, "Webhook URL resumed")
}

func TestDashboardConfig_EndpointHealthBlock(t *testing.T) {
	t.Parallel()
	env := phtest.New(t)
	b := signIn(t, env)
	form := configFormOf(t, b.getOK("/dashboard/webhook/config"))
	require.Equal(t, "3600", form.Get("endpoint_failing_after"))
	require.Equal(t, "432000", form.Get("endpoint_disable_after"))
	require.Equal(t, "10", form.Get("endpoint_resume_rate"))
	require.Equal(t, "", form.Get("operations_notices_url"))

	bad := url.Values{}
	for k, v := range form {
		bad[k] = v
	}
	bad.Set("endpoint_disable_after", "60")
	p := b.post("/dashboard/webhook/config", bad)
	require.Equal(t, http.StatusBadRequest, p.Code)
	require.Contains(t, fieldError(p.Body, "endpoint_disable_after"), "must be 0 (never) or at least endpoint_failing_after")
	require.Contains(t, p.Body, `value="60"`, "what was typed is kept")

	form.Set("endpoint_failing_after", "0.5")
	form.Set("endpoint_disable_after", "0")
	form.Set("operations_notices_url", "https://ops.shop.example/notices")
	b.postRedirect("/dashboard/webhook/config", form, "/dashboard/webhook/config?done=config")
	st, err := env.Service.Settings(t.Context())
	require.NoError(t, err)
	require.Equal(t, payhook.EndpointPolicy{FailingAfter: 500 * time.Millisecond}, st.EndpointPolicy())
	require.Equal(t, "https://ops.shop.example/notices", st.OperationsNoticesURL)
}

func TestDashboardNotifications_NoticeShownWithoutATransaction(t *testing.T) {
	t.Parallel()
	env, _, notices, _ := healthEnv(t, nil)
	n, err := env.Service.SendNotice(t.Context(), payhook.EndpointHealth{URL: "https://shop.example/webhook",
		State: payhook.EndpointFailing, ChangedAt: time.Now()}, payhook.EndpointBecameFailing)
	require.NoError(t, err)
	notices.Wait(t, 1, 5*time.Second)
	b := signIn(t, env)
	body := b.getOK("/dashboard/notifications/" + n.ID)
	require.Contains(t, textOf(t, body, "notice-about"), "An endpoint health notice")
	require.NotContains(t, body, `href="/dashboard/transactions/"`)
	list := b.getOK("/dashboard/notifications?kind=notice")
	require.Contains(t, list, n.ID)
}

// A URL that flaps (failing, recovered, failing again) within the flood-control interval
// gets one "failing" email; the notices tell every change.
func TestEndpointHealth_FlappingURLEmailedOncePerInterval(t *testing.T) {
	t.Parallel()
	env, box, notices, _ := healthEnv(t, map[string]any{"endpoint_disable_after": 0})
	merchant := phtest.NewReceiver(t)
	var up atomic.Bool
	merchant.Respond = func(_ int, w http.ResponseWriter, _ *http.Request) {
		if up.Load() {
			w.WriteHeader(http.StatusOK)
			return
		}
		w.WriteHeader(http.StatusInternalServerError)
	}
	driveTo(t, env, merchant.URL, "failing")
	up.Store(true)
	addNotifications(t, env, merchant.URL, 100, 1)
	phtest.Eventually(t, 5*time.Second, func() bool { return endpointOf(t, env, merchant.URL)["state"] == "healthy" }, "recovered")
	up.Store(false)
	driveTo(t, env, merchant.URL, "failing")
	got := notices.Wait(t, 3, 5*time.Second)
	var events []string
	for _, r := range got {
		var b map[string]any
		require.NoError(t, json.Unmarshal(r.Body, &b))
		events = append(events, b["event"].(string))
	}
	require.Equal(t, []string{"endpoint.failing", "endpoint.recovered", "endpoint.failing"}, events)
	phtest.Eventually(t, 5*time.Second, func() bool { return len(box.subjects()) >= 1 }, "the first failing email")
	time.Sleep(200 * time.Millisecond)
	require.Len(t, box.subjects(), 1, "the second is held back by flood control, to be summed up by the next")
}

func TestEndpointsAPI_BadInputNamedNothingChanged(t *testing.T) {
	t.Parallel()
	env := phtest.New(t)
	code, body := env.Do("POST", "/b/webhook/v1/endpoints/resume/", nil)
	require.Equal(t, http.StatusBadRequest, code, "%s", body)
	require.JSONEq(t, `{"url": ["This field is required: the webhook URL to resume."]}`, string(body))
	code, body = env.Do("POST", "/b/webhook/v1/endpoints/resume/?url="+url.QueryEscape("https://never.example/hook"), nil)
	require.Equal(t, http.StatusNotFound, code, "%s", body)
	require.Contains(t, string(body), `"detail"`)
	code, _ = env.Do("GET", "/b/webhook/v1/endpoints/?url="+url.QueryEscape("https://never.example/hook"), nil)
	require.Equal(t, http.StatusNotFound, code)
	list := env.JSON("GET", "/b/webhook/v1/endpoints", nil, http.StatusOK)
	require.Equal(t, float64(0), list["count"])
	require.Equal(t, []any{}, list["results"])
	code, body = env.Do("GET", "/b/webhook/v1/notifications/?status=parked&kind=alert", nil)
	require.Equal(t, http.StatusBadRequest, code)
	require.Contains(t, string(body), "not one of pending, delivered, failed, not_sent, held")
	require.Contains(t, string(body), "not one of payment, operation, digest, notice")
}

// A test notification to a disabled URL is sent, not held: an operator checks whether the
// merchant is back, and its success clears the state.
func TestEndpointHealth_TestNotificationToADisabledURLIsSent(t *testing.T) {
	t.Parallel()
	env, _, _, _ := healthEnv(t, nil)
	merchant := phtest.NewReceiver(t)
	var up atomic.Bool
	merchant.Respond = func(_ int, w http.ResponseWriter, _ *http.Request) {
		if up.Load() {
			w.WriteHeader(http.StatusOK)
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	driveTo(t, env, merchant.URL, "disabled")
	phtest.Eventually(t, 2*time.Second, func() bool { return env.Engine.Inflight() == 0 }, "the rounds end")
	up.Store(true)
	res, err := env.Service.SendTestNotification(t.Context(), merchant.URL)
	require.NoError(t, err)
	require.NotNil(t, res.Attempt, "attempted, not held")
	require.Equal(t, 200, res.Attempt.StatusCode)
	phtest.Eventually(t, 5*time.Second, func() bool { return endpointOf(t, env, merchant.URL)["state"] == "healthy" },
		"its success clears the state")
}

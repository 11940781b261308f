package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook/gateway/sandbox"
	"github.com/payhook/payhook/internal/phtest"
	"github.com/payhook/payhook/signature"
)

// merchantKey is the HMAC key the tests configure, so that they can verify signatures.
const merchantKey = "merchant-hmac-key-0042"

// merchantAgent is the User-Agent the tests configure.
const merchantAgent = "payhook-test-agent/1.0 (+loopback)"

// shopURL is the merchant's page the customer is sent back to; it is never fetched.
const shopURL = "https://shop.example/return?lang=en"

// setupWebhooks starts payhook with notifications on for API transactions, a known HMAC
// key and User-Agent, and scaled-down timings; patch overrides any of them.
func setupWebhooks(t *testing.T, patch map[string]any) *phtest.Env {
	t.Helper()
	env := phtest.New(t)
	cfg := map[string]any{"enabled": true, "api_transactions_enabled": true, "hmac_key": merchantKey,
		"user_agent": merchantAgent, "timeout": 2, "backoff_factor": 0.1}
	for k, v := range patch {
		cfg[k] = v
	}
	env.Configure(cfg)
	return env
}

// attemptJSON is one attempt as the delivery log API shows it.
type attemptJSON struct {
	Number          int       `json:"number"`
	StartedAt       time.Time `json:"started_at"`
	DurationMS      float64   `json:"duration_ms"`
	StatusCode      *int      `json:"status_code"`
	Error           *string   `json:"error"`
	ResponseExcerpt string    `json:"response_excerpt"`
}

// end is when the attempt ended.
func (a attemptJSON) end() time.Time {
	return a.StartedAt.Add(time.Duration(a.DurationMS * float64(time.Millisecond)))
}

// notificationJSON is a notification as the delivery log API shows it.
type notificationJSON struct {
	ID              string          `json:"id"`
	Kind            string          `json:"kind"`
	SessionID       string          `json:"session_id"`
	ReferenceNumber string          `json:"reference_number"`
	URL             *string         `json:"url"`
	Status          string          `json:"status"`
	Reason          *string         `json:"reason"`
	RedirectDecider bool            `json:"redirect_decider"`
	CreatedAt       time.Time       `json:"created_at"`
	Payload         json.RawMessage `json:"payload"`
	Attempts        []attemptJSON   `json:"attempts"`
}

// notificationPage is one page of the delivery log API.
type notificationPage struct {
	Count    int                `json:"count"`
	Next     *string            `json:"next"`
	Previous *string            `json:"previous"`
	Results  []notificationJSON `json:"results"`
}

// listNotifications GETs the delivery log with a query string and decodes it.
func listNotifications(t *testing.T, env *phtest.Env, query url.Values) notificationPage {
	t.Helper()
	code, b := env.Do("GET", "/b/webhook/v1/notifications/?"+query.Encode(), nil)
	require.Equal(t, http.StatusOK, code, "%s", b)
	var p notificationPage
	require.NoError(t, json.Unmarshal(b, &p), "%s", b)
	return p
}

// sessionNotifications returns the notifications of one session.
func sessionNotifications(t *testing.T, env *phtest.Env, sessionID string) []notificationJSON {
	t.Helper()
	return listNotifications(t, env, url.Values{"session_id": {sessionID}}).Results
}

// onlyNotification returns the session's one notification, failing when there are more.
func onlyNotification(t *testing.T, env *phtest.Env, sessionID string) notificationJSON {
	t.Helper()
	list := sessionNotifications(t, env, sessionID)
	require.Len(t, list, 1, "notifications of %s", sessionID)
	return list[0]
}

// getNotification GETs one notification of the delivery log.
func getNotification(t *testing.T, env *phtest.Env, id string) notificationJSON {
	t.Helper()
	code, b := env.Do("GET", "/b/webhook/v1/notifications/"+id+"/", nil)
	require.Equal(t, http.StatusOK, code, "%s", b)
	var n notificationJSON
	require.NoError(t, json.Unmarshal(b, &n), "%s", b)
	return n
}

// checkoutWith creates a checkout that notifies rc (when not nil) and returns the
// customer to shopURL, with fields overriding the defaults.
func checkoutWith(env *phtest.Env, rc *phtest.Receiver, fields map[string]any) map[string]any {
	f := map[string]any{"redirect_url": shopURL, "order_no": "ORD-1001",
		"customer_email": "jane@example.com", "customer_first_name": "Jane",
		"extra": map[string]any{"cart": "C-77", "channel": "web"}}
	if rc != nil {
		f["webhook_url"] = rc.URL
	}
	for k, v := range fields {
		if v == nil {
			delete(f, k)
			continue
		}
		f[k] = v
	}
	return env.Checkout(f)
}

// strField returns a string field of a decoded JSON object, "" when absent.
func strField(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

// summaryURL is where payhook's payment summary page of a checkout is.
func summaryURL(env *phtest.Env, c map[string]any) string {
	return env.URL + "/b/checkout/" + strField(c, "session_id") + "/summary/"
}

// decodeBody decodes a JSON notification body.
func decodeBody(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m), "%s", b)
	return m
}

// respondWith returns a Respond function that answers every request with code.
func respondWith(code int) func(int, http.ResponseWriter, *http.Request) {
	return func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(code)
		io.WriteString(w, http.StatusText(code))
	}
}

// hangUntilGivenUp holds a request until the client gives up or the receiver closes.
func hangUntilGivenUp(_ int, w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }

func TestPayment_NotifiesMerchantBeforeRedirect(t *testing.T) {
	t.Parallel()
	env := setupWebhooks(t, nil)
	rc := phtest.NewReceiver(t)
	c := checkoutWith(env, rc, nil)

	code, loc := env.Pay(strField(c, "checkout_url"), sandbox.CardSuccess)
	require.Equal(t, http.StatusSeeOther, code)

	// Recorded before Pay returned: the notification went out before the redirect.
	reqs := rc.Requests()
	require.Len(t, reqs, 1)
	req := reqs[0]
	phtest.Validate(t, "payment-webhook", req.Body)
	v, err := signature.Verify(merchantKey, req.Body)
	require.NoError(t, err)
	require.Equal(t, signature.V1, v)
	require.Equal(t, merchantAgent, req.Header.Get("User-Agent"))
	require.Equal(t, "application/json", req.Header.Get("Content-Type"))

	body := decodeBody(t, req.Body)
	require.Equal(t, "paid", body["state"])
	require.Equal(t, "success", body["result"])
	require.Equal(t, "86.000", body["amount"])
	require.Equal(t, strField(c, "session_id"), body["session_id"])
	require.Equal(t, "ORD-1001", body["order_no"])
	require.Equal(t, map[string]any{"cart": "C-77", "channel": "web"}, body["extra"])
	require.Equal(t, "411111******1111", body["pg_params"].(map[string]any)["card_number"])

	n := onlyNotification(t, env, strField(c, "session_id"))
	require.Equal(t, n.ID, req.Header.Get("webhook-id"))
	require.Equal(t, "payment", n.Kind)
	require.Equal(t, "delivered", n.Status)
	require.True(t, n.RedirectDecider)
	require.Equal(t, body["reference_number"], n.ReferenceNumber)
	require.JSONEq(t, string(req.Body), string(n.Payload))
	require.Len(t, n.Attempts, 1)
	require.Equal(t, 200, *n.Attempts[0].StatusCode)

	// 200 and a redirect_url: back to the shop, its own query kept, the references added.
	u, err := url.Parse(loc)
	require.NoError(t, err)
	require.Equal(t, "https://shop.example/return", u.Scheme+"://"+u.Host+u.Path)
	q := u.Query()
	require.Equal(t, "en", q.Get("lang"))
	require.Equal(t, "ORD-1001", q.Get("order_no"))
	require.Equal(t, n.ReferenceNumber, q.Get("reference_number"))
	require.Equal(t, strField(c, "session_id"), q.Get("session_id"))
	require.Equal(t, "C-77", q.Get("cart"))
	require.Equal(t, "web", q.Get("channel"))

	got := env.JSON("GET", "/b/checkout/v1/pymt-txn/"+strField(c, "session_id")+"/", nil, http.StatusOK)
	require.Equal(t, "paid", got["state"])
	require.Equal(t, "credit-card", got["settled_pg_code"])
}

func TestPayment_MerchantAnswerDecidesRedirect(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		answer      int
		redirectURL any // nil: none
		toShop      bool
		status      string
	}{
		{"200 goes to redirect_url", 200, shopURL, true, "delivered"},
		{"201 goes to the summary", 201, shopURL, false, "delivered"},
		{"500 goes to the summary", 500, shopURL, false, "failed"},
		{"302 is a failure, never followed", 302, shopURL, false, "failed"},
		{"200 without redirect_url goes to the summary", 200, nil, false, "delivered"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := setupWebhooks(t, map[string]any{"retries": 3})
			rc := phtest.NewReceiver(t)
			rc.Respond = func(_ int, w http.ResponseWriter, _ *http.Request) {
				if tt.answer == 302 {
					w.Header().Set("Location", rc.Server.URL+"/elsewhere")
				}
				w.WriteHeader(tt.answer)
			}
			c := checkoutWith(env, rc, map[string]any{"redirect_url": tt.redirectURL})

			code, loc := env.Pay(strField(c, "checkout_url"), sandbox.CardSuccess)
			require.Equal(t, http.StatusSeeOther, code)
			if tt.toShop {
				require.True(t, strings.HasPrefix(loc, "https://shop.example/return?"), loc)
			} else {
				require.Equal(t, summaryURL(env, c), loc)
			}
			require.Len(t, rc.Requests(), 1, "one request, and no retry of an answer")
			n := onlyNotification(t, env, strField(c, "session_id"))
			require.Equal(t, tt.status, n.Status)
			require.Len(t, n.Attempts, 1)
			require.Equal(t, tt.answer, *n.Attempts[0].StatusCode)
			require.Nil(t, n.Attempts[0].Error)
		})
	}
}

func TestPayment_NotSentRecordsReason(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		config  map[string]any
		plugin  map[string]any // PUT for e_commerce, when set
		noURL   bool
		reason  string
		wantURL bool
	}{
		{name: "notifications off", config: map[string]any{"enabled": false}, reason: "disabled", wantURL: true},
		{name: "API transactions off", config: map[string]any{"api_transactions_enabled": false},
			reason: "api_transactions_disabled", wantURL: true},
		{name: "state filtered out", plugin: map[string]any{"state_filter_enabled": true, "states": []string{"failed"}},
			reason: "state_filtered", wantURL: true},
		{name: "no URL anywhere", noURL: true, reason: "no_url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := setupWebhooks(t, tt.config)
			if tt.plugin != nil {
				env.JSON("PUT", "/b/webhook/v1/plugins/e_commerce/", tt.plugin, http.StatusOK)
			}
			rc := phtest.NewReceiver(t)
			var c map[string]any
			if tt.noURL {
				c = checkoutWith(env, nil, nil)
			} else {
				c = checkoutWith(env, rc, nil)
			}

			code, loc := env.Pay(strField(c, "checkout_url"), sandbox.CardSuccess)
			require.Equal(t, http.StatusSeeOther, code)
			// Nothing sent: the customer goes to redirect_url at once.
			require.True(t, strings.HasPrefix(loc, "https://shop.example/return?"), loc)
			u, _ := url.Parse(loc)
			require.Equal(t, strField(c, "session_id"), u.Query().Get("session_id"))

			n := onlyNotification(t, env, strField(c, "session_id"))
			require.Equal(t, "not_sent", n.Status)
			require.NotNil(t, n.Reason)
			require.Equal(t, tt.reason, *n.Reason)
			require.Empty(t, n.Attempts)
			require.False(t, n.RedirectDecider)
			if tt.wantURL {
				require.NotNil(t, n.URL)
				require.Equal(t, rc.URL, *n.URL)
			} else {
				require.Nil(t, n.URL)
			}
			require.Empty(t, rc.Requests())
		})
	}
}

func TestPayment_NotSentWithoutRedirectURLGoesToSummary(t *testing.T) {
	t.Parallel()
	env := setupWebhooks(t, map[string]any{"enabled": false})
	c := checkoutWith(env, nil, map[string]any{"redirect_url": nil})
	code, loc := env.Pay(strField(c, "checkout_url"), sandbox.CardSuccess)
	require.Equal(t, http.StatusSeeOther, code)
	require.Equal(t, summaryURL(env, c), loc)
}

func TestPayment_PluginAndTransactionURLsBothNotified(t *testing.T) {
	t.Parallel()
	env := setupWebhooks(t, nil)
	txn, plugin := phtest.NewReceiver(t), phtest.NewReceiver(t)
	plugin.Respond = respondWith(500) // the plugin's answer decides nothing
	env.JSON("PUT", "/b/webhook/v1/plugins/e_commerce/", map[string]any{"webhook_url": plugin.URL}, http.StatusOK)
	c := checkoutWith(env, txn, nil)

	code, loc := env.Pay(strField(c, "checkout_url"), sandbox.CardSuccess)
	require.Equal(t, http.StatusSeeOther, code)
	require.True(t, strings.HasPrefix(loc, "https://shop.example/return?"), "the transaction's 200 decides: %s", loc)
	require.Len(t, txn.Requests(), 1)
	got := plugin.Wait(t, 1, 5*time.Second)

	txnReq := txn.Requests()[0]
	require.Equal(t, txnReq.Body, got[0].Body, "one payload, rendered once")
	require.NotEqual(t, txnReq.Header.Get("webhook-id"), got[0].Header.Get("webhook-id"), "one notification per URL")

	list := sessionNotifications(t, env, strField(c, "session_id"))
	require.Len(t, list, 2)
	byURL := map[string]notificationJSON{}
	for _, n := range list {
		byURL[*n.URL] = n
	}
	require.True(t, byURL[txn.URL].RedirectDecider)
	require.False(t, byURL[plugin.URL].RedirectDecider)
	require.Equal(t, txnReq.Header.Get("webhook-id"), byURL[txn.URL].ID)
	require.Equal(t, got[0].Header.Get("webhook-id"), byURL[plugin.URL].ID)
	phtest.Eventually(t, 5*time.Second, func() bool {
		return getNotification(t, env, byURL[plugin.URL].ID).Status == "failed"
	}, "the plugin's notification is recorded as failed")
}

func TestPayment_PluginURLDecidesWithoutTransactionURL(t *testing.T) {
	t.Parallel()
	env := setupWebhooks(t, nil)
	plugin := phtest.NewReceiver(t)
	env.JSON("PUT", "/b/webhook/v1/plugins/e_commerce/", map[string]any{"webhook_url": plugin.URL}, http.StatusOK)
	c := checkoutWith(env, nil, nil)

	_, loc := env.Pay(strField(c, "checkout_url"), sandbox.CardSuccess)
	require.True(t, strings.HasPrefix(loc, "https://shop.example/return?"), loc)
	require.Len(t, plugin.Requests(), 1, "awaited before the redirect")
	n := onlyNotification(t, env, strField(c, "session_id"))
	require.True(t, n.RedirectDecider)
	require.Equal(t, "delivered", n.Status)
}

func TestPayment_SameURLInPluginAndTransactionSentOnce(t *testing.T) {
	t.Parallel()
	env := setupWebhooks(t, nil)
	rc := phtest.NewReceiver(t)
	env.JSON("PUT", "/b/webhook/v1/plugins/e_commerce/", map[string]any{"webhook_url": rc.URL}, http.StatusOK)
	c := checkoutWith(env, rc, nil)

	code, _ := env.Pay(strField(c, "checkout_url"), sandbox.CardSuccess)
	require.Equal(t, http.StatusSeeOther, code)
	n := onlyNotification(t, env, strField(c, "session_id"))
	require.True(t, n.RedirectDecider)
	require.Equal(t, "delivered", n.Status)
	// Give a wrongly queued second request the time to arrive.
	time.Sleep(100 * time.Millisecond)
	require.Len(t, rc.Requests(), 1)
}

// A declined card or a gateway error is a try, not the end (SPEC §7): attempted,
// notified with result failed or error, payable again.
func TestPayment_FailedCardsNotifyAttempted(t *testing.T) {
	t.Parallel()
	tests := []struct {
		card, result string
	}{
		{sandbox.CardDeclined, "failed"},
		{sandbox.CardError, "error"},
	}
	for _, tt := range tests {
		t.Run(tt.result, func(t *testing.T) {
			t.Parallel()
			env := setupWebhooks(t, nil)
			rc := phtest.NewReceiver(t)
			c := checkoutWith(env, rc, nil)

			code, _ := env.Pay(strField(c, "checkout_url"), tt.card)
			require.Equal(t, http.StatusSeeOther, code)
			reqs := rc.Requests()
			require.Len(t, reqs, 1)
			phtest.Validate(t, "payment-webhook", reqs[0].Body)
			_, err := signature.Verify(merchantKey, reqs[0].Body)
			require.NoError(t, err)
			body := decodeBody(t, reqs[0].Body)
			require.Equal(t, "attempted", body["state"])
			require.Equal(t, tt.result, body["result"])
			require.NotContains(t, body, "paid_amount")
			require.Equal(t, "0.000", body["total_paid_amount"])

			got := env.JSON("GET", "/b/checkout/v1/pymt-txn/"+strField(c, "session_id")+"/", nil, http.StatusOK)
			require.Equal(t, "attempted", got["state"])
		})
	}
}

func TestPayment_CancelNotifiesCanceled(t *testing.T) {
	t.Parallel()
	env := setupWebhooks(t, nil)
	rc := phtest.NewReceiver(t)
	c := checkoutWith(env, rc, nil)

	code, loc := env.PostForm(strField(c, "checkout_url"), url.Values{"action": {"cancel"}})
	require.Equal(t, http.StatusSeeOther, code)
	require.True(t, strings.HasPrefix(loc, "https://shop.example/return?"), loc)
	reqs := rc.Requests()
	require.Len(t, reqs, 1)
	phtest.Validate(t, "payment-webhook", reqs[0].Body)
	body := decodeBody(t, reqs[0].Body)
	require.Equal(t, "canceled", body["state"])
	require.Equal(t, "canceled", body["result"])

	got := env.JSON("GET", "/b/checkout/v1/pymt-txn/"+strField(c, "session_id"), nil, http.StatusOK)
	require.Equal(t, "canceled", got["state"])
}

func TestPayment_PayingTwiceIsConflict(t *testing.T) {
	t.Parallel()
	env := setupWebhooks(t, nil)
	rc := phtest.NewReceiver(t)
	c := checkoutWith(env, rc, nil)

	code, _ := env.Pay(strField(c, "checkout_url"), sandbox.CardSuccess)
	require.Equal(t, http.StatusSeeOther, code)
	code, loc := env.Pay(strField(c, "checkout_url"), sandbox.CardSuccess)
	require.Equal(t, http.StatusConflict, code)
	require.Empty(t, loc)
	code, _ = env.PostForm(strField(c, "checkout_url"), url.Values{"action": {"cancel"}})
	require.Equal(t, http.StatusConflict, code, "a paid checkout cannot be canceled either")

	require.Len(t, rc.Requests(), 1)
	require.Len(t, sessionNotifications(t, env, strField(c, "session_id")), 1)
	got := env.JSON("GET", "/b/checkout/v1/pymt-txn/"+strField(c, "session_id")+"/", nil, http.StatusOK)
	require.Equal(t, "paid", got["state"])
}

func TestPayment_SummaryShowsReference(t *testing.T) {
	t.Parallel()
	env := setupWebhooks(t, nil)
	rc := phtest.NewReceiver(t)
	rc.Respond = respondWith(201)
	c := checkoutWith(env, rc, nil)

	_, loc := env.Pay(strField(c, "checkout_url"), sandbox.CardSuccess)
	require.Equal(t, summaryURL(env, c), loc)
	resp, err := env.Client.Get(loc)
	require.NoError(t, err)
	defer resp.Body.Close()
	page, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, resp.Header.Get("Content-Type"), "text/html")
	ref := onlyNotification(t, env, strField(c, "session_id")).ReferenceNumber
	require.NotEmpty(t, ref)
	require.Contains(t, string(page), ref)
	require.Contains(t, string(page), "Payment successful")
	require.Contains(t, string(page), "411111******1111")
}

func TestPayment_CardNumberNeverStoredOrSent(t *testing.T) {
	t.Parallel()
	env := setupWebhooks(t, nil)
	rc := phtest.NewReceiver(t)
	c := checkoutWith(env, rc, nil)
	code, loc := env.Pay(strField(c, "checkout_url"), sandbox.CardSuccess)
	require.Equal(t, http.StatusSeeOther, code)
	require.NotContains(t, loc, sandbox.CardSuccess)

	require.Len(t, rc.Requests(), 1)
	require.NotContains(t, string(rc.Requests()[0].Body), sandbox.CardSuccess)
	_, list := env.Do("GET", "/b/webhook/v1/notifications/?session_id="+strField(c, "session_id"), nil)
	require.Contains(t, string(list), "411111******1111")
	require.NotContains(t, string(list), sandbox.CardSuccess)
	_, txn := env.Do("GET", "/b/checkout/v1/pymt-txn/"+strField(c, "session_id")+"/", nil)
	require.NotContains(t, string(txn), sandbox.CardSuccess)

	// The database, its write-ahead log included.
	for _, p := range []string{env.DBPath, env.DBPath + "-wal"} {
		b, err := os.ReadFile(p)
		if os.IsNotExist(err) {
			continue
		}
		require.NoError(t, err)
		require.NotEmpty(t, b)
		require.False(t, bytes.Contains(b, []byte(sandbox.CardSuccess)), "%s holds the full card number", p)
	}
	wal, err := os.ReadFile(env.DBPath + "-wal")
	require.NoError(t, err)
	db, _ := os.ReadFile(env.DBPath)
	require.True(t, bytes.Contains(append(db, wal...), []byte("411111******1111")), "the masked number is stored: the check reads the right files")
}

// xmlNode is a generic XML element.
type xmlNode struct {
	XMLName xml.Name
	Text    string    `xml:",chardata"`
	Nodes   []xmlNode `xml:",any"`
}

func TestPayment_XMLFormat(t *testing.T) {
	t.Parallel()
	env := setupWebhooks(t, map[string]any{"format": "xml"})
	rc := phtest.NewReceiver(t)
	c := checkoutWith(env, rc, nil)
	code, _ := env.Pay(strField(c, "checkout_url"), sandbox.CardSuccess)
	require.Equal(t, http.StatusSeeOther, code)

	reqs := rc.Requests()
	require.Len(t, reqs, 1)
	require.Equal(t, "application/xml", reqs[0].Header.Get("Content-Type"))
	var root xmlNode
	require.NoError(t, xml.Unmarshal(reqs[0].Body, &root), "%s", reqs[0].Body)
	require.Equal(t, "payload", root.XMLName.Local)

	// A merchant reading the XML can check the signature over its top-level fields.
	fields := map[string]any{}
	var sig string
	for _, n := range root.Nodes {
		if len(n.Nodes) > 0 {
			continue
		}
		if n.XMLName.Local == "signature" {
			sig = n.Text
			continue
		}
		fields[n.XMLName.Local] = n.Text
	}
	require.Equal(t, "paid", fields["state"])
	require.Equal(t, strField(c, "session_id"), fields["session_id"])
	want, err := signature.Sign(signature.V1, merchantKey, fields)
	require.NoError(t, err)
	require.Equal(t, want, sig)

	n := onlyNotification(t, env, strField(c, "session_id"))
	require.Equal(t, "delivered", n.Status)
	var logged string
	require.NoError(t, json.Unmarshal(n.Payload, &logged), "an XML payload is logged as a string")
	require.Equal(t, string(reqs[0].Body), logged)
}

func TestPayment_V2SignatureVerifies(t *testing.T) {
	t.Parallel()
	env := setupWebhooks(t, map[string]any{"version": "v2"})
	rc := phtest.NewReceiver(t)
	c := checkoutWith(env, rc, nil)
	env.Pay(strField(c, "checkout_url"), sandbox.CardSuccess)

	reqs := rc.Requests()
	require.Len(t, reqs, 1)
	phtest.Validate(t, "payment-webhook", reqs[0].Body)
	v, err := signature.Verify(merchantKey, reqs[0].Body)
	require.NoError(t, err)
	require.Equal(t, signature.V2, v)
}

func TestPayment_StandardWebhooksHeadersVerify(t *testing.T) {
	t.Parallel()
	env := setupWebhooks(t, nil)
	cfg := env.Configure(map[string]any{"standard_webhooks": true})
	secret := strField(cfg, "standard_webhooks_secret")
	require.True(t, strings.HasPrefix(secret, "whsec_"), secret)
	rc := phtest.NewReceiver(t)
	c := checkoutWith(env, rc, nil)
	env.Pay(strField(c, "checkout_url"), sandbox.CardSuccess)

	reqs := rc.Requests()
	require.Len(t, reqs, 1)
	wh, err := standardwebhooks.NewWebhook(secret)
	require.NoError(t, err)
	require.NoError(t, wh.Verify(reqs[0].Body, reqs[0].Header))
	require.Equal(t, onlyNotification(t, env, strField(c, "session_id")).ID, reqs[0].Header.Get("webhook-id"))
}

// The documents' scenario (SPEC §4), scaled down: timeout 20 s → 0.4 s, backoff 5 s →
// 0.2 s, the merchant back at 30 s → 0.7 s after the first request arrived.
func TestPayment_RetriesAfterTimeoutThenDelivers(t *testing.T) {
	t.Parallel()
	const (
		timeout = 400 * time.Millisecond
		backoff = 200 * time.Millisecond
		back    = 700 * time.Millisecond
	)
	env := setupWebhooks(t, map[string]any{"timeout": 0.4, "retries": 3, "backoff_factor": 0.2})
	rc := phtest.NewReceiver(t)
	rc.Respond = func(_ int, w http.ResponseWriter, r *http.Request) {
		first := rc.Requests()[0].At
		select {
		case <-time.After(time.Until(first.Add(back))):
			w.WriteHeader(http.StatusOK)
		case <-r.Context().Done():
		}
	}
	c := checkoutWith(env, rc, nil)

	start := time.Now()
	code, loc := env.Pay(strField(c, "checkout_url"), sandbox.CardSuccess)
	took := time.Since(start)
	require.Equal(t, http.StatusSeeOther, code)
	require.True(t, strings.HasPrefix(loc, "https://shop.example/return?"), "delivered with a 200: %s", loc)
	require.GreaterOrEqual(t, took, back, "the customer waited for the answer")

	n := onlyNotification(t, env, strField(c, "session_id"))
	require.Equal(t, "delivered", n.Status)
	require.Len(t, n.Attempts, 2, "no third attempt")
	a1, a2 := n.Attempts[0], n.Attempts[1]
	require.Equal(t, 1, a1.Number)
	require.Nil(t, a1.StatusCode)
	require.NotNil(t, a1.Error)
	require.Equal(t, "timeout after 0.4s", *a1.Error)
	require.InDelta(t, float64(timeout.Milliseconds()), a1.DurationMS, 100)
	require.Equal(t, 2, a2.Number)
	require.Equal(t, 200, *a2.StatusCode)
	require.Nil(t, a2.Error)
	gap := a2.StartedAt.Sub(a1.end())
	require.GreaterOrEqual(t, gap, backoff, "attempt 2 waits one backoff after attempt 1 timed out")
	require.LessOrEqual(t, gap, backoff+150*time.Millisecond)
	require.Len(t, rc.Requests(), 2)
}

func TestPayment_MerchantThatNeverAnswersFailsAfterAllAttempts(t *testing.T) {
	t.Parallel()
	env := setupWebhooks(t, map[string]any{"timeout": 0.2, "retries": 3, "backoff_factor": 0.1})
	rc := phtest.NewReceiver(t)
	rc.Respond = hangUntilGivenUp
	c := checkoutWith(env, rc, nil)

	code, loc := env.Pay(strField(c, "checkout_url"), sandbox.CardSuccess)
	require.Equal(t, http.StatusSeeOther, code)
	require.Equal(t, summaryURL(env, c), loc)
	n := onlyNotification(t, env, strField(c, "session_id"))
	require.Equal(t, "failed", n.Status)
	require.Len(t, n.Attempts, 3)
	for i, a := range n.Attempts {
		require.Equal(t, i+1, a.Number)
		require.Nil(t, a.StatusCode)
		require.Equal(t, "timeout after 0.2s", *a.Error)
	}
	require.Len(t, rc.Requests(), 3)
}

func TestPayment_RetryDisabledMakesOneAttempt(t *testing.T) {
	t.Parallel()
	env := setupWebhooks(t, map[string]any{"timeout": 0.2, "retries": 3, "retry_enabled": false})
	rc := phtest.NewReceiver(t)
	rc.Respond = hangUntilGivenUp
	c := checkoutWith(env, rc, nil)

	_, loc := env.Pay(strField(c, "checkout_url"), sandbox.CardSuccess)
	require.Equal(t, summaryURL(env, c), loc)
	n := onlyNotification(t, env, strField(c, "session_id"))
	require.Equal(t, "failed", n.Status)
	require.Len(t, n.Attempts, 1)
	require.Equal(t, "timeout after 0.2s", *n.Attempts[0].Error)
}

func TestPayment_ErrorAnswerIsNotRetried(t *testing.T) {
	t.Parallel()
	env := setupWebhooks(t, map[string]any{"retries": 5})
	rc := phtest.NewReceiver(t)
	rc.Respond = respondWith(500)
	c := checkoutWith(env, rc, nil)

	_, loc := env.Pay(strField(c, "checkout_url"), sandbox.CardSuccess)
	require.Equal(t, summaryURL(env, c), loc)
	n := onlyNotification(t, env, strField(c, "session_id"))
	require.Equal(t, "failed", n.Status)
	require.Len(t, n.Attempts, 1)
	require.Equal(t, 500, *n.Attempts[0].StatusCode)
	require.Equal(t, "Internal Server Error", n.Attempts[0].ResponseExcerpt)
	time.Sleep(200 * time.Millisecond) // two backoffs: a wrong retry would have come
	require.Len(t, rc.Requests(), 1)
}

func TestPayment_RefusedConnectionIsRetried(t *testing.T) {
	t.Parallel()
	env := setupWebhooks(t, map[string]any{"retries": 3, "backoff_factor": 0.05})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := "http://" + l.Addr().String() + "/webhook"
	require.NoError(t, l.Close())
	c := checkoutWith(env, nil, map[string]any{"webhook_url": closed})

	code, loc := env.Pay(strField(c, "checkout_url"), sandbox.CardSuccess)
	require.Equal(t, http.StatusSeeOther, code)
	require.Equal(t, summaryURL(env, c), loc)
	n := onlyNotification(t, env, strField(c, "session_id"))
	require.Equal(t, "failed", n.Status)
	require.Len(t, n.Attempts, 3)
	for _, a := range n.Attempts {
		require.Nil(t, a.StatusCode)
		require.NotNil(t, a.Error)
		require.Equal(t, "connection refused", *a.Error)
	}
}

func TestPayment_DeliveryOutlivesTheCustomersRequest(t *testing.T) {
	t.Parallel()
	env := setupWebhooks(t, map[string]any{"timeout": 1})
	rc := phtest.NewReceiver(t)
	release := make(chan struct{})
	rc.Respond = func(_ int, w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
			w.WriteHeader(http.StatusOK)
		case <-r.Context().Done():
		}
	}
	c := checkoutWith(env, rc, nil)

	// The customer's browser gives up while payhook waits for the merchant.
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	form := url.Values{"card_number": {sandbox.CardSuccess}, "card_expiry": {"12/39"}, "card_cvv": {"123"}}
	req, err := http.NewRequestWithContext(ctx, "POST", strField(c, "checkout_url"), strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	_, err = env.Client.Do(req)
	require.Error(t, err)
	rc.Wait(t, 1, 2*time.Second)
	close(release)

	id := onlyNotification(t, env, strField(c, "session_id")).ID
	phtest.Eventually(t, 3*time.Second, func() bool { return getNotification(t, env, id).Status == "delivered" },
		"the notification is delivered although the customer left")
	require.Len(t, rc.Requests(), 1)
}

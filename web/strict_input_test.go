package web_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook"
	"github.com/payhook/payhook/app"
	"github.com/payhook/payhook/internal/phtest"
)

// Input rules: invalid UTF-8, NUL and duplicate keys are a 400 naming the field, and
// nothing is stored; request bodies are bounded in time and in number.

// checkoutBody is a valid checkout request with extra JSON spliced in as its last fields.
func checkoutBody(more string) string {
	return `{"type": "e_commerce", "amount": "86", "currency_code": "KWD", "pg_codes": ["credit-card"]` + more + `}`
}

// transactionCount is how many transactions the store holds.
func transactionCount(t *testing.T, env *phtest.Env) int {
	t.Helper()
	_, n, err := env.Store.ListTransactions(context.Background(), payhook.TransactionFilter{})
	require.NoError(t, err)
	return n
}

// requireFieldError checks a 400 in Ottu's {"field": ["message"]} shape naming field,
// with a message containing want.
func requireFieldError(t *testing.T, code int, body []byte, field, want string) {
	t.Helper()
	require.Equal(t, http.StatusBadRequest, code, "%s", body)
	var m map[string][]string
	require.NoError(t, json.Unmarshal(body, &m), "%s", body)
	require.Contains(t, m, field, "%s", body)
	require.Contains(t, strings.Join(m[field], " "), want, "%s", body)
}

func TestStrictInputCheckoutAPI(t *testing.T) {
	env := phtest.New(t)
	for _, tc := range []struct {
		name, body, field, want string
	}{
		{"duplicate key at the top", checkoutBody(`, "order_no": "A-1", "order_no": "A-2"`), "order_no", "Duplicate key"},
		{"duplicate amount", checkoutBody(`, "amount": "1"`), "amount", "Duplicate key"},
		{"duplicate nested key", checkoutBody(`, "extra": {"note": "a", "note": "b"}`), "extra.note", "Duplicate key"},
		{"duplicate key deeper", checkoutBody(`, "extra": {"cart": {"items": [{"sku": "x", "sku": "y"}]}}`), "extra.cart.items[0].sku", "Duplicate key"},
		{"duplicate spelled with an escape", checkoutBody(`, "order_no": "A-1", "order_\u006eo": "A-2"`), "order_no", "Duplicate key"},
		{"invalid UTF-8", checkoutBody(`, "customer_email": "jane` + "\xff\xfe" + `@example.com"`), "customer_email", "not valid UTF-8"},
		{"invalid UTF-8 nested", checkoutBody(`, "extra": {"note": "caf` + "\xe9" + `"}`), "extra.note", "not valid UTF-8"},
		{"escaped NUL", checkoutBody(`, "order_no": "A\u0000B"`), "order_no", "NUL"},
		{"raw NUL", checkoutBody(`, "order_no": "A` + "\x00" + `B"`), "order_no", "NUL"},
		{"NUL in an array item", checkoutBody(`, "extra": {"tags": ["ok", "b\u0000d"]}`), "extra.tags[1]", "NUL"},
		{"lone surrogate", checkoutBody(`, "order_no": "A\ud800B"`), "order_no", "surrogate"},
		{"NUL in a key", checkoutBody(`, "extra": {"no\u0000te": "x"}`), `extra.no\u0000te`, "field name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, b := env.Do("POST", checkoutPath, tc.body)
			requireFieldError(t, code, b, tc.field, tc.want)
			require.Zero(t, transactionCount(t, env), "nothing is stored")
		})
	}
	// What the rules allow still passes: escapes, a valid surrogate pair, non-ASCII text.
	code, b := env.Do("POST", checkoutPath, checkoutBody(`, "order_no": "ok\n\u00e9\ud83d\ude00", "extra": {"note": "café 😀", "list": [{"a": 1}, {"a": 2}]}`))
	require.Equal(t, http.StatusCreated, code, "%s", b)
	require.Equal(t, 1, transactionCount(t, env))
	// A body that is not JSON at all keeps the decoder's parse error.
	code, b = env.Do("POST", checkoutPath, `{"type": `)
	require.Equal(t, http.StatusBadRequest, code)
	require.Contains(t, string(b), "JSON parse error")
}

func TestStrictInputEveryJSONAPI(t *testing.T) {
	env := phtest.New(t)
	env.Configure(map[string]any{"enabled": true, "api_transactions_enabled": true})
	ctx := context.Background()
	st0, _, err := env.Store.Settings(ctx)
	require.NoError(t, err)
	sid := env.Checkout(nil)["session_id"].(string)
	_, notes0, err := env.Store.ListNotifications(ctx, payhook.NotificationFilter{})
	require.NoError(t, err)
	for _, tc := range []struct {
		method, path, body, field string
	}{
		{"PATCH", "/b/webhook/v1/config/", `{"timeout": 5, "timeout": 6}`, "timeout"},
		{"PATCH", "/b/webhook/v1/config/", `{"user_agent": "x` + "\xff" + `"}`, "user_agent"},
		{"PUT", "/b/webhook/v1/plugins/e_commerce/", `{"webhook_url": "https://a.example/", "webhook_url": "https://b.example/"}`, "webhook_url"},
		{"PUT", "/b/webhook/v1/plugins/e_commerce/", `{"states": ["paid", "fa\u0000iled"]}`, "states[1]"},
		{"POST", "/b/pbl/v2/operation/", `{"operation": "cancel", "session_id": "` + sid + `", "session_id": "other"}`, "session_id"},
		{"POST", "/b/pbl/v2/operation/", `{"operation": "cancel", "session_id": "` + sid + "\xc3" + `"}`, "session_id"},
		{"POST", "/b/pbl/v2/inquiry/", `{"session_id": "` + sid + `", "notify_webhook_url": true, "notify_webhook_url": false}`, "notify_webhook_url"},
		{"POST", "/b/pbl/v2/sign/", `{"amount": "1.000", "amount": "2.000"}`, "amount"},
		{"POST", "/b/pbl/v2/sign/", `{"txn": {"state": "paid", "state": "failed"}}`, "txn.state"},
		{"POST", "/b/pbl/v2/payment-methods/", `{"plugin": "e_commerce", "currencies": ["KWD"], "currencies": ["USD"]}`, "currencies"},
		{"POST", "/b/pbl/v2/payment-methods/", `{"plugin": "e_commerce\u0000"}`, "plugin"},
	} {
		t.Run(tc.method+" "+tc.path+" "+tc.field, func(t *testing.T) {
			code, b := env.Do(tc.method, tc.path, tc.body)
			requireFieldError(t, code, b, tc.field, "")
		})
	}
	// Nothing changed: the settings' revision, the plugin configs, the transaction and its
	// notifications.
	st1, _, err := env.Store.Settings(ctx)
	require.NoError(t, err)
	require.Equal(t, st0.Revision, st1.Revision, "the settings did not change")
	plugins, err := env.Store.ListPluginSettings(ctx)
	require.NoError(t, err)
	require.Empty(t, plugins)
	tx, err := env.Store.Transaction(ctx, sid)
	require.NoError(t, err)
	require.Equal(t, payhook.StateCreated, tx.State)
	_, notes1, err := env.Store.ListNotifications(ctx, payhook.NotificationFilter{})
	require.NoError(t, err)
	require.Equal(t, notes0, notes1)
}

func TestStrictInputCheckoutForm(t *testing.T) {
	env := phtest.New(t)
	rc := phtest.NewReceiver(t)
	env.Configure(map[string]any{"enabled": true, "api_transactions_enabled": true})
	ch := env.Checkout(map[string]any{"webhook_url": rc.URL})
	for _, tc := range []struct {
		name, field string
		form        url.Values
	}{
		{"NUL in the holder", "card_holder", url.Values{"card_number": {"4111111111111111"}, "card_expiry": {"12/39"}, "card_cvv": {"123"}, "card_holder": {"Jane\x00Doe"}}},
		{"invalid UTF-8 in the number", "card_number", url.Values{"card_number": {"4111111111111111\xff"}, "card_expiry": {"12/39"}, "card_cvv": {"123"}}},
		{"NUL in a field's name", `x\u0000y`, url.Values{"card_number": {"4111111111111111"}, "card_expiry": {"12/39"}, "card_cvv": {"123"}, "x\x00y": {"1"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := env.Client.PostForm(ch["checkout_url"].(string), tc.form)
			require.NoError(t, err)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.Equal(t, http.StatusBadRequest, resp.StatusCode, "%s", body)
			require.Contains(t, string(body), `role="alert"`, "the page shows the error")
			require.Contains(t, string(body), tc.field+": ")
			require.Contains(t, string(body), `name="card_number"`, "the card form is shown again")
			tx, err := env.Store.Transaction(context.Background(), ch["session_id"].(string))
			require.NoError(t, err)
			require.Equal(t, payhook.StateCreated, tx.State, "nothing was paid")
			require.Empty(t, rc.Requests(), "nothing was notified")
		})
	}
}

func TestStrictInputDashboardForm(t *testing.T) {
	env := phtest.New(t)
	b := signIn(t, env)
	keys0, err := env.Store.ListAPIKeys(context.Background())
	require.NoError(t, err)
	for _, name := range []string{"ci\x00key", "ci\xffkey"} {
		p := b.post("/dashboard/api-keys", url.Values{"name": {name}})
		require.Equal(t, http.StatusBadRequest, p.Code, "%s", p.Body)
		require.Contains(t, p.Body, "name: ")
		require.Contains(t, p.Body, "The form was refused.")
	}
	keys1, err := env.Store.ListAPIKeys(context.Background())
	require.NoError(t, err)
	require.Equal(t, len(keys0), len(keys1), "no key was created")
	// The sign-in form too: a NUL in the email is refused before the password is checked.
	b2 := newBrowser(t, env)
	p := b2.login(staffEmail+"\x00", staffPassword)
	require.Equal(t, http.StatusBadRequest, p.Code, "%s", p.Body)
	require.Contains(t, p.Body, "email: ")
}

// bodyEnv is a running payhook with the request-body bounds scaled down.
type bodyEnv struct {
	addr string
	app  *app.App
}

func newBodyEnv(t *testing.T, timeout time.Duration, maxReads int) *bodyEnv {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	base := "http://" + ln.Addr().String()
	a, err := app.Open(context.Background(), app.Config{Database: filepath.Join(t.TempDir(), "payhook.db"), BaseURL: base,
		AllowPrivate: true, APIKey: phtest.APIKey, Owner: "test", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		BodyTimeout: timeout, MaxBodyReads: maxReads})
	require.NoError(t, err)
	a.Start()
	go a.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		a.Shutdown(ctx)
	})
	return &bodyEnv{addr: ln.Addr().String(), app: a}
}

// slowPost opens a connection and sends a checkout request's headers, then its body one
// byte per gap (in the background, until the body is sent or the connection fails). It
// returns the connection, from which the answer can be read.
func (e *bodyEnv) slowPost(t *testing.T, body string, gap time.Duration) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", e.addr)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	_, err = fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Api-Key %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n",
		checkoutPath, e.addr, phtest.APIKey, len(body))
	require.NoError(t, err)
	go func() {
		for i := 0; i < len(body); i++ {
			if _, err := conn.Write([]byte{body[i]}); err != nil {
				return
			}
			time.Sleep(gap)
		}
	}()
	return conn
}

func (e *bodyEnv) transactions(t *testing.T) int {
	t.Helper()
	_, n, err := e.app.Store.ListTransactions(context.Background(), payhook.TransactionFilter{})
	require.NoError(t, err)
	return n
}

func readAnswer(t *testing.T, conn net.Conn) *http.Response {
	t.Helper()
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp
}

func TestSlowBodyIsCutOff(t *testing.T) {
	const bound = 500 * time.Millisecond
	e := newBodyEnv(t, bound, 0)
	start := time.Now()
	// A byte every 100 ms: the 80-odd bytes would take 8 s; the bound cuts it at 0.5 s.
	conn := e.slowPost(t, checkoutBody(""), 100*time.Millisecond)
	resp := readAnswer(t, conn)
	took := time.Since(start)
	require.Equal(t, http.StatusRequestTimeout, resp.StatusCode)
	require.GreaterOrEqual(t, took, bound)
	require.Less(t, took, bound+3*time.Second)
	require.Zero(t, e.transactions(t), "nothing is stored")

	// A body that arrives within the bound, in pieces, is served; so is a request
	// whose answer takes longer than the bound (only the body is bounded).
	conn = e.slowPost(t, checkoutBody(""), time.Millisecond)
	resp = readAnswer(t, conn)
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	require.Equal(t, 1, e.transactions(t))
}

func TestLongAnswerOutlivesBodyBound(t *testing.T) {
	const bound = 200 * time.Millisecond
	e := newBodyEnv(t, bound, 0)
	rc := phtest.NewReceiver(t)
	rc.Respond = func(n int, w http.ResponseWriter, r *http.Request) {
		time.Sleep(3 * bound) // the merchant answers after the body bound has passed
		w.WriteHeader(http.StatusOK)
	}
	api := func(method, path, body string) (int, string) {
		req, err := http.NewRequest(method, "http://"+e.addr+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Api-Key "+phtest.APIKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, b := api("PATCH", "/b/webhook/v1/config/", `{"enabled": true, "api_transactions_enabled": true}`)
	require.Equal(t, http.StatusOK, code, b)
	code, b = api("POST", checkoutPath, checkoutBody(`, "webhook_url": "`+rc.URL+`", "redirect_url": "https://shop.example/done"`))
	require.Equal(t, http.StatusCreated, code, b)
	checkoutURL := b[strings.Index(b, `"checkout_url":"`)+len(`"checkout_url":"`):]
	checkoutURL = checkoutURL[:strings.Index(checkoutURL, `"`)]
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	start := time.Now()
	resp, err := client.PostForm(checkoutURL, url.Values{"card_number": {"4111111111111111"}, "card_expiry": {"12/39"}, "card_cvv": {"123"}})
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Contains(t, resp.Header.Get("Location"), "https://shop.example/done")
	require.GreaterOrEqual(t, time.Since(start), 3*bound)
}

func TestSlowBodiesAreCapped(t *testing.T) {
	e := newBodyEnv(t, 2*time.Second, 2)
	// Two bodies trickling in take both slots.
	slow := []net.Conn{e.slowPost(t, checkoutBody(""), 50*time.Millisecond), e.slowPost(t, checkoutBody(""), 50*time.Millisecond)}
	// The server takes a slot when it starts reading a request; wait until both are
	// held: a third request with a body is then refused at once.
	deadline := time.Now().Add(5 * time.Second)
	for {
		conn, err := net.Dial("tcp", e.addr)
		require.NoError(t, err)
		fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nAuthorization: Api-Key %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
			checkoutPath, phtest.APIKey, len(checkoutBody("")), checkoutBody(""))
		resp := readAnswer(t, conn)
		conn.Close()
		if resp.StatusCode == http.StatusServiceUnavailable {
			require.Equal(t, "1", resp.Header.Get("Retry-After"))
			break
		}
		require.Equal(t, http.StatusCreated, resp.StatusCode)
		require.True(t, time.Now().Before(deadline), "the slow bodies never took both slots")
		time.Sleep(10 * time.Millisecond)
	}
	n := e.transactions(t)
	// A request without a body is not held back.
	req, err := http.NewRequest("GET", "http://"+e.addr+"/b/webhook/v1/config/", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Api-Key "+phtest.APIKey)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	// Once the slow bodies end (here: their connections close), bodies are read again.
	for _, c := range slow {
		c.Close()
	}
	require.Eventually(t, func() bool {
		conn, err := net.Dial("tcp", e.addr)
		if err != nil {
			return false
		}
		defer conn.Close()
		fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nAuthorization: Api-Key %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
			checkoutPath, phtest.APIKey, len(checkoutBody("")), checkoutBody(""))
		return readAnswer(t, conn).StatusCode == http.StatusCreated
	}, 5*time.Second, 20*time.Millisecond)
	require.Equal(t, n+1, e.transactions(t))
}

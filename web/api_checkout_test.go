package web_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite" // to count rows in the Env's database

	"github.com/payhook/payhook/internal/phtest"
)

const checkoutPath = "/b/checkout/v1/pymt-txn/"

// validCheckout is a Checkout API body that is accepted.
func validCheckout() map[string]any {
	return map[string]any{"type": "e_commerce", "amount": "86.000", "currency_code": "KWD", "pg_codes": []string{"credit-card"}}
}

// sendRaw makes a request with the given headers (no API key unless given) and returns the
// status, headers and body.
func sendRaw(t *testing.T, env *phtest.Env, method, path string, header http.Header, body []byte) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, env.URL+path, bytes.NewReader(body))
	require.NoError(t, err)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := env.Client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, b
}

// requireDetail checks that b is Ottu's {"detail": "…"} error and nothing else.
func requireDetail(t *testing.T, b []byte) {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m), "%s", b)
	require.Len(t, m, 1, "%s", b)
	d, ok := m["detail"].(string)
	require.True(t, ok, "%s", b)
	require.NotEmpty(t, d)
}

// requireFieldErrors checks that b is Ottu's {"field": ["message"]} shape naming field.
func requireFieldErrors(t *testing.T, b []byte, fields ...string) map[string][]string {
	t.Helper()
	var m map[string][]string
	require.NoError(t, json.Unmarshal(b, &m), "not {\"field\": [\"message\"]}: %s", b)
	for _, f := range fields {
		require.NotEmpty(t, m[f], "no error on %s: %s", f, b)
		for _, msg := range m[f] {
			require.NotEmpty(t, msg)
		}
	}
	return m
}

// countRows counts the rows of a table in the Env's database file.
func countRows(t *testing.T, env *phtest.Env, table string) int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+env.DBPath+"?mode=ro")
	require.NoError(t, err)
	defer db.Close()
	var n int
	require.NoError(t, db.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM "+table).Scan(&n))
	return n
}

func TestCheckout_CreateAndRetrieveWithOrWithoutTrailingSlash(t *testing.T) {
	t.Parallel()
	env := phtest.New(t)
	for _, path := range []string{checkoutPath, strings.TrimSuffix(checkoutPath, "/")} {
		body := validCheckout()
		body["order_no"] = "ORD-" + path[len(path)-1:]
		body["customer_email"] = "jane@example.com"
		code, b := env.Do("POST", path, body)
		require.Equal(t, http.StatusCreated, code, "POST %s: %s", path, b)
		phtest.Validate(t, "checkout-response", b)
		var created map[string]any
		require.NoError(t, json.Unmarshal(b, &created))
		id := strField(created, "session_id")
		require.NotEmpty(t, id)
		require.Equal(t, "created", created["state"])
		require.Equal(t, "86.000", created["amount"])
		require.Equal(t, "KWD", created["currency_code"])
		require.Equal(t, body["order_no"], created["order_no"])
		require.Equal(t, "jane@example.com", created["customer_email"])
		require.True(t, strings.HasPrefix(strField(created, "checkout_url"), env.URL+"/"), created["checkout_url"])
		methods, ok := created["payment_methods"].([]any)
		require.True(t, ok)
		require.Len(t, methods, 1)
		require.Equal(t, "credit-card", methods[0].(map[string]any)["code"])

		for _, get := range []string{checkoutPath + id + "/", checkoutPath + id} {
			code, g := env.Do("GET", get, nil)
			require.Equal(t, http.StatusOK, code, "GET %s: %s", get, g)
			phtest.Validate(t, "checkout-get-response", g)
			var got map[string]any
			require.NoError(t, json.Unmarshal(g, &got))
			require.Equal(t, created, got)
		}
	}
	require.Equal(t, 2, countRows(t, env, "transactions"))
}

func TestCheckout_PageShowsAmountAndCardForm(t *testing.T) {
	t.Parallel()
	env := phtest.New(t)
	c := env.Checkout(map[string]any{"order_no": "ORD-PAGE"})
	for _, u := range []string{strField(c, "checkout_url"), strField(c, "checkout_page_url")} {
		resp, err := env.Client.Get(u)
		require.NoError(t, err)
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, u)
		require.Contains(t, resp.Header.Get("Content-Type"), "text/html")
		require.Contains(t, string(page), "86.000")
		require.Contains(t, string(page), "ORD-PAGE")
		require.Contains(t, string(page), `name="card_number"`)
	}
}

func TestCheckout_RequiresAPIKey(t *testing.T) {
	t.Parallel()
	env := phtest.New(t)
	c := env.Checkout(nil)
	body, _ := json.Marshal(validCheckout())
	for _, auth := range []string{"", "Api-Key wrong-key-123", "Api-Key ", "Bearer " + phtest.APIKey, phtest.APIKey} {
		h := http.Header{"Content-Type": {"application/json"}}
		if auth != "" {
			h.Set("Authorization", auth)
		}
		for _, r := range []struct{ method, path string }{
			{"POST", checkoutPath}, {"GET", checkoutPath + strField(c, "session_id") + "/"}, {"GET", checkoutPath + "no-such-session/"},
		} {
			var b []byte
			if r.method == "POST" {
				b = body
			}
			code, hdr, got := sendRaw(t, env, r.method, r.path, h, b)
			require.Equal(t, http.StatusUnauthorized, code, "%s %s with %q: %s", r.method, r.path, auth, got)
			requireDetail(t, got)
			require.NotEmpty(t, hdr.Get("WWW-Authenticate"))
		}
	}
	_, _, b := sendRaw(t, env, "GET", checkoutPath+strField(c, "session_id")+"/", nil, nil)
	phtest.Validate(t, "generic-error", b)
	require.Equal(t, 1, countRows(t, env, "transactions"), "nothing created without a key")
}

func TestCheckout_RefusesInvalidFields(t *testing.T) {
	t.Parallel()
	env := phtest.New(t)
	tests := []struct {
		name   string
		change map[string]any // nil value: remove the field
		fields []string
	}{
		{"missing type", map[string]any{"type": nil}, []string{"type"}},
		{"missing amount", map[string]any{"amount": nil}, []string{"amount"}},
		{"missing currency_code", map[string]any{"currency_code": nil}, []string{"currency_code"}},
		{"missing pg_codes", map[string]any{"pg_codes": nil}, []string{"pg_codes"}},
		{"bad type", map[string]any{"type": "subscription"}, []string{"type"}},
		{"unknown pg_code", map[string]any{"pg_codes": []string{"credit-card", "no-such-gateway"}}, []string{"pg_codes"}},
		{"empty pg_codes", map[string]any{"pg_codes": []string{}}, []string{"pg_codes"}},
		{"unknown currency", map[string]any{"currency_code": "XYZ"}, []string{"currency_code"}},
		{"too many decimals for KWD", map[string]any{"amount": "20.0001"}, []string{"amount"}},
		{"decimals for JPY", map[string]any{"currency_code": "JPY", "amount": "100.5"}, []string{"amount"}},
		{"negative amount", map[string]any{"amount": "-5.000"}, []string{"amount"}},
		{"zero amount", map[string]any{"amount": "0"}, []string{"amount"}},
		{"amount not a number", map[string]any{"amount": "ten"}, []string{"amount"}},
		{"amount with exponent", map[string]any{"amount": "1e3"}, []string{"amount"}},
		{"non-http webhook_url", map[string]any{"webhook_url": "ftp://merchant.example/hook"}, []string{"webhook_url"}},
		{"relative webhook_url", map[string]any{"webhook_url": "/hook"}, []string{"webhook_url"}},
		{"javascript redirect_url", map[string]any{"redirect_url": "javascript:alert(1)"}, []string{"redirect_url"}},
		{"webhook_url over 2000 characters", map[string]any{"webhook_url": "https://merchant.example/" + strings.Repeat("a", 2000)}, []string{"webhook_url"}},
		{"redirect_url over 2000 characters", map[string]any{"redirect_url": "https://merchant.example/" + strings.Repeat("a", 2000)}, []string{"redirect_url"}},
		{"bad customer_email", map[string]any{"customer_email": "not-an-email"}, []string{"customer_email"}},
		{"extra not an object", map[string]any{"extra": "cart=1"}, []string{"extra"}},
		{"type of the wrong JSON type", map[string]any{"type": 1}, []string{"type"}},
		{"several at once", map[string]any{"type": nil, "amount": "1.0001", "webhook_url": "mailto:x@example.com"}, []string{"type", "amount", "webhook_url"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body := validCheckout()
			for k, v := range tt.change {
				if v == nil {
					delete(body, k)
				} else {
					body[k] = v
				}
			}
			code, b := env.Do("POST", checkoutPath, body)
			require.Equal(t, http.StatusBadRequest, code, "%s", b)
			requireFieldErrors(t, b, tt.fields...)
		})
	}
	t.Cleanup(func() {
		// Every subtest has run by now: none created anything.
		if n := countRows(t, env, "transactions"); n != 0 {
			t.Errorf("%d transactions created by refused requests", n)
		}
	})
}

func TestCheckout_RefusesExtraDecimals(t *testing.T) {
	t.Parallel()
	env := phtest.New(t)
	body := validCheckout()
	body["amount"] = "20.0001"
	code, b := env.Do("POST", checkoutPath, body)
	require.Equal(t, http.StatusBadRequest, code)
	m := requireFieldErrors(t, b, "amount")
	require.Len(t, m, 1, "only amount is wrong: %s", b)
	require.Contains(t, m["amount"][0], "KWD")
	require.Equal(t, 0, countRows(t, env, "transactions"))
	require.Equal(t, 0, countRows(t, env, "notifications"))
}

func TestCheckout_PadsAmountToCurrencyDecimals(t *testing.T) {
	t.Parallel()
	env := phtest.New(t)
	tests := []struct {
		amount   any
		currency string
		want     string
	}{
		{"20", "KWD", "20.000"},
		{"20.5", "KWD", "20.500"},
		{"7.1", "BHD", "7.100"},
		{"15", "SAR", "15.00"},
		{"15.5", "USD", "15.50"},
		{"1500", "JPY", "1500"},
		{"900", "KRW", "900"},
		{json.Number("20"), "KWD", "20.000"},
		{json.Number("12.5"), "EUR", "12.50"},
	}
	for _, tt := range tests {
		t.Run(tt.currency+"_"+string(jsonText(tt.amount)), func(t *testing.T) {
			t.Parallel()
			body := validCheckout()
			body["amount"], body["currency_code"] = tt.amount, tt.currency
			code, b := env.Do("POST", checkoutPath, body)
			require.Equal(t, http.StatusCreated, code, "%s", b)
			phtest.Validate(t, "checkout-response", b)
			var m map[string]any
			require.NoError(t, json.Unmarshal(b, &m))
			require.Equal(t, tt.want, m["amount"])
			require.Equal(t, tt.want, m["payment_methods"].([]any)[0].(map[string]any)["amount"])
			got := env.JSON("GET", checkoutPath+strField(m, "session_id")+"/", nil, http.StatusOK)
			require.Equal(t, tt.want, got["amount"])
		})
	}
}

func jsonText(v any) []byte {
	b, _ := json.Marshal(v)
	return bytes.Trim(b, `"`)
}

func TestCheckout_RefusesMalformedJSON(t *testing.T) {
	t.Parallel()
	env := phtest.New(t)
	for _, body := range []string{`{"type": "e_commerce",`, `[1, 2]`, `"text"`, `{"a": 1} {"b": 2}`, ` `} {
		code, b := env.Do("POST", checkoutPath, body)
		require.Equal(t, http.StatusBadRequest, code, "%q: %s", body, b)
		requireDetail(t, b)
	}
	require.Equal(t, 0, countRows(t, env, "transactions"))
}

func TestCheckout_RefusesBodyOverOneMiB(t *testing.T) {
	t.Parallel()
	env := phtest.New(t)
	body := validCheckout()
	body["extra"] = map[string]any{"blob": strings.Repeat("x", 1<<20)}
	code, b := env.Do("POST", checkoutPath, body)
	require.Equal(t, http.StatusRequestEntityTooLarge, code, "%s", b)
	requireDetail(t, b)
	require.Equal(t, 0, countRows(t, env, "transactions"))

	// Just under the limit is fine.
	body["extra"] = map[string]any{"blob": strings.Repeat("x", 1<<20-200)}
	code, b = env.Do("POST", checkoutPath, body)
	require.Equal(t, http.StatusCreated, code, "%.200s", b)
}

func TestCheckout_UnknownSessionIsNotFound(t *testing.T) {
	t.Parallel()
	env := phtest.New(t)
	for _, p := range []string{checkoutPath + "0123456789abcdef/", checkoutPath + "0123456789abcdef"} {
		code, b := env.Do("GET", p, nil)
		require.Equal(t, http.StatusNotFound, code, "%s", b)
		requireDetail(t, b)
		phtest.Validate(t, "generic-error", b)
	}
}

func TestCheckout_DoesNotEchoExtra(t *testing.T) {
	t.Parallel()
	env := phtest.New(t)
	body := validCheckout()
	body["extra"] = map[string]any{"cart": "C-77", "nested": map[string]any{"a": 1}}
	body["unknown_field"] = "ignored"
	code, b := env.Do("POST", checkoutPath, body)
	require.Equal(t, http.StatusCreated, code, "%s", b)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	require.NotContains(t, m, "extra")
	require.NotContains(t, m, "unknown_field")
	require.NotContains(t, string(b), "C-77")
	got := env.JSON("GET", checkoutPath+strField(m, "session_id")+"/", nil, http.StatusOK)
	require.NotContains(t, got, "extra")
}

// Fields of Ottu's checkout schema that payhook only keeps come back in the answer, and
// the answer still passes Ottu's schema; a bad one is refused by name.
func TestCheckout_EchoesDeclaredFields(t *testing.T) {
	t.Parallel()
	env := phtest.New(t)
	fields := map[string]any{
		"vendor_name": "Shop", "product_type": "books", "customer_phone_2": "+96512345678",
		"customer_birthdate": "1990-02-28", "email_recipients": []string{"a@example.com"},
		"due_datetime": "15/01/2027 11:04",
		"shipping_address": map[string]any{"city": "Kuwait City", "country": "KW", "email": "c@example.com",
			"first_name": "Jane", "last_name": "Doe", "line1": "Street 1", "phone": "+96512345678"},
	}
	answer := env.Checkout(fields)
	for k, v := range fields {
		want, _ := json.Marshal(v)
		got, _ := json.Marshal(answer[k])
		require.JSONEq(t, string(want), string(got), k)
	}
	code, body := env.Do("GET", "/b/checkout/v1/pymt-txn/"+answer["session_id"].(string)+"/", nil)
	require.Equal(t, http.StatusOK, code)
	phtest.Validate(t, "checkout-get-response", body)
	for name, bad := range map[string]any{"customer_birthdate": "28/02/1990", "email_recipients": []string{"nope"},
		"vendor_name": strings.Repeat("x", 65), "shipping_address": map[string]any{"city": "X"}} {
		code, b := env.Do("POST", "/b/checkout/v1/pymt-txn/", map[string]any{"type": "e_commerce", "amount": "1",
			"currency_code": "KWD", "pg_codes": []string{"credit-card"}, name: bad})
		require.Equal(t, http.StatusBadRequest, code, name)
		require.Contains(t, string(b), name)
	}
}

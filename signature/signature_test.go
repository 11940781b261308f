package signature_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook/signature"
)

// specKey is the key of the published test vectors (SPEC §5).
const specKey = "pu9MpX3yPR"

// The published payloads of SPEC §5.
const (
	v1Vector1 = `{"amount":"86.000","currency_code":"KWD","customer_first_name":"example-customer"}`
	v1Vector2 = `{"amount":"86.000","currency_code":"KWD","customer_first_name":"example-customer","customer_last_name":"","customer_email":"customer@example.com","gateway_name":"kpay","gateway_account":"knet","order_no":"ORDER-1001","reference_number":"ABC12","result":"success","session_id":"a12f71075a834a34d692736ac43a212fcebfb6ec","state":"paid"}`
	v2Vector  = `{"amount":"49.990","currency_code":"KWD","customer_email":"customer@example.com","customer_first_name":"Jane","customer_last_name":"","gateway_account":"credit-card","gateway_name":"mpgs","order_no":"ORD-1001","payment_type":"auto_pay","reference_number":"betabulkAQ5DJ","result":"success","session_id":"a12f71075a834a34d692736ac43a212fcebfb6ec","state":"paid","agreement":{"id":"AGR-abc123"},"extra":{"merchant_id":"merchant.ottu.net","autopay":{"subscription_id":"sub_abc123"}},"token":{"token":"9491500736137502","pg_code":"credit-card","customer_id":"cust_12345","brand":"MASTERCARD","number":"**** 0008"}}`
)

func TestSignJSON_PublishedVectors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		version signature.Version
		body    string
		want    string
	}{
		{"v1 first vector", signature.V1, v1Vector1, "6143b8ad4bd283540721ab000f6de746e722231aaaa90bc38f639081d3ff9f67"},
		{"v1 second vector", signature.V1, v1Vector2, "29e70de083707b3a738e9d5f4df4e4481d082c4614db97a55f50d4b4583dc5f2"},
		{"v2 vector", signature.V2, v2Vector, "4ea44c61554e6b64feeb82e6bfc724dc1c46bf183596f5375f5cb12cca14b7ef"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := signature.SignJSON(tt.version, specKey, []byte(tt.body))
			require.NoError(t, err)
			require.Equal(t, tt.want, got)

			// Verify recognises the scheme once the signature is in the body.
			version, err := signature.Verify(specKey, withSignature(t, tt.body, got))
			require.NoError(t, err)
			require.Equal(t, tt.version, version)
		})
	}
}

func TestMessage(t *testing.T) {
	t.Parallel()
	refund, err := os.ReadFile("testdata/refund.docs.json")
	require.NoError(t, err)
	tests := []struct {
		name    string
		version signature.Version
		body    string
		want    string
	}{
		{"v1 vector", signature.V1, v1Vector1, "amount86.000currency_codeKWDcustomer_first_nameexample-customer"},
		{"v1 skips empty and unsigned fields", signature.V1, v1Vector2,
			"amount86.000currency_codeKWDcustomer_emailcustomer@example.comcustomer_first_nameexample-customer" +
				"gateway_accountknetgateway_namekpayorder_noORDER-1001reference_numberABC12resultsuccessstatepaid"},
		{"v1 operation notification", signature.V1, string(refund),
			"amount9.000order_noY3ODgreference_numberstaging4AQ64Aresultsuccess"},
		{"v2 vector", signature.V2, v2Vector, strings.Join([]string{
			"agreement.id=AGR-abc123",
			"amount=49.990",
			"currency_code=KWD",
			"customer_email=customer@example.com",
			"customer_first_name=Jane",
			"extra.autopay.subscription_id=sub_abc123",
			"extra.merchant_id=merchant.ottu.net",
			"gateway_account=credit-card",
			"gateway_name=mpgs",
			"order_no=ORD-1001",
			"payment_type=auto_pay",
			"reference_number=betabulkAQ5DJ",
			"result=success",
			"session_id=a12f71075a834a34d692736ac43a212fcebfb6ec",
			"state=paid",
			"token.customer_id=cust_12345",
			"token.pg_code=credit-card",
			"token.token=9491500736137502",
		}, "\n")},
		{"v2 operation notification", signature.V2, string(refund), strings.Join([]string{
			"amount=9.000",
			"order_no=Y3ODg",
			"reference_number=staging4AQ64A",
			"result=success",
			"session_id=bb7fc280827c2f177a9690299cfefa4128dbbd60",
		}, "\n")},
		{"v1 no signed field", signature.V1, `{"foo":"bar"}`, ""},
		{"v2 no signed field", signature.V2, `{"foo":"bar"}`, ""},
		{"v1 null is left out", signature.V1, `{"amount":null,"state":"paid"}`, "statepaid"},
		{"v1 ignores nested values", signature.V1, `{"amount":{"value":"1"},"state":["paid"],"result":"success"}`, "resultsuccess"},
		{"v1 numbers keep their text, bools print as JSON", signature.V1, `{"amount":86.0,"result":false,"state":1e3}`, "amount86.0resultfalsestate1e3"},
		{"v2 path through a non-object is left out", signature.V2, `{"token":"abc","extra":{"autopay":[1]}}`, ""},
		{"v2 path to an object is left out", signature.V2, `{"agreement":{"id":{"x":"y"}},"token":{"token":""}}`, ""},
		{"v2 top-level dotted key is not a path", signature.V2, `{"token.token":"abc"}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := signature.Message(tt.version, decodeNumbers(t, tt.body))
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

// TestMessage_SignsEveryFieldInOrder pins the signed names of SPEC §5 and
// their order.
func TestMessage_SignsEveryFieldInOrder(t *testing.T) {
	t.Parallel()
	v1 := []string{
		"amount", "currency_code", "customer_address_city", "customer_address_country",
		"customer_address_line1", "customer_address_line2", "customer_address_postal_code",
		"customer_address_state", "customer_email", "customer_first_name", "customer_last_name",
		"customer_phone", "gateway_account", "gateway_name", "order_no", "reference_number",
		"result", "state",
	}
	v2 := append(slices.Clone(v1), "agreement.id", "extra.autopay.subscription_id",
		"extra.merchant_id", "payment_type", "session_id", "token.customer_id", "token.pg_code",
		"token.token")
	slices.Sort(v2)

	payload := map[string]any{}
	for _, path := range v2 {
		obj := payload
		names := strings.Split(path, ".")
		for _, name := range names[:len(names)-1] {
			if _, ok := obj[name]; !ok {
				obj[name] = map[string]any{}
			}
			obj = obj[name].(map[string]any)
		}
		obj[names[len(names)-1]] = "x"
	}

	msg, err := signature.Message(signature.V1, payload)
	require.NoError(t, err)
	require.Equal(t, strings.Join(v1, "x")+"x", msg)

	msg, err = signature.Message(signature.V2, payload)
	require.NoError(t, err)
	require.Equal(t, strings.Join(v2, "=x\n")+"=x", msg)
}

func TestSign_GoValues(t *testing.T) {
	t.Parallel()
	// A payload built in Go signs like the same payload decoded from JSON.
	got, err := signature.Sign(signature.V1, specKey, map[string]any{
		"amount": "86.000", "currency_code": "KWD", "customer_first_name": "example-customer",
		"customer_last_name": "", "customer_phone": nil, "extra": map[string]any{"a": 1},
	})
	require.NoError(t, err)
	require.Equal(t, "6143b8ad4bd283540721ab000f6de746e722231aaaa90bc38f639081d3ff9f67", got)

	msg, err := signature.Message(signature.V1, map[string]any{"amount": 86.5, "order_no": 7, "result": true})
	require.NoError(t, err)
	require.Equal(t, "amount86.5order_no7resulttrue", msg)
}

func TestSign_Errors(t *testing.T) {
	t.Parallel()
	_, err := signature.Sign("v3", specKey, map[string]any{})
	require.ErrorIs(t, err, signature.ErrUnknownVersion)

	_, err = signature.Sign(signature.V1, specKey, map[string]any{"amount": struct{}{}})
	require.ErrorContains(t, err, "amount")

	for _, body := range []string{``, `not json`, `[]`, `"x"`, `null`, `{"amount":"1"} {}`, `{"amount":`} {
		_, err = signature.SignJSON(signature.V1, specKey, []byte(body))
		require.Error(t, err, "body %q", body)
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	const v1Sig = "6143b8ad4bd283540721ab000f6de746e722231aaaa90bc38f639081d3ff9f67"
	tests := []struct {
		name    string
		body    string
		want    signature.Version
		wantErr error
	}{
		{"v1 match", withSig(v1Vector1, strconv.Quote(v1Sig)), signature.V1, nil},
		{"uppercase hex is a mismatch", withSig(v1Vector1, strconv.Quote(strings.ToUpper(v1Sig))), "", signature.ErrMismatch},
		{"tampered amount", strings.Replace(withSig(v1Vector1, strconv.Quote(v1Sig)), "86.000", "86.001", 1), "", signature.ErrMismatch},
		{"no signature field", v1Vector1, "", signature.ErrNoSignature},
		{"null signature", withSig(v1Vector1, "null"), "", signature.ErrNoSignature},
		{"empty signature", withSig(v1Vector1, `""`), "", signature.ErrNoSignature},
		{"number signature", withSig(v1Vector1, "42"), "", signature.ErrNoSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := signature.Verify(specKey, []byte(tt.body))
			require.ErrorIs(t, err, tt.wantErr)
			require.Equal(t, tt.want, got)
		})
	}

	_, err := signature.Verify("wrong-key", []byte(withSig(v1Vector1, strconv.Quote(v1Sig))))
	require.ErrorIs(t, err, signature.ErrMismatch)

	_, err = signature.Verify(specKey, []byte(`{"signature":`))
	require.Error(t, err)
	require.NotErrorIs(t, err, signature.ErrMismatch)
}

func TestStandardWebhooks_VerifiedByReferenceLibrary(t *testing.T) {
	t.Parallel()
	secret, err := signature.NewStandardWebhooksSecret()
	require.NoError(t, err)
	const id = "msg_2Lx4Wc8uVq1b"
	now := time.Now()
	body := []byte(v1Vector2)

	header, err := signature.StandardWebhooksSign(secret, id, now, body)
	require.NoError(t, err)

	wh, err := standardwebhooks.NewWebhook(secret)
	require.NoError(t, err)
	h := http.Header{}
	h.Set(standardwebhooks.HeaderWebhookID, id)
	h.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(now.Unix(), 10))
	h.Set(standardwebhooks.HeaderWebhookSignature, header)
	require.NoError(t, wh.Verify(body, h))

	// And the other way round: we accept what the reference library signs.
	theirs, err := wh.Sign(id, now, body)
	require.NoError(t, err)
	require.Equal(t, theirs, header)
	require.NoError(t, signature.StandardWebhooksVerify(secret, id, strconv.FormatInt(now.Unix(), 10),
		theirs, body, now, signature.StandardWebhooksTolerance))
}

func TestStandardWebhooksSign_KnownAnswer(t *testing.T) {
	t.Parallel()
	// The example of the Standard Webhooks specification.
	got, err := signature.StandardWebhooksSign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
		"msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	require.NoError(t, err)
	require.Equal(t, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", got)
}

func TestNewStandardWebhooksSecret(t *testing.T) {
	t.Parallel()
	a, err := signature.NewStandardWebhooksSecret()
	require.NoError(t, err)
	b, err := signature.NewStandardWebhooksSecret()
	require.NoError(t, err)
	require.NotEqual(t, a, b)
	require.True(t, strings.HasPrefix(a, "whsec_"))
	require.Len(t, a, len("whsec_")+44) // base64 of 32 bytes
}

func TestStandardWebhooksVerify(t *testing.T) {
	t.Parallel()
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	const id = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	body := []byte(`{"test": 2432232314}`)
	sent := time.Unix(1614265330, 0)
	ts := strconv.FormatInt(sent.Unix(), 10)
	good, err := signature.StandardWebhooksSign(secret, id, sent, body)
	require.NoError(t, err)
	other, err := signature.StandardWebhooksSign("whsec_"+"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", id, sent, body)
	require.NoError(t, err)

	tests := []struct {
		name      string
		id        string
		timestamp string
		header    string
		body      []byte
		now       time.Time
		wantErr   error // nil: success; errAny: some other error
	}{
		{"valid", id, ts, good, body, sent, nil},
		{"valid within tolerance", id, ts, good, body, sent.Add(5 * time.Minute), nil},
		{"one of several signatures", id, ts, other + " v1a,abc " + good, body, sent, nil},
		{"too old", id, ts, good, body, sent.Add(5*time.Minute + time.Second), signature.ErrTimestamp},
		{"too new", id, ts, good, body, sent.Add(-5*time.Minute - time.Second), signature.ErrTimestamp},
		{"wrong secret", id, ts, other, body, sent, signature.ErrMismatch},
		{"tampered body", id, ts, good, []byte(`{"test": 2432232315}`), sent, signature.ErrMismatch},
		{"other id", "msg_other", ts, good, body, sent, signature.ErrMismatch},
		{"no v1 signature", id, ts, "v1a,abc", body, sent, signature.ErrNoSignature},
		{"empty header", id, ts, "", body, sent, signature.ErrNoSignature},
		{"bad timestamp", id, "yesterday", good, body, sent, errAny},
		{"empty id", "", ts, good, body, sent, errAny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := signature.StandardWebhooksVerify(secret, tt.id, tt.timestamp, tt.header, tt.body, tt.now, signature.StandardWebhooksTolerance)
			switch tt.wantErr {
			case nil:
				require.NoError(t, err)
			case errAny:
				require.Error(t, err)
			default:
				require.ErrorIs(t, err, tt.wantErr)
			}
		})
	}

	err = signature.StandardWebhooksVerify("whsec_!!", id, ts, good, body, sent, time.Minute)
	require.ErrorContains(t, err, "secret")
	_, err = signature.StandardWebhooksSign("whsec_", id, sent, body)
	require.ErrorContains(t, err, "secret")
}

var errAny = fmt.Errorf("any error")

// withSig adds a "signature" member with the raw JSON value to a JSON object.
func withSig(body, value string) string {
	return strings.TrimSuffix(body, "}") + `,"signature":` + value + "}"
}

func withSignature(t *testing.T, body, sig string) []byte {
	t.Helper()
	return []byte(withSig(body, strconv.Quote(sig)))
}

func decodeNumbers(t *testing.T, body string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(body))
	dec.UseNumber()
	var payload map[string]any
	require.NoError(t, dec.Decode(&payload))
	return payload
}

package payload

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook"
	"github.com/payhook/payhook/signature"
)

// goldenKey is the HMAC key of the golden payloads (SPEC §5's test vectors use it too).
const goldenKey = "pu9MpX3yPR"

// goldenNow is the time the golden payloads are rendered at.
var goldenNow = time.Date(2026, 3, 14, 9, 26, 53, 589_000_000, time.FixedZone("AST", 3*3600))

// paidTransaction is a paid KWD checkout with every customer field, extra and a card.
func paidTransaction() *payhook.Transaction {
	created := time.Date(2026, 3, 14, 6, 0, 0, 0, time.UTC)
	return &payhook.Transaction{
		SessionID: "a12f71075a834a34d692736ac43a212fcebfb6ec", ReferenceNumber: "PHK7Q2M9XB4D", OrderNo: "ORDER-1001",
		Type: payhook.PluginECommerce, Origin: payhook.OriginAPI, State: payhook.StatePaid,
		Amount: 86000, Currency: "KWD", PGCodes: []string{"credit-card"},
		WebhookURL: "https://merchant.example/hook", RedirectURL: "https://merchant.example/return",
		Customer: payhook.Customer{Email: "customer@example.com", FirstName: "example-customer", LastName: "Doe",
			Phone: "+96599999999", ID: "cust-42", Address: &payhook.Address{Line1: "Block 3, Street 12",
				City: "Kuwait City", Country: "KW", PostalCode: "13001"}},
		Extra:           json.RawMessage(`{"cart":"C-77","tags":["vip","web"],"qty":2}`),
		ExpiresAt:       created.Add(payhook.DefaultExpiration),
		CreatedAt:       created,
		UpdatedAt:       created,
		GatewayCode:     "credit-card",
		GatewayName:     "sandbox",
		GatewayResponse: json.RawMessage(`{"amount":"86.000","result":"CAPTURED","response_code":"00"}`),
		Result:          payhook.ResultSuccess,
		Message:         "Approved",
		Card:            &payhook.Card{Masked: "411111******1111", Expiry: "12/30", Holder: "Jane Doe"},
		Sandbox:         true,
		PaidAmount:      86000,
	}
}

// declinedTransaction is a declined SAR checkout without order_no, customer or extra.
func declinedTransaction() *payhook.Transaction {
	created := time.Date(2026, 3, 14, 6, 0, 0, 0, time.UTC)
	return &payhook.Transaction{
		SessionID: "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c", ReferenceNumber: "PH3DW8RKJ5NA",
		Type: payhook.PluginPaymentRequest, Origin: payhook.OriginDashboard, State: payhook.StateFailed,
		Amount: 1500, Currency: "SAR", PGCodes: []string{"credit-card"},
		ExpiresAt: created.Add(payhook.DefaultExpiration), CreatedAt: created, UpdatedAt: created,
		GatewayCode: "credit-card", GatewayName: "sandbox",
		GatewayResponse: json.RawMessage(`{"result":"NOT CAPTURED","response_code":"05"}`),
		Result:          payhook.ResultFailed, Message: "Declined by the issuer (sandbox test card)",
		Card:    &payhook.Card{Masked: "400000******0002", Expiry: "01/29"},
		Sandbox: true,
	}
}

func TestPayment_Golden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		txn     func() *payhook.Transaction
		version string
		format  string
	}{
		{"payment_paid_v1_json", paidTransaction, "v1", payhook.FormatJSON},
		{"payment_paid_v2_json", paidTransaction, "v2", payhook.FormatJSON},
		{"payment_paid_v1_xml", paidTransaction, "v1", payhook.FormatXML},
		{"payment_declined_v1_json", declinedTransaction, "v1", payhook.FormatJSON},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := payhook.DefaultSettings(goldenKey)
			st.Version, st.Format = tt.version, tt.format
			body, ct, err := Encode(Payment(tt.txn(), goldenNow), st)
			require.NoError(t, err)
			golden(t, tt.name, body)

			if tt.format == payhook.FormatXML {
				require.Equal(t, ContentTypeXML, ct)
				requireWellFormed(t, body)
				return
			}
			// Ottu's checker runs on these files in payment_wire_test.go (package
			// payload_test: phtest imports this package, so it cannot be imported here).
			require.Equal(t, ContentTypeJSON, ct)
			v, err := signature.Verify(goldenKey, body)
			require.NoError(t, err)
			require.Equal(t, signature.Version(tt.version), v)
		})
	}
}

func TestPayment_SameInputSameBytes(t *testing.T) {
	t.Parallel()
	st := payhook.DefaultSettings(goldenKey)
	a, _, err := Encode(Payment(paidTransaction(), goldenNow), st)
	require.NoError(t, err)
	b, _, err := Encode(Payment(paidTransaction(), goldenNow), st)
	require.NoError(t, err)
	require.Equal(t, a, b)
}

func TestPayment_XMLCarriesTheJSONSignature(t *testing.T) {
	t.Parallel()
	st := payhook.DefaultSettings(goldenKey)
	j, _, err := Encode(Payment(paidTransaction(), goldenNow), st)
	require.NoError(t, err)
	st.Format = payhook.FormatXML
	x, _, err := Encode(Payment(paidTransaction(), goldenNow), st)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(j, &m))
	root := requireWellFormed(t, x)
	require.Equal(t, m["signature"], root.child(t, "signature", nil).Text)
}

func TestPayment_WireFacts(t *testing.T) {
	t.Parallel()
	m := Payment(paidTransaction(), goldenNow)
	require.Equal(t, "2026-03-14 06:26:53", m["timestamp_utc"], "UTC, without fractions")
	require.Equal(t, "86.000", m["amount"])
	require.Equal(t, "0.000 KWD", m["fee"])
	require.Equal(t, map[string]any{"amount": "86.000", "currency_code": "KWD", "fee": "0.000", "total": "86.000"}, m["amount_details"])
	require.Equal(t, "86.000", m["paid_amount"])
	require.Equal(t, "0.000", m["remaining_amount"])
	require.Equal(t, "411111******1111", m["pg_params"].(map[string]any)["card_number"])

	d := Payment(declinedTransaction(), goldenNow)
	require.Contains(t, d, "order_no")
	require.Nil(t, d["order_no"], "order_no is null when the checkout had none")
	require.Equal(t, "15.00", d["amount"])
	require.Equal(t, "15.00", d["remaining_amount"])
	require.NotContains(t, d, "paid_amount")
	require.NotContains(t, d, "customer_email")
	require.Equal(t, map[string]any{}, d["extra"])
}

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

// attemptedTransaction is a SAR checkout without order_no, customer or extra whose
// first try was declined: attempted, the customer may try again (SPEC §7).
func attemptedTransaction() *payhook.Transaction {
	created := time.Date(2026, 3, 14, 6, 0, 0, 0, time.UTC)
	card := &payhook.Card{Masked: "400000******0002", Expiry: "01/29"}
	return &payhook.Transaction{
		SessionID: "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c", ReferenceNumber: "PH3DW8RKJ5NA",
		Type: payhook.PluginPaymentRequest, Origin: payhook.OriginDashboard, State: payhook.StateAttempted,
		Amount: 1500, Currency: "SAR", PGCodes: []string{"credit-card"},
		ExpiresAt: created.Add(payhook.DefaultExpiration), CreatedAt: created, UpdatedAt: created,
		GatewayCode: "credit-card", GatewayName: "sandbox",
		GatewayResponse: json.RawMessage(`{"result":"NOT CAPTURED","response_code":"05"}`),
		Result:          payhook.ResultFailed, Message: "Declined by the issuer (sandbox test card)",
		Card:    card,
		Sandbox: true,
		Tries: []payhook.Try{{Reference: "pay_0123456789abcdef01234567", At: created.Add(time.Minute), PGCode: "credit-card",
			Card: card, Result: payhook.ResultFailed, Message: "Declined by the issuer (sandbox test card)"}},
	}
}

// attemptedErrorTransaction is attemptedTransaction whose try met a gateway error.
func attemptedErrorTransaction() *payhook.Transaction {
	t := attemptedTransaction()
	t.GatewayResponse = json.RawMessage(`{"result":"ERROR","response_code":"96"}`)
	t.Result, t.Message = payhook.ResultError, "Gateway error (sandbox test card)"
	t.Card = &payhook.Card{Masked: "400000******0119", Expiry: "01/29"}
	return t
}

// authorizedTransaction is paidTransaction authorized by an authorize-only gateway.
func authorizedTransaction() *payhook.Transaction {
	t := paidTransaction()
	t.State, t.PaidAmount, t.AuthorizedAmount = payhook.StateAuthorized, 0, t.Amount
	t.GatewayCode, t.Message = "credit-card-auth", "Authorized"
	t.GatewayResponse = json.RawMessage(`{"amount":"86.000","result":"APPROVED","response_code":"00"}`)
	return t
}

// partlyRefundedTransaction is paidTransaction after a refund of 20.000 KWD.
func partlyRefundedTransaction() *payhook.Transaction {
	t := paidTransaction()
	t.RefundedAmount = 20000
	t.Children = []payhook.Child{refundChild()}
	return t
}

// refundChild is a successful refund of 20.000 KWD.
func refundChild() payhook.Child {
	return payhook.Child{SessionID: "9c8b7a6f5e4d3c2b1a09f8e7d6c5b4a392817060", ReferenceNumber: "PHR4F6H8K2MZ",
		Operation: payhook.OpRefund, Amount: 20000, State: payhook.ChildRefunded, Success: true, Message: "Approved",
		GatewayResponse: json.RawMessage(`{"reference_number":"PHR4F6H8K2MZ","result":"SUCCESS","response_code":"00"}`),
		CreatedAt:       time.Date(2026, 3, 14, 7, 0, 0, 0, time.UTC)}
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
		{"payment_attempted_v1_json", attemptedTransaction, "v1", payhook.FormatJSON},
		{"payment_attempted_error_v1_json", attemptedErrorTransaction, "v1", payhook.FormatJSON},
		{"payment_authorized_v1_json", authorizedTransaction, "v1", payhook.FormatJSON},
		{"payment_refunded_partly_v1_json", partlyRefundedTransaction, "v1", payhook.FormatJSON},
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

	d := Payment(attemptedTransaction(), goldenNow)
	require.Contains(t, d, "order_no")
	require.Nil(t, d["order_no"], "order_no is null when the checkout had none")
	require.Equal(t, "15.00", d["amount"])
	require.Equal(t, "15.00", d["remaining_amount"])
	require.NotContains(t, d, "paid_amount")
	require.NotContains(t, d, "customer_email")
	require.Equal(t, map[string]any{}, d["extra"])
	require.Equal(t, "attempted", d["state"])
	require.Equal(t, "failed", d["result"])
	require.NotContains(t, d, "tries", "tries are payhook's own record, not a payload field")
}

// The totals of seed 002's example are always present, decimal strings with the
// currency's decimals, and follow the transaction through authorize, capture, refunds and
// void.
func TestPayment_Totals(t *testing.T) {
	t.Parallel()
	totals := func(txn *payhook.Transaction) [4]any {
		m := Payment(txn, goldenNow)
		return [4]any{m["total_authorized_amount"], m["total_paid_amount"], m["total_refunded_amount"], m["total_voided_amount"]}
	}
	created := &payhook.Transaction{Amount: 86000, Currency: "KWD", State: payhook.StateCreated}
	require.Equal(t, [4]any{"0.000", "0.000", "0.000", "0.000"}, totals(created))
	require.Equal(t, [4]any{"0.00", "0.00", "0.00", "0.00"}, totals(attemptedTransaction()))
	require.Equal(t, [4]any{"0.000", "86.000", "0.000", "0.000"}, totals(paidTransaction()), "a purchase is paid, not authorized")

	auth := authorizedTransaction()
	require.Equal(t, [4]any{"86.000", "0.000", "0.000", "0.000"}, totals(auth))
	captured := authorizedTransaction()
	captured.State, captured.PaidAmount = payhook.StatePaid, 50000 // a partial capture
	require.Equal(t, [4]any{"86.000", "50.000", "0.000", "0.000"}, totals(captured))
	captured.RefundedAmount = 50000
	captured.State = payhook.StateRefunded
	require.Equal(t, [4]any{"86.000", "50.000", "50.000", "0.000"}, totals(captured))
	voided := authorizedTransaction()
	voided.State, voided.VoidedAmount = payhook.StateCanceled, 86000
	require.Equal(t, [4]any{"86.000", "0.000", "0.000", "86.000"}, totals(voided))

	require.Equal(t, [4]any{"0.000", "86.000", "20.000", "0.000"}, totals(partlyRefundedTransaction()))
	full := paidTransaction()
	full.State, full.RefundedAmount = payhook.StateRefunded, 86000
	require.Equal(t, [4]any{"0.000", "86.000", "86.000", "0.000"}, totals(full))

	// Recorded before AuthorizedAmount existed: an authorized transaction, and one voided.
	legacy := authorizedTransaction()
	legacy.AuthorizedAmount = 0
	require.Equal(t, "86.000", Payment(legacy, goldenNow)["total_authorized_amount"])
	legacy.State, legacy.VoidedAmount = payhook.StateCanceled, 86000
	require.Equal(t, "86.000", Payment(legacy, goldenNow)["total_authorized_amount"])

	jpy := &payhook.Transaction{Amount: 1500, Currency: "JPY", State: payhook.StatePaid, PaidAmount: 1500}
	require.Equal(t, "1500", Payment(jpy, goldenNow)["total_paid_amount"], "no decimals for JPY")
}

func TestOperation_Golden(t *testing.T) {
	t.Parallel()
	st := payhook.DefaultSettings(goldenKey)
	txn := partlyRefundedTransaction()
	c := refundChild()
	body, _, err := Encode(Operation(txn, &c, goldenNow), st)
	require.NoError(t, err)
	golden(t, "operation_refund_v1_json", body)
	v, err := signature.Verify(goldenKey, body)
	require.NoError(t, err)
	require.Equal(t, signature.Version("v1"), v)

	// The child as seed 002's example shows it: the customer's email, the extra and the
	// child's own reference; without a customer email the key is left out.
	m := Operation(txn, &c, goldenNow)
	tx := m["txn"].(map[string]any)
	require.Equal(t, "customer@example.com", tx["customer_email"])
	require.Equal(t, "PHR4F6H8K2MZ", tx["reference_number"])
	require.Equal(t, "PHR4F6H8K2MZ", m["reference_number"])
	require.Equal(t, m["extra"], tx["extra"])
	noEmail := attemptedTransaction()
	m = Operation(noEmail, &c, goldenNow)
	require.NotContains(t, m["txn"], "customer_email")
	require.Equal(t, map[string]any{}, m["txn"].(map[string]any)["extra"])
}

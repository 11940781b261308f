package payload

import (
	"testing"
	"time"

	"github.com/payhook/payhook"
)

func benchTransaction() *payhook.Transaction {
	now := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)
	return &payhook.Transaction{
		SessionID: "a12f71075a834a34d692736ac43a212fcebfb6ec", ReferenceNumber: "PHABC12", OrderNo: "ORDER-1001",
		Type: payhook.PluginECommerce, State: payhook.StatePaid, Amount: 86000, Currency: "KWD",
		PGCodes: []string{"credit-card"}, Customer: payhook.Customer{Email: "customer@example.com", FirstName: "example-customer"},
		GatewayCode: "credit-card", GatewayName: "sandbox", Sandbox: true, Result: payhook.ResultSuccess,
		GatewayResponse: []byte(`{"result":"CAPTURED","response_code":"00"}`), PaidAmount: 86000,
		Card: &payhook.Card{Masked: "411111******1111", Expiry: "12/30"}, CreatedAt: now, UpdatedAt: now,
	}
}

// BenchmarkPayment_RenderSignEncode measures the hot path of a payment notification:
// build the payload, sign it, encode it once.
func BenchmarkPayment_RenderSignEncode(b *testing.B) {
	t := benchTransaction()
	now := time.Now()
	for _, f := range []string{payhook.FormatJSON, payhook.FormatXML} {
		b.Run(f, func(b *testing.B) {
			st := payhook.DefaultSettings("pu9MpX3yPR")
			st.Format = f
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := Encode(Payment(t, now), st); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

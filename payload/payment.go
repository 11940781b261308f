package payload

import (
	"time"

	"github.com/payhook/payhook"
)

// Payment builds the payment notification of t at time now (SPEC §6), without its
// signature. It is also the answer of the payment status inquiry.
func Payment(t *payhook.Transaction, now time.Time) map[string]any {
	ccy := t.Currency
	amt := func(a payhook.Amount) string { return a.Format(ccy) }
	var fee payhook.Amount // the sandbox charges no fee
	m := map[string]any{
		"amount": amt(t.Amount),
		"amount_details": map[string]any{
			"amount":        amt(t.Amount),
			"currency_code": ccy,
			"fee":           amt(fee),
			"total":         amt(t.Amount + fee),
		},
		"currency_code":    ccy,
		"extra":            rawObject(t.Extra),
		"fee":              amt(fee) + " " + ccy,
		"gateway_account":  t.GatewayCode,
		"gateway_name":     t.GatewayName,
		"gateway_response": rawObject(t.GatewayResponse),
		"is_sandbox":       t.Sandbox,
		"message":          t.Message,
		"payment_type":     paymentType(t),
		"pg_params":        pgParams(t),
		"reference_number": t.ReferenceNumber,
		"remaining_amount": amt(t.RemainingAmount()),
		"result":           string(result(t)),
		"session_id":       t.SessionID,
		"state":            string(t.State),
		"timestamp_utc":    now.UTC().Format(payhook.TimestampLayout),
		"transactions":     children(t),
		// The totals of seed 002's payment example, always present: what was authorized
		// (by an authorize-only gateway), paid (purchased or captured), refunded and voided.
		"total_authorized_amount": amt(t.TotalAuthorized()),
		"total_paid_amount":       amt(t.PaidAmount),
		"total_refunded_amount":   amt(t.RefundedAmount),
		"total_voided_amount":     amt(t.VoidedAmount),
	}
	if t.OrderNo != "" {
		m["order_no"] = t.OrderNo
	} else {
		m["order_no"] = nil
	}
	c := t.Customer
	setIf(m, "customer_email", c.Email)
	setIf(m, "customer_first_name", c.FirstName)
	setIf(m, "customer_last_name", c.LastName)
	setIf(m, "customer_phone", c.Phone)
	setIf(m, "customer_id", c.ID)
	if a := c.Address; a != nil {
		setIf(m, "customer_address_line1", a.Line1)
		setIf(m, "customer_address_line2", a.Line2)
		setIf(m, "customer_address_city", a.City)
		setIf(m, "customer_address_state", a.State)
		setIf(m, "customer_address_country", a.Country)
		setIf(m, "customer_address_postal_code", a.PostalCode)
	}
	switch t.State {
	case payhook.StatePaid, payhook.StateAuthorized, payhook.StateCOD, payhook.StateRefunded:
		m["paid_amount"] = amt(t.PaidAmount)
		m["settled_amount"] = amt(t.PaidAmount)
	}
	if t.RefundedAmount > 0 {
		m["refunded_amount"] = amt(t.RefundedAmount)
	}
	if t.VoidedAmount > 0 {
		m["voided_amount"] = amt(t.VoidedAmount)
	}
	if in := t.Initiator; in != nil {
		m["initiator"] = initiator(in)
	}
	return m
}

func setIf(m map[string]any, k, v string) {
	if v != "" {
		m[k] = v
	}
}

func paymentType(t *payhook.Transaction) string {
	if t.PaymentType != "" {
		return t.PaymentType
	}
	return "one_off"
}

// result is the transaction's latest result, or the one its state implies.
func result(t *payhook.Transaction) payhook.Result {
	if t.Result != "" {
		return t.Result
	}
	switch t.State {
	case payhook.StatePaid, payhook.StateAuthorized, payhook.StateRefunded:
		return payhook.ResultSuccess
	case payhook.StateFailed:
		return payhook.ResultFailed
	case payhook.StateCanceled, payhook.StateExpired:
		return payhook.ResultCanceled
	case payhook.StateCOD:
		return payhook.ResultCOD
	}
	return payhook.ResultPending
}

// pgParams carries what the gateway returned about the card: never the full number.
func pgParams(t *payhook.Transaction) map[string]any {
	m := map[string]any{}
	if c := t.Card; c != nil {
		m["card_number"] = c.Masked
		m["card_expiry"] = c.Expiry
		if c.Holder != "" {
			m["card_holder"] = c.Holder
		}
	}
	return m
}

func initiator(in *payhook.Initiator) map[string]any {
	m := map[string]any{"id": in.ID, "email": in.Email, "username": in.Username}
	setIf(m, "first_name", in.FirstName)
	setIf(m, "last_name", in.LastName)
	return m
}

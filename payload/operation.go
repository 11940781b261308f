package payload

import (
	"time"

	"github.com/payhook/payhook"
)

// Operation builds the operation notification of child c of t at time now (SPEC §6),
// without its signature. It is also the Operations API's answer for refund, capture and
// void. amount, reference_number and txn are the operation's own; session_id and
// order_no the parent's.
func Operation(t *payhook.Transaction, c *payhook.Child, now time.Time) map[string]any {
	extra := c.Extra
	if len(extra) == 0 {
		extra = t.Extra
	}
	// txn is the child transaction as seed 002's operation example shows it: with the
	// customer's email, the extra and the child's own reference_number.
	txn := map[string]any{
		"amount":           c.Amount.Format(t.Currency),
		"currency_code":    t.Currency,
		"extra":            rawObject(extra),
		"reference_number": c.ReferenceNumber,
		"session_id":       c.SessionID,
	}
	setIf(txn, "customer_email", t.Customer.Email)
	if t.OrderNo != "" {
		txn["order_no"] = t.OrderNo
	} else {
		txn["order_no"] = nil
	}
	if c.State != "" {
		txn["state"] = string(c.State)
	}
	result := "success"
	if !c.Success {
		result = "failed"
	}
	m := map[string]any{
		"amount":           c.Amount.Format(t.Currency),
		"extra":            rawObject(extra),
		"is_sandbox":       t.Sandbox,
		"operation":        c.Operation,
		"pg_code":          t.GatewayCode,
		"pg_params":        map[string]any{},
		"pg_response":      rawObject(c.GatewayResponse),
		"reference_number": c.ReferenceNumber,
		"result":           result,
		"session_id":       t.SessionID,
		"source":           "input",
		"success":          c.Success,
		"timestamp_utc":    now.UTC().Format(payhook.TimestampLayout),
		"txn":              txn,
	}
	if t.OrderNo != "" {
		m["order_no"] = t.OrderNo
	}
	if in := c.Initiator; in != nil {
		m["initiator"] = initiator(in)
	}
	return m
}

// children lists a transaction's child transactions for the payment notification's
// transactions field (declined captures and voids, which made no child, are left out).
func children(t *payhook.Transaction) []any {
	out := []any{}
	for _, c := range t.Children {
		if c.State == "" {
			continue
		}
		item := map[string]any{"amount": c.Amount.Format(t.Currency), "currency_code": t.Currency,
			"session_id": c.SessionID, "state": string(c.State)}
		if t.OrderNo != "" {
			item["order_no"] = t.OrderNo
		} else {
			item["order_no"] = nil
		}
		out = append(out, item)
	}
	return out
}

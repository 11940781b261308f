package payhook

import (
	"bytes"
	"encoding/json"
	"regexp"
	"time"
)

// Operation names (the Operations API's operation field).
const (
	OpRefund  = "refund"
	OpCapture = "capture"
	OpVoid    = "void"
	OpCancel  = "cancel"
	OpExpire  = "expire"
	OpDelete  = "delete"
)

// ChildState is a child transaction's state.
type ChildState string

// The child states Ottu's schema allows.
const (
	ChildPaid           ChildState = "paid" // after a capture
	ChildRefunded       ChildState = "refunded"
	ChildRefundRejected ChildState = "refund_rejected"
	ChildVoided         ChildState = "voided"
)

// Child is a child transaction: one refund, capture or void of a parent transaction.
type Child struct {
	SessionID       string          `json:"session_id"`
	ReferenceNumber string          `json:"reference_number"`
	Operation       string          `json:"operation"`
	Amount          Amount          `json:"amount"`
	State           ChildState      `json:"state,omitempty"` // empty for a declined capture or void
	Success         bool            `json:"success"`
	Message         string          `json:"message,omitempty"`
	GatewayResponse json.RawMessage `json:"gateway_response,omitempty"`
	Extra           json.RawMessage `json:"extra,omitempty"`
	TrackingKey     string          `json:"tracking_key,omitempty"`
	Initiator       *Initiator      `json:"initiator,omitempty"`
	CreatedAt       time.Time       `json:"created_at"`
}

// OperationRequest is a validated Operations API request.
type OperationRequest struct {
	Operation string
	SessionID string
	OrderNo   string
	// AmountText is the amount as sent ("" when absent); it is parsed against the
	// transaction's currency once the transaction is known.
	AmountText string
	Extra      json.RawMessage
}

var operationAmount = regexp.MustCompile(`^\d{0,13}(?:\.\d{0,3})?$`)

// DecodeOperationRequest validates an Operations API body, naming every bad field.
func DecodeOperationRequest(body map[string]json.RawMessage) (*OperationRequest, error) {
	fe := FieldErrors{}
	r := &OperationRequest{}
	str := func(name string) string {
		raw, ok := body[name]
		if !ok || isNull(raw) {
			return ""
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			fe.Add(name, "Must be a string.")
		}
		return s
	}
	switch r.Operation = str("operation"); r.Operation {
	case OpRefund, OpCapture, OpVoid, OpCancel, OpExpire, OpDelete:
	case "":
		if _, bad := fe["operation"]; !bad {
			fe.Add("operation", "This field is required.")
		}
	default:
		fe.Add("operation", "%q is not a valid choice: use refund, capture, void, cancel, expire or delete.", r.Operation)
	}
	r.SessionID, r.OrderNo = str("session_id"), str("order_no")
	if len(r.SessionID) > 128 {
		fe.Add("session_id", "Ensure this field has no more than 128 characters.")
	}
	if len(r.OrderNo) > 128 {
		fe.Add("order_no", "Ensure this field has no more than 128 characters.")
	}
	if r.SessionID == "" && r.OrderNo == "" {
		if _, bad := fe["session_id"]; !bad {
			fe.Add("session_id", "Give session_id or order_no.")
		}
	}
	if raw, ok := body["amount"]; ok && !isNull(raw) {
		s, ok := amountText(raw)
		switch {
		case !ok || s == "" || !operationAmount.MatchString(s):
			fe.Add("amount", "Must be a positive decimal string with at most 3 decimals, such as \"10.000\".")
		case r.Operation != "" && r.Operation != OpRefund && r.Operation != OpCapture:
			// Ottu: for void (and cancel, expire, delete) "the amount field is not considered".
		default:
			r.AmountText = s
		}
	}
	if d := str("destination"); d != "" && d != "pg" {
		fe.Add("destination", "Only \"pg\" is supported: refunds go back through the gateway.")
	}
	if raw, ok := body["extra"]; ok && !isNull(raw) {
		if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '{' || !json.Valid(t) {
			fe.Add("extra", "Must be a JSON object.")
		} else {
			r.Extra = append(json.RawMessage(nil), t...)
		}
	}
	if err := fe.Err(); err != nil {
		return nil, err
	}
	return r, nil
}

// OperationPlan is what an allowed operation will do to a transaction.
type OperationPlan struct {
	Operation string
	Amount    Amount
	// From is the state the transaction must still be in when the change is stored.
	From State
}

// PlanOperation applies the state rules of SPEC §6 to a transaction: capture and void
// only from authorized; refund from paid (partial refunds until nothing remains, never
// more); cancel and expire from created, pending or attempted; delete from any state.
// amountText, when given, is parsed in the transaction's currency; refund and capture
// default to what remains. A refusal is an ECONFLICT (the state forbids it) or an
// EINVALID naming amount.
func PlanOperation(t *Transaction, op, amountText string) (*OperationPlan, error) {
	p := &OperationPlan{Operation: op, From: t.State}
	refuse := func() error {
		return Errorf(ECONFLICT, "Cannot %s a transaction in state %q.", op, t.State)
	}
	switch op {
	case OpCapture, OpVoid:
		if t.State != StateAuthorized {
			return nil, refuse()
		}
	case OpRefund:
		if t.State != StatePaid {
			return nil, refuse()
		}
	case OpCancel, OpExpire:
		if !t.State.Payable() {
			return nil, refuse()
		}
		return p, nil
	case OpDelete:
		return p, nil
	default:
		return nil, Errorf(EINVALID, "unknown operation %q", op)
	}
	var limit Amount
	switch op {
	case OpCapture, OpVoid:
		limit = t.Amount
	case OpRefund:
		limit = t.PaidAmount - t.RefundedAmount
		if limit <= 0 {
			return nil, Errorf(ECONFLICT, "Nothing remains to refund on this transaction.")
		}
	}
	p.Amount = limit
	if amountText != "" && op != OpVoid {
		a, err := ParseAmount(amountText, t.Currency)
		fe := FieldErrors{}
		switch {
		case err != nil:
			fe.Add("amount", "%s.", upperFirst(err.Error()))
		case a <= 0:
			fe.Add("amount", "Ensure this value is greater than 0.")
		case a > limit:
			fe.Add("amount", "At most %s %s can be %s.", limit.Format(t.Currency), t.Currency, map[string]string{OpRefund: "refunded", OpCapture: "captured"}[op])
		}
		if err := fe.Err(); err != nil {
			return nil, err
		}
		p.Amount = a
	}
	return p, nil
}

// SoftDelete reports whether deleting a transaction in this state keeps its record
// (marked deleted): money moved, so the record stays.
func (s State) SoftDelete() bool {
	return s == StatePaid || s == StateAuthorized || s == StateCOD || s == StateRefunded
}

// Package sandbox is payhook's sandbox gateway: no acquirer, the card number decides.
//
//	4111111111111111  success
//	4000000000000002  declined (result "failed")
//	4000000000000119  gateway error (result "error")
//	4000000000000077  success, answered after SlowAnswer: the approval is recorded at once,
//	                  the answer is slow (rehearses a crash or a closed browser between
//	                  the gateway's approval and payhook's record)
//
// Any other valid card number is declined ("Card not recognised by the sandbox").
//
// Refunds, captures and voids succeed, except that an amount whose decimals start with
// 99 (9.99 USD, 9.990 KWD; for currencies without decimals, an amount ending in 99) is
// declined, so that failure paths can be tried end to end.
//
// Like a real acquirer, the sandbox keeps a ledger of what it did, by reference, written
// before it answers (in payhook's database, as a separate record from payhook's own): a
// request with a reference it has seen answers the first outcome again and moves no
// money twice, and PaymentStatus/OperationStatus answer "what became of reference R"
// after a crash. The ledger is also how tests count the gateway's calls. A declined or
// errored payment is recorded like an approval; payhook gives each try of a checkout its
// own reference, so a customer's next card after a decline is a new payment, not a replay.
package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/payhook/payhook"
	"github.com/payhook/payhook/gateway"
)

// The test cards.
const (
	CardSuccess  = "4111111111111111"
	CardDeclined = "4000000000000002"
	CardError    = "4000000000000119"
	CardSlow     = "4000000000000077"
)

// SlowAnswer is how long the sandbox takes to answer CardSlow, after it approved.
const SlowAnswer = 2 * time.Second

// Ledger is where the sandbox records its calls (payhook.Store implements it).
type Ledger interface {
	RecordGatewayCall(ctx context.Context, c *payhook.GatewayCall) (*payhook.GatewayCall, error)
	GatewayCall(ctx context.Context, reference string) (*payhook.GatewayCall, error)
}

// Gateway is a sandbox gateway.
type Gateway struct {
	code      string
	operation string
	ledger    Ledger
}

// New returns a sandbox gateway with a code that purchases or authorizes, recording its
// calls in ledger.
func New(code, operation string, ledger Ledger) *Gateway {
	return &Gateway{code: code, operation: operation, ledger: ledger}
}

// Defaults returns the gateways that exist from the first start: credit-card (purchase)
// and credit-card-auth (authorize).
func Defaults(ledger Ledger) []gateway.Gateway {
	return []gateway.Gateway{New("credit-card", gateway.OperationPurchase, ledger), New("credit-card-auth", gateway.OperationAuthorize, ledger)}
}

// Code implements gateway.Gateway.
func (g *Gateway) Code() string { return g.code }

// Name implements gateway.Gateway.
func (g *Gateway) Name() string { return "sandbox" }

// Operation implements gateway.Gateway.
func (g *Gateway) Operation() string { return g.operation }

// Sandbox implements gateway.Gateway.
func (g *Gateway) Sandbox() bool { return true }

// Pay implements gateway.Gateway: the card number decides the outcome, recorded in the
// ledger under r.Reference before it is answered (a reference seen before answers its
// first outcome).
func (g *Gateway) Pay(ctx context.Context, r gateway.PaymentRequest) (gateway.PaymentResult, error) {
	out, err := g.decidePayment(r)
	if err != nil || r.Reference == "" {
		return out, err
	}
	rec, err := g.ledger.RecordGatewayCall(ctx, &payhook.GatewayCall{Reference: r.Reference, SessionID: r.SessionID,
		Kind: g.operation, Amount: r.Amount, Currency: r.Currency, Success: out.Result == payhook.ResultSuccess,
		Result: encodePayment(out), CreatedAt: time.Now().UTC()})
	if err != nil {
		// Not recorded: the sandbox did nothing.
		return gateway.PaymentResult{}, fmt.Errorf("sandbox ledger: %w (%w)", err, gateway.ErrNotSent)
	}
	if r.Card.Number == CardSlow {
		select {
		case <-time.After(SlowAnswer):
		case <-ctx.Done():
			return gateway.PaymentResult{}, fmt.Errorf("sandbox: %w", ctx.Err())
		}
	}
	return decodePayment(rec.Result)
}

// PaymentStatus implements gateway.Gateway from the ledger.
func (g *Gateway) PaymentStatus(ctx context.Context, reference string) (gateway.PaymentResult, bool, error) {
	rec, err := g.ledger.GatewayCall(ctx, reference)
	if payhook.ErrorCode(err) == payhook.ENOTFOUND {
		return gateway.PaymentResult{}, false, nil
	}
	if err != nil {
		return gateway.PaymentResult{}, false, err
	}
	out, err := decodePayment(rec.Result)
	return out, err == nil, err
}

type ledgerEntry struct {
	Result   payhook.Result  `json:"result,omitempty"`
	Success  bool            `json:"success,omitempty"`
	Message  string          `json:"message"`
	Response json.RawMessage `json:"response"`
}

func encodePayment(r gateway.PaymentResult) []byte {
	b, _ := json.Marshal(ledgerEntry{Result: r.Result, Message: r.Message, Response: r.Response})
	return b
}

func decodePayment(b []byte) (gateway.PaymentResult, error) {
	var e ledgerEntry
	if err := json.Unmarshal(b, &e); err != nil {
		return gateway.PaymentResult{}, fmt.Errorf("sandbox ledger: %w", err)
	}
	return gateway.PaymentResult{Result: e.Result, Message: e.Message, Response: e.Response}, nil
}

func (g *Gateway) decidePayment(r gateway.PaymentRequest) (gateway.PaymentResult, error) {
	resp := map[string]any{"gateway": "sandbox", "operation": g.operation, "session_id": r.SessionID,
		"amount": r.Amount.Format(r.Currency), "currency_code": r.Currency, "card_number": r.Card.Masked()}
	var out gateway.PaymentResult
	switch r.Card.Number {
	case CardSuccess, CardSlow:
		out.Result = payhook.ResultSuccess
		out.Message = "Approved"
		resp["result"], resp["response_code"] = "CAPTURED", "00"
		if g.operation == gateway.OperationAuthorize {
			out.Message, resp["result"] = "Authorized", "APPROVED"
		}
	case CardDeclined:
		out.Result, out.Message = payhook.ResultFailed, "Declined by the issuer (sandbox test card)"
		resp["result"], resp["response_code"] = "NOT CAPTURED", "05"
	case CardError:
		out.Result, out.Message = payhook.ResultError, "Gateway error (sandbox test card)"
		resp["result"], resp["response_code"] = "ERROR", "96"
	default:
		out.Result = payhook.ResultFailed
		// No card number in the message: it goes into payloads (the page lists the test cards).
		out.Message = "Card not recognised by the sandbox: use one of its test cards"
		resp["result"], resp["response_code"] = "NOT CAPTURED", "14"
	}
	resp["message"] = out.Message
	b, err := json.Marshal(resp)
	if err != nil {
		return out, err
	}
	out.Response = b
	return out, nil
}

// Declines reports whether the sandbox declines an operation of this amount.
func Declines(a payhook.Amount, currency string) bool {
	f := a.Format(currency)
	if i := strings.IndexByte(f, '.'); i >= 0 {
		return strings.HasPrefix(f[i+1:], "99")
	}
	return strings.HasSuffix(f, "99")
}

// Operate implements gateway.Gateway: refund, capture and void succeed unless Declines;
// the outcome is recorded in the ledger under r.ReferenceNumber before it is answered.
func (g *Gateway) Operate(ctx context.Context, op string, r gateway.OperationRequest) (gateway.OperationResult, error) {
	out, err := decideOperation(op, r)
	if err != nil || r.ReferenceNumber == "" {
		return out, err
	}
	b, _ := json.Marshal(ledgerEntry{Success: out.Success, Message: out.Message, Response: out.Response})
	rec, err := g.ledger.RecordGatewayCall(ctx, &payhook.GatewayCall{Reference: r.ReferenceNumber, SessionID: r.SessionID,
		Kind: op, Amount: r.Amount, Currency: r.Currency, Success: out.Success, Result: b, CreatedAt: time.Now().UTC()})
	if err != nil {
		return gateway.OperationResult{}, fmt.Errorf("sandbox ledger: %w (%w)", err, gateway.ErrNotSent)
	}
	return decodeOperation(rec.Result)
}

// OperationStatus implements gateway.Gateway from the ledger.
func (g *Gateway) OperationStatus(ctx context.Context, reference string) (gateway.OperationResult, bool, error) {
	rec, err := g.ledger.GatewayCall(ctx, reference)
	if payhook.ErrorCode(err) == payhook.ENOTFOUND {
		return gateway.OperationResult{}, false, nil
	}
	if err != nil {
		return gateway.OperationResult{}, false, err
	}
	out, err := decodeOperation(rec.Result)
	return out, err == nil, err
}

func decodeOperation(b []byte) (gateway.OperationResult, error) {
	var e ledgerEntry
	if err := json.Unmarshal(b, &e); err != nil {
		return gateway.OperationResult{}, fmt.Errorf("sandbox ledger: %w", err)
	}
	return gateway.OperationResult{Success: e.Success, Message: e.Message, Response: e.Response}, nil
}

func decideOperation(op string, r gateway.OperationRequest) (gateway.OperationResult, error) {
	out := gateway.OperationResult{Success: !Declines(r.Amount, r.Currency)}
	resp := map[string]any{"gateway": "sandbox", "operation": op, "session_id": r.SessionID,
		"reference_number": r.ReferenceNumber, "amount": r.Amount.Format(r.Currency), "currency_code": r.Currency}
	if out.Success {
		out.Message = "Approved"
		resp["result"], resp["response_code"] = "SUCCESS", "00"
	} else {
		out.Message = "Declined by the sandbox: amounts whose decimals start with 99 are declined"
		resp["result"], resp["response_code"] = "DECLINED", "05"
	}
	resp["message"] = out.Message
	b, err := json.Marshal(resp)
	out.Response = b
	return out, err
}

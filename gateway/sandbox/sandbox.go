// Package sandbox is payhook's sandbox gateway: no acquirer, the card number decides.
//
//	4111111111111111  success
//	4000000000000002  declined (result "failed")
//	4000000000000119  gateway error (result "error")
//
// Any other valid card number is declined ("Card not recognised by the sandbox").
//
// Refunds, captures and voids succeed, except that an amount whose decimals start with
// 99 (9.99 USD, 9.990 KWD; for currencies without decimals, an amount ending in 99) is
// declined, so that failure paths can be tried end to end.
package sandbox

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/payhook/payhook"
	"github.com/payhook/payhook/gateway"
)

// The test cards.
const (
	CardSuccess  = "4111111111111111"
	CardDeclined = "4000000000000002"
	CardError    = "4000000000000119"
)

// Gateway is a sandbox gateway.
type Gateway struct {
	code      string
	operation string
}

// New returns a sandbox gateway with a code that purchases or authorizes.
func New(code, operation string) *Gateway { return &Gateway{code: code, operation: operation} }

// Defaults returns the gateways that exist from the first start: credit-card (purchase)
// and credit-card-auth (authorize).
func Defaults() []gateway.Gateway {
	return []gateway.Gateway{New("credit-card", gateway.OperationPurchase), New("credit-card-auth", gateway.OperationAuthorize)}
}

// Code implements gateway.Gateway.
func (g *Gateway) Code() string { return g.code }

// Name implements gateway.Gateway.
func (g *Gateway) Name() string { return "sandbox" }

// Operation implements gateway.Gateway.
func (g *Gateway) Operation() string { return g.operation }

// Sandbox implements gateway.Gateway.
func (g *Gateway) Sandbox() bool { return true }

// Pay implements gateway.Gateway: the card number decides the outcome.
func (g *Gateway) Pay(ctx context.Context, r gateway.PaymentRequest) (gateway.PaymentResult, error) {
	resp := map[string]any{"gateway": "sandbox", "operation": g.operation, "session_id": r.SessionID,
		"amount": r.Amount.Format(r.Currency), "currency_code": r.Currency, "card_number": r.Card.Masked()}
	var out gateway.PaymentResult
	switch r.Card.Number {
	case CardSuccess:
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

// Operate implements gateway.Gateway: refund, capture and void succeed unless Declines.
func (g *Gateway) Operate(ctx context.Context, op string, r gateway.OperationRequest) (gateway.OperationResult, error) {
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

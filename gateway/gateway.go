// Package gateway defines how payhook talks to payment gateways, so that a real acquirer
// can be added beside the sandbox without touching the webhook code.
package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/payhook/payhook"
)

// Operations a gateway performs for a payment.
const (
	OperationPurchase  = "purchase"
	OperationAuthorize = "authorize"
)

// Card is the card a customer entered. It lives only for the length of one payment
// request: payhook never stores, logs or sends Number or CVV.
type Card struct {
	Number string
	Expiry string // MM/YY
	CVV    string
	Holder string
}

// Masked returns the card number masked the way payloads carry it: 411111******1111.
func (c Card) Masked() string {
	n := c.Number
	if len(n) < 10 {
		return strings.Repeat("*", len(n))
	}
	return n[:6] + strings.Repeat("*", len(n)-10) + n[len(n)-4:]
}

// Validate checks the card fields, naming each bad one; now decides whether it expired.
func (c Card) Validate(now time.Time) error {
	fe := payhook.FieldErrors{}
	n := c.Number
	switch {
	case n == "":
		fe.Add("card_number", "Enter the card number.")
	case len(n) < 12 || len(n) > 19 || !digits(n):
		fe.Add("card_number", "A card number is 12 to 19 digits.")
	case !luhn(n):
		fe.Add("card_number", "This card number is not valid (check digit).")
	}
	if mm, yy, ok := strings.Cut(c.Expiry, "/"); !ok || len(mm) != 2 || len(yy) != 2 || !digits(mm) || !digits(yy) {
		fe.Add("card_expiry", "Enter the expiry as MM/YY.")
	} else {
		m, _ := strconv.Atoi(mm)
		y, _ := strconv.Atoi(yy)
		if m < 1 || m > 12 {
			fe.Add("card_expiry", "The month must be 01 to 12.")
		} else if end := time.Date(2000+y, time.Month(m)+1, 1, 0, 0, 0, 0, time.UTC); !now.Before(end) {
			fe.Add("card_expiry", "This card has expired.")
		}
	}
	if len(c.CVV) < 3 || len(c.CVV) > 4 || !digits(c.CVV) {
		fe.Add("card_cvv", "The CVV is the 3 or 4 digits on the card.")
	}
	if len(c.Holder) > 64 {
		fe.Add("card_holder", "At most 64 characters.")
	}
	return fe.Err()
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func luhn(n string) bool {
	sum := 0
	for i := len(n) - 1; i >= 0; i-- {
		d := int(n[i] - '0')
		if (len(n)-i)%2 == 0 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return sum%10 == 0
}

// PaymentRequest asks a gateway to pay (or authorize) an amount with a card.
type PaymentRequest struct {
	// Reference identifies this payment try at the gateway (payhook's claim id, recorded
	// before the call): a gateway answers a second request with the same reference with
	// the first one's outcome, never charging twice, and PaymentStatus finds it by it.
	Reference string
	SessionID string
	Amount    payhook.Amount
	Currency  string
	Card      Card
}

// PaymentResult is the gateway's answer.
type PaymentResult struct {
	Result   payhook.Result // success, failed or error
	Message  string
	Response json.RawMessage // the gateway's raw answer, a JSON object
}

// ErrNotSent, wrapped in an error of Pay or Operate, says the request never reached the
// gateway: nothing moved, and the customer or client may simply try again. Any other
// error leaves the outcome unknown (the answer may have been lost after the gateway
// acted): payhook then keeps its claim and asks PaymentStatus or OperationStatus.
var ErrNotSent = errors.New("the request did not reach the gateway")

// Gateway is a payment gateway that payhook can send a customer's card to.
type Gateway interface {
	// Code is the gateway code merchants put in pg_codes, e.g. "credit-card".
	Code() string
	// Name is the gateway_name of payloads.
	Name() string
	// Operation is OperationPurchase or OperationAuthorize.
	Operation() string
	// Sandbox reports whether no real money moves (is_sandbox in payloads).
	Sandbox() bool
	// Pay charges or authorizes the card. A declined card is a PaymentResult, not an
	// error; an error wrapping ErrNotSent means nothing moved, any other that the outcome
	// is unknown.
	Pay(ctx context.Context, r PaymentRequest) (PaymentResult, error)
	// PaymentStatus answers what became of the payment with that reference: found is
	// false when the gateway never got it. payhook asks after a crash cut a payment off
	// between the gateway's answer and its record.
	PaymentStatus(ctx context.Context, reference string) (r PaymentResult, found bool, err error)
	// Operate refunds, captures or voids (op) an amount of a payment it made. The
	// request's ReferenceNumber identifies it: the same reference again answers the first
	// outcome and moves no money twice. Errors as Pay's.
	Operate(ctx context.Context, op string, r OperationRequest) (OperationResult, error)
	// OperationStatus answers what became of the operation with that reference number;
	// found is false when the gateway never got it.
	OperationStatus(ctx context.Context, reference string) (r OperationResult, found bool, err error)
}

// OperationRequest asks a gateway to refund, capture or void part of a payment.
type OperationRequest struct {
	SessionID       string // the parent transaction
	ReferenceNumber string // the operation's own
	Amount          payhook.Amount
	Currency        string
}

// OperationResult is the gateway's answer to an operation: declined is Success false
// with a message, not an error.
type OperationResult struct {
	Success  bool
	Message  string
	Response json.RawMessage // the gateway's raw answer, a JSON object
}

// Registry holds the gateways by code.
type Registry struct{ byCode map[string]Gateway }

// NewRegistry returns a registry of the given gateways.
func NewRegistry(gs ...Gateway) *Registry {
	r := &Registry{byCode: map[string]Gateway{}}
	for _, g := range gs {
		r.byCode[g.Code()] = g
	}
	return r
}

// Get returns the gateway with that code.
func (r *Registry) Get(code string) (Gateway, error) {
	g, ok := r.byCode[code]
	if !ok {
		return nil, payhook.Errorf(payhook.ENOTFOUND, "no gateway with code %q", code)
	}
	return g, nil
}

// Codes returns every gateway code, sorted.
func (r *Registry) Codes() []string {
	out := make([]string, 0, len(r.byCode))
	for c := range r.byCode {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// AuthorizeOnly reports whether the gateway with that code only authorizes.
func (r *Registry) AuthorizeOnly(code string) bool {
	g, ok := r.byCode[code]
	return ok && g.Operation() == OperationAuthorize
}

// String names the gateways, for logs.
func (r *Registry) String() string { return fmt.Sprint(r.Codes()) }

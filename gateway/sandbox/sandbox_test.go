package sandbox_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook"
	"github.com/payhook/payhook/gateway"
	"github.com/payhook/payhook/gateway/sandbox"
	"github.com/payhook/payhook/sqlite"
)

// ledger is a real SQLite store in a temporary directory, the sandbox's ledger.
func ledger(t *testing.T) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), t.TempDir()+"/payhook.db")
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	return st
}

func TestPay_SameReferenceAnswersTheFirstOutcomeAndIsFoundAfterwards(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := ledger(t)
	g := sandbox.New("credit-card", gateway.OperationPurchase, l)
	_, found, err := g.PaymentStatus(ctx, "ref-1")
	require.NoError(t, err)
	require.False(t, found, "a reference the gateway never got is not found")
	first, err := g.Pay(ctx, gateway.PaymentRequest{Reference: "ref-1", SessionID: "s", Amount: 86000, Currency: "KWD", Card: gateway.Card{Number: sandbox.CardSuccess}})
	require.NoError(t, err)
	require.Equal(t, payhook.ResultSuccess, first.Result)
	// The same reference with another card: the first outcome stands, nothing moves again.
	again, err := g.Pay(ctx, gateway.PaymentRequest{Reference: "ref-1", SessionID: "s", Amount: 86000, Currency: "KWD", Card: gateway.Card{Number: sandbox.CardDeclined}})
	require.NoError(t, err)
	require.Equal(t, payhook.ResultSuccess, again.Result)
	got, found, err := g.PaymentStatus(ctx, "ref-1")
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, first.Result, got.Result)
	require.JSONEq(t, string(first.Response), string(got.Response))

	op := gateway.OperationRequest{SessionID: "s", ReferenceNumber: "op-1", Amount: 1000, Currency: "KWD"}
	r1, err := g.Operate(ctx, payhook.OpRefund, op)
	require.NoError(t, err)
	require.True(t, r1.Success)
	op.Amount = 9990 // would be declined, but the reference was seen: the first outcome stands
	r2, err := g.Operate(ctx, payhook.OpRefund, op)
	require.NoError(t, err)
	require.True(t, r2.Success)
	st, found, err := g.OperationStatus(ctx, "op-1")
	require.NoError(t, err)
	require.True(t, found)
	require.True(t, st.Success)
	call, err := l.GatewayCall(ctx, "op-1")
	require.NoError(t, err)
	require.Equal(t, payhook.Amount(1000), call.Amount, "one call recorded, the first")
}

func TestPay_TheCardNumberDecides(t *testing.T) {
	t.Parallel()
	g := sandbox.New("credit-card", gateway.OperationPurchase, ledger(t))
	for card, want := range map[string]payhook.Result{
		sandbox.CardSuccess:  payhook.ResultSuccess,
		sandbox.CardDeclined: payhook.ResultFailed,
		sandbox.CardError:    payhook.ResultError,
		"5555555555554444":   payhook.ResultFailed, // valid, but not a test card
	} {
		res, err := g.Pay(context.Background(), gateway.PaymentRequest{SessionID: "s", Amount: 86000, Currency: "KWD", Card: gateway.Card{Number: card}})
		require.NoError(t, err)
		require.Equal(t, want, res.Result, card)
		require.NotContains(t, string(res.Response), card, "the gateway's answer never carries the full card number")
		var m map[string]any
		require.NoError(t, json.Unmarshal(res.Response, &m), "the raw answer is a JSON object")
	}
}

func TestDeclines_AmountsWhoseDecimalsStartWith99(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		amount string
		ccy    string
		want   bool
	}{
		{"9.99", "USD", true}, {"9.990", "KWD", true}, {"9.995", "KWD", true}, {"199", "JPY", true},
		{"9.98", "USD", false}, {"99.00", "USD", false}, {"9.099", "KWD", false}, {"100", "JPY", false},
	} {
		a, err := payhook.ParseAmount(tt.amount, tt.ccy)
		require.NoError(t, err)
		require.Equal(t, tt.want, sandbox.Declines(a, tt.ccy), tt.amount)
		res, err := sandbox.New("credit-card", gateway.OperationPurchase, ledger(t)).Operate(context.Background(), payhook.OpRefund,
			gateway.OperationRequest{SessionID: "s", ReferenceNumber: "r", Amount: a, Currency: tt.ccy})
		require.NoError(t, err)
		require.Equal(t, !tt.want, res.Success, tt.amount)
	}
}

func TestCard_ValidateNamesEachBadField(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	require.NoError(t, gateway.Card{Number: sandbox.CardSuccess, Expiry: "11/26", CVV: "123"}.Validate(now))
	err := gateway.Card{Number: "4111111111111112", Expiry: "10/26", CVV: "12", Holder: strings.Repeat("x", 65)}.Validate(now)
	var e *payhook.Error
	require.ErrorAs(t, err, &e)
	for _, f := range []string{"card_number", "card_expiry", "card_cvv", "card_holder"} {
		require.Contains(t, e.Fields, f)
	}
	require.Equal(t, "411111******1111", gateway.Card{Number: sandbox.CardSuccess}.Masked())
}

// A declined try and the next try of the same session under a new reference: the new
// one gets its own outcome (the ledger is idempotent by reference, not by session), and
// each reference keeps its own record.
func TestPay_NewReferenceAfterADeclineGetsItsOwnOutcome(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	g := sandbox.New("credit-card", gateway.OperationPurchase, ledger(t))
	req := gateway.PaymentRequest{Reference: "try-1", SessionID: "s", Amount: 86000, Currency: "KWD", Card: gateway.Card{Number: sandbox.CardDeclined}}
	first, err := g.Pay(ctx, req)
	require.NoError(t, err)
	require.Equal(t, payhook.ResultFailed, first.Result)
	req.Reference, req.Card.Number = "try-2", sandbox.CardSuccess
	second, err := g.Pay(ctx, req)
	require.NoError(t, err)
	require.Equal(t, payhook.ResultSuccess, second.Result)
	for ref, want := range map[string]payhook.Result{"try-1": payhook.ResultFailed, "try-2": payhook.ResultSuccess} {
		got, found, err := g.PaymentStatus(ctx, ref)
		require.NoError(t, err)
		require.True(t, found)
		require.Equal(t, want, got.Result, ref)
	}
}
